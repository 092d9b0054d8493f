"""cases.quality: the mechanism rules (domain.md's "typical lab pattern" table), the agreement between the
curator's mechanism and the labs, and CARE completeness; then all three on the shipped source cases."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.management import call_command

from cases.models import Case
from cases.quality import (
    CARE_ITEMS,
    CaseFacts,
    LabFlag,
    Suggestion,
    care_completeness,
    mechanism_agreement,
    suggest_mechanisms,
)
from tests.api.documents import client_for

HYPER, HYPO, CALC = "hypercalcemia", "hypocalcemia", "soft_tissue_calcification"


def labs(**flags: str | tuple[str, ...]) -> list[LabFlag]:
    """labs(pthrp="high", pth_intact=("low", "normal")) -> one LabFlag per result."""
    out = []
    for analyte, flag in flags.items():
        for f in flag if isinstance(flag, tuple) else (flag,):
            out.append(LabFlag(analyte, f))
    return out


def codes(disorder: str, lab_flags: list[LabFlag], bone: bool | None = None) -> list[str]:
    return [s.code for s in suggest_mechanisms(disorder, lab_flags, bone)]


# --- hypercalcemia -------------------------------------------------------------------------------------------


def test_humoral_pthrp_needs_pthrp_high_and_pth_measured_and_not_high():
    assert suggest_mechanisms(HYPER, labs(pthrp="high", pth_intact="low"), None) == [
        Suggestion("humoral_pthrp", "PTHrP high with intact PTH not raised")
    ]
    # "Not raised" includes a PTH inside its range.
    assert codes(HYPER, labs(pthrp="high", pth_intact="normal")) == ["humoral_pthrp"]
    # Near misses: PTH high as well (then the PTH rules speak instead), PTH not measured, PTHrP only normal.
    assert codes(HYPER, labs(pthrp="high", pth_intact="high")) == ["ectopic_pth", "coexisting_hyperparathyroidism"]
    assert codes(HYPER, labs(pthrp="high")) == []
    assert codes(HYPER, labs(pthrp="normal", pth_intact="low")) == []


def test_any_high_result_makes_a_lab_high():
    # Two PTH results, one of them high: PTH "is high", so PTHrP-high is no longer humoral.
    assert "humoral_pthrp" not in codes(HYPER, labs(pthrp="high", pth_intact=("low", "high")))
    # Two PTHrP results, one high: PTHrP "is high".
    assert codes(HYPER, labs(pthrp=("normal", "high"), pth_intact="low")) == ["humoral_pthrp"]


def test_a_result_without_a_flag_counts_as_not_measured():
    # A PTH with no interpretation (flag None) does not make PTH "measured and not high".
    assert codes(HYPER, [LabFlag("pthrp", "high"), LabFlag("pth_intact", None)]) == []


def test_calcitriol_mediated_needs_125_d_high_and_pth_not_high():
    assert suggest_mechanisms(HYPER, labs(vitamin_d_125oh2="high", pth_intact="low"), None) == [
        Suggestion("calcitriol_mediated", "1,25-(OH)2 vitamin D high with PTH not raised")
    ]
    # Near misses: PTH high; 25-hydroxyvitamin D (not 1,25) high; 1,25-D normal; PTH not measured.
    assert "calcitriol_mediated" not in codes(HYPER, labs(vitamin_d_125oh2="high", pth_intact="high"))
    assert codes(HYPER, labs(vitamin_d_25oh="high", pth_intact="low")) == []
    assert codes(HYPER, labs(vitamin_d_125oh2="normal", pth_intact="low")) == []
    assert codes(HYPER, labs(vitamin_d_125oh2="high")) == []


def test_pth_high_suggests_ectopic_pth_and_coexisting_hyperparathyroidism():
    assert suggest_mechanisms(HYPER, labs(pth_intact="high"), None) == [
        Suggestion("ectopic_pth", "PTH high: ectopic PTH if there is no parathyroid disease"),
        Suggestion("coexisting_hyperparathyroidism", "PTH high: parathyroid adenoma if imaging shows one"),
    ]
    # Near misses: PTH normal or low says nothing by itself.
    assert codes(HYPER, labs(pth_intact="normal")) == []
    assert codes(HYPER, labs(pth_intact="low")) == []


def test_local_osteolytic_needs_bone_metastases_pth_not_high_and_pthrp_not_high():
    assert suggest_mechanisms(HYPER, labs(pth_intact="low", pthrp="normal"), True) == [
        Suggestion("local_osteolytic", "bone metastases with PTH and PTHrP measured and not raised")
    ]
    assert codes(HYPER, labs(pth_intact="normal", pthrp="low"), True) == ["local_osteolytic"]
    # domain.md's pattern is "PTHrP normal": PTHrP not measured is not evidence, so nothing is suggested.
    assert codes(HYPER, labs(pth_intact="low"), True) == []
    # Near misses: bone metastases explicitly absent or not recorded; PTH high; PTH not measured; PTHrP high
    # (that is humoral instead); PTHrP indeterminate (not known to be normal).
    assert codes(HYPER, labs(pth_intact="low", pthrp="normal"), False) == []
    assert codes(HYPER, labs(pth_intact="low", pthrp="normal"), None) == []
    assert "local_osteolytic" not in codes(HYPER, labs(pth_intact="high", pthrp="normal"), True)
    assert codes(HYPER, labs(pthrp="normal"), True) == []
    assert codes(HYPER, labs(pth_intact="low", pthrp="high"), True) == ["humoral_pthrp"]
    assert codes(HYPER, labs(pth_intact="low", pthrp="indeterminate"), True) == []


def test_hypercalcemia_suggestions_come_most_specific_first():
    everything = labs(pthrp="high", vitamin_d_125oh2="high", pth_intact="low")
    assert codes(HYPER, everything, True) == ["humoral_pthrp", "calcitriol_mediated"]


# --- hypocalcemia --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "flag", "code", "rule"),
    [
        ("phosphate", "high", "tumor_lysis", "phosphate high"),
        ("magnesium", "low", "hypomagnesemia", "magnesium low"),
        ("vitamin_d_25oh", "low", "vitamin_d_deficiency", "25-hydroxyvitamin D low"),
        ("pth_intact", "low", "hypoparathyroidism", "PTH low with low calcium"),
    ],
)
def test_each_hypocalcemia_rule_fires_on_its_lab(analyte, flag, code, rule):
    assert suggest_mechanisms(HYPO, [LabFlag(analyte, flag)], None) == [Suggestion(code, rule)]


@pytest.mark.parametrize(
    ("analyte", "flag"),
    [
        ("phosphate", "normal"),  # tumor lysis needs phosphate high
        ("phosphate", "low"),
        ("magnesium", "normal"),  # hypomagnesemia needs magnesium low
        ("magnesium", "high"),
        ("vitamin_d_25oh", "normal"),  # vitamin D deficiency needs 25-OH D low ...
        ("vitamin_d_125oh2", "low"),  # ... not 1,25-(OH)2 D
        ("pth_intact", "normal"),  # hypoparathyroidism needs PTH low
        ("pth_intact", "high"),  # (and the PTH-high rules belong to hypercalcemia)
        ("pthrp", "high"),
    ],
)
def test_hypocalcemia_near_misses_suggest_nothing(analyte, flag):
    assert suggest_mechanisms(HYPO, [LabFlag(analyte, flag)], None) == []


def test_hungry_bone_only_with_bone_metastases_and_no_other_cause():
    assert suggest_mechanisms(HYPO, labs(magnesium="normal"), True) == [
        Suggestion("osteoblastic_hungry_bone", "bone metastases, no other cause in the labs")
    ]
    # Near misses: another cause in the labs; bone metastases absent or not recorded.
    assert codes(HYPO, labs(phosphate="high"), True) == ["tumor_lysis"]
    assert codes(HYPO, labs(magnesium="normal"), False) == []
    assert codes(HYPO, labs(magnesium="normal"), None) == []


def test_several_hypocalcemia_causes_in_rule_order():
    everything = labs(pth_intact="low", vitamin_d_25oh="low", magnesium="low", phosphate="high")
    assert codes(HYPO, everything, True) == [
        "tumor_lysis",
        "hypomagnesemia",
        "vitamin_d_deficiency",
        "hypoparathyroidism",
    ]


# --- soft-tissue calcification -------------------------------------------------------------------------------


@pytest.mark.parametrize("calcium", ["calcium_total", "calcium_corrected", "calcium_ionized"])
def test_dystrophic_when_calcium_is_normal_whichever_calcium(calcium):
    assert suggest_mechanisms(CALC, [LabFlag(calcium, "normal")], None) == [
        Suggestion("dystrophic_calcification", "calcium (and phosphate) normal")
    ]
    assert codes(CALC, [LabFlag(calcium, "normal"), LabFlag("phosphate", "normal")]) == ["dystrophic_calcification"]


@pytest.mark.parametrize(
    "flags",
    [
        {"calcium_total": "high"},
        {"calcium_corrected": "low"},
        {"calcium_ionized": "high"},
        {"calcium_total": "normal", "phosphate": "high"},
        {"calcium_total": ("normal", "high")},  # one high result among normal ones
        {"phosphate": "high"},  # phosphate abnormal with no calcium measured
    ],
)
def test_metastatic_when_calcium_or_phosphate_is_abnormal(flags):
    assert suggest_mechanisms(CALC, labs(**flags), None) == [
        Suggestion("metastatic_calcification", "calcium or phosphate abnormal")
    ]


def test_calcification_near_misses_suggest_nothing():
    # Dystrophic needs a calcium value: phosphate normal alone, or nothing measured, says nothing.
    assert codes(CALC, labs(phosphate="normal")) == []
    assert codes(CALC, []) == []
    # Other labs do not count towards either rule.
    assert codes(CALC, labs(pth_intact="high", albumin="low")) == []


def test_a_disorder_without_rules_gets_no_suggestion():
    assert codes("", labs(pthrp="high", pth_intact="low"), True) == []


# --- agreement -----------------------------------------------------------------------------------------------


def test_mechanism_agreement_has_four_outcomes():
    humoral = [Suggestion("humoral_pthrp", "r")]
    pth = [Suggestion("ectopic_pth", "r"), Suggestion("coexisting_hyperparathyroidism", "r")]
    # agree: one recorded mechanism is among the suggestions (not necessarily the first of either list)
    assert mechanism_agreement(["humoral_pthrp"], humoral) == "agree"
    assert mechanism_agreement(["local_osteolytic", "coexisting_hyperparathyroidism"], pth) == "agree"
    # disagree: the labs suggest only others
    assert mechanism_agreement(["humoral_pthrp"], pth) == "disagree"
    # no_suggestion: no rule applies, whether or not the curator recorded a mechanism
    assert mechanism_agreement(["humoral_pthrp"], []) == "no_suggestion"
    assert mechanism_agreement([], []) == "no_suggestion"
    # no_mechanism: rules apply but the curator recorded none
    assert mechanism_agreement([], humoral) == "no_mechanism"
    assert mechanism_agreement(iter(()), humoral) == "no_mechanism"  # any iterable


# --- CARE completeness ---------------------------------------------------------------------------------------

FULL = CaseFacts(
    age_years=67,
    sex="female",
    index_event="presentation with lethargy",
    findings_present=1,
    dated_items=2,
    labs=1,
    administered_interventions=1,
    vital_status="alive",
    follow_up_days=None,
    follow_up_text="",
    calcium_outcome="not_reported",
)
NO_FOLLOW_UP = {
    "vital_status": "not_reported",
    "follow_up_days": None,
    "follow_up_text": "",
    "calcium_outcome": "not_reported",
}


def test_a_complete_record_holds_all_six_items():
    result = care_completeness(FULL)
    assert (result.score, result.present, result.missing, result.fraction) == (6, tuple(CARE_ITEMS), (), 1.0)


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"age_years": None}, "patient_information"),
        ({"sex": "unknown"}, "patient_information"),
        ({"sex": ""}, "patient_information"),
        ({"findings_present": 0}, "clinical_findings"),
        ({"index_event": ""}, "timeline"),
        ({"index_event": "   "}, "timeline"),  # blank is no index event
        ({"dated_items": 1}, "timeline"),  # needs at least two dated items
        ({"labs": 0}, "diagnostic_assessment"),
        ({"administered_interventions": 0}, "therapeutic_intervention"),
        (NO_FOLLOW_UP, "follow_up_and_outcomes"),
        ({**NO_FOLLOW_UP, "follow_up_text": "  "}, "follow_up_and_outcomes"),
    ],
)
def test_each_care_item_can_be_missing(changes, missing):
    result = care_completeness(dataclasses.replace(FULL, **changes))
    assert result.missing == (missing,)
    assert result.present == tuple(item for item in CARE_ITEMS if item != missing)
    assert (result.score, result.fraction) == (5, 5 / 6)


@pytest.mark.parametrize(
    "changes",
    [
        {"age_years": 0},  # a newborn has an age
        {"dated_items": 2},
        {"findings_present": 3},
    ],
)
def test_the_edges_of_present_items(changes):
    assert care_completeness(dataclasses.replace(FULL, **changes)).score == 6


@pytest.mark.parametrize(
    "one_outcome",
    [
        {"vital_status": "dead"},
        {"follow_up_days": 0},  # zero days of follow-up is still a reported follow-up
        {"follow_up_text": "alive at 2 years"},
        {"calcium_outcome": "normalised"},
        {"calcium_outcome": "not_applicable"},
    ],
)
def test_any_one_outcome_is_enough_for_follow_up(one_outcome):
    result = care_completeness(dataclasses.replace(FULL, **{**NO_FOLLOW_UP, **one_outcome}))
    assert "follow_up_and_outcomes" in result.present and result.score == 6


def test_an_empty_record_holds_nothing():
    empty = CaseFacts(None, "unknown", "", 0, 0, 0, 0, "not_reported", None, "", "not_reported")
    result = care_completeness(empty)
    assert (result.score, result.present, result.missing, result.fraction) == (0, (), tuple(CARE_ITEMS), 0.0)


# --- the three source cases ----------------------------------------------------------------------------------


@pytest.fixture
def source_cases(db):
    call_command("loaddata", "agents", "source_cases", verbosity=0)  # stores the derived measures too
    return {case.pk: case for case in Case.objects.with_children()}


def test_seed_000_suggests_humoral_pthrp_and_agrees_with_the_curator(source_cases):
    # fixtures/source_cases.json, case 1 (hypercalcemia): PTHrP reported "elevated" (qualitative high); intact PTH
    # 15.1 pg/mL, inside 7.5-53.5 but called "low" by the source, and the source's word is kept -> flag low, so PTH
    # is measured and not high -> humoral_pthrp. Bone metastasis is recorded absent (present false) -> not
    # osteolytic. Mechanisms: humoral_pthrp (confirmed), local_osteolytic (excluded, left out) -> agree.
    case = source_cases[1]
    assert {(f.analyte, f.flag) for f in case.lab_flags()} >= {("pthrp", "high"), ("pth_intact", "low")}
    assert case.mechanism_suggestions() == [Suggestion("humoral_pthrp", "PTHrP high with intact PTH not raised")]
    assert (case.main_mechanism, case.suggested_mechanism, case.mechanism_agreement) == (
        "humoral_pthrp",
        "humoral_pthrp",
        "agree",
    )


def test_seed_001_suggests_dystrophic_calcification_and_agrees(source_cases):
    # Case 2 (soft-tissue calcification): "Calcium and phosphate levels were normal", both qualitative only ->
    # calcium {normal}, phosphate {normal}, nothing abnormal -> dystrophic_calcification. Recorded:
    # dystrophic_calcification (rank 1, confirmed) and drug_related (probable) -> agree.
    case = source_cases[2]
    assert case.mechanism_suggestions() == [Suggestion("dystrophic_calcification", "calcium (and phosphate) normal")]
    assert (case.main_mechanism, case.suggested_mechanism, case.mechanism_agreement) == (
        "dystrophic_calcification",
        "dystrophic_calcification",
        "agree",
    )


def test_seed_002_has_no_suggestion_without_pth_or_pthrp(source_cases):
    # Case 3 (hypercalcemia, vignette): calcium 11 mg/dL, high against the default ULN 10.5; bone metastases
    # present (cervical spine) but neither PTH nor PTHrP measured: every hypercalcemia rule needs PTH measured
    # (humoral, calcitriol, osteolytic: "PTH not raised") or high (ectopic, coexisting) -> no suggestion, although
    # the curator recorded local_osteolytic (possible).
    case = source_cases[3]
    assert case.mechanism_suggestions() == []
    assert (case.main_mechanism, case.suggested_mechanism, case.mechanism_agreement) == (
        "local_osteolytic",
        "",
        "no_suggestion",
    )


def test_completeness_of_the_source_cases(source_cases):
    # Case 1: 67, female -> patient information. Findings present: 6 of 7 -> clinical findings. Timeline: index event
    #   given; dated rows: findings 2, 3, 4 (day 0), lab 1 (day 0), interventions 6 (day -240), 8, 9 (day 0) = 7 >= 2.
    #   Labs: 6. Administered interventions: 13. Follow-up: follow_up_text "CT 21 months after ..." (and calcium
    #   outcome normalised). -> 6 of 6.
    # Case 2: 61, female; findings present 5 of 6; index event given, dated: tumor (-5110), metastasis 4 (-2555),
    #   findings 8, 9 (day 0), interventions 14 (-5110), 18, 19 (-2555) = 7; labs 2; administered 8; vital status
    #   alive. -> 6 of 6.
    # Case 3: 57, female; findings present 6; index event given, dated: metastasis 7, findings 14-19, lab 9 = 8;
    #   labs 1; but nothing administered (interventions are recommended or advised against) -> no therapeutic
    #   intervention; vital status not reported, no follow-up days or text, calcium outcome not reported -> no
    #   follow-up. -> 4 of 6.
    expected = {
        1: (6, ()),
        2: (6, ()),
        3: (4, ("therapeutic_intervention", "follow_up_and_outcomes")),
    }
    assert {pk: (c.completeness().score, c.completeness().missing) for pk, c in source_cases.items()} == expected
    assert {pk: c.completeness_score for pk, c in source_cases.items()} == {1: 6, 2: 6, 3: 4}


def test_the_case_document_reports_the_same_checks(source_cases, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    analyst = client_for("analyst")
    derived = {pk: analyst.get(f"/api/v1/cases/{pk}/").json()["derived"] for pk in (1, 2, 3)}
    assert derived[1]["mechanism_check"] == {
        "recorded": ["humoral_pthrp"],  # local_osteolytic is excluded, so left out
        "suggested": [{"code": "humoral_pthrp", "rule": "PTHrP high with intact PTH not raised"}],
        "agreement": "agree",
    }
    assert derived[2]["mechanism_check"] == {
        "recorded": ["dystrophic_calcification", "drug_related"],
        "suggested": [{"code": "dystrophic_calcification", "rule": "calcium (and phosphate) normal"}],
        "agreement": "agree",
    }
    assert derived[3]["mechanism_check"] == {
        "recorded": ["local_osteolytic"],
        "suggested": [],
        "agreement": "no_suggestion",
    }
    assert derived[3]["completeness"] == {
        "score": 4,
        "of": 6,
        "present": ["patient_information", "clinical_findings", "timeline", "diagnostic_assessment"],
        "missing": ["therapeutic_intervention", "follow_up_and_outcomes"],
    }
    assert [derived[pk]["completeness"]["score"] for pk in (1, 2)] == [6, 6]


def test_an_indeterminate_calcium_is_neither_normal_nor_abnormal_for_calcification():
    calcification = "soft_tissue_calcification"
    assert codes(calcification, labs(calcium_total="indeterminate"), None) == []
    assert codes(calcification, labs(calcium_total="indeterminate", phosphate="high"), None) == [
        "metastatic_calcification"
    ]
    assert codes(calcification, labs(calcium_total="normal", phosphate="indeterminate"), None) == []
