"""The case list's filters, checked against a small cohort entered through the API (so that the derived
measures are computed as in production): for every filter, exactly which cases come back."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from api.filters import CaseFilter
from cases.models import Agent, Case
from tests.api.documents import client_for, make_document
from tests.factories import make_case, make_source

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"

# Six cases, A to F. Derived measures worked out by hand from cases/measures.py's rules
# (1 mg/dL = 0.2495 mmol/L; CTCAE v5.0 hypercalcemia grade 2 > 11.5, grade 3 > 12.5, grade 4 > 13.5 mg/dL,
# grade 1 above the ULN, which is the reported reference high or else the default 10.5 mg/dL):
#
#     peak mg/dL (stored, 0.01)        grade  normalised (first administered calcium-directed -> next result)
#  A  14.0                   = 14.00     4    True  (9.5 within 8.9-10.1, day 5 - day 0 = 5 days)
#  B  3.0 mmol/L / 0.2495    = 12.02     2    False (2.8 mmol/L = 11.22 mg/dL, above 2.6 mmol/L)
#  C  max(6.5, 7.8)          =  7.80     0    False (7.8 below the reference low 8.5); 7.8 <= ULN 10.5
#  D  no calcium result      =  null  null    null  (no intervention)
#  E  range 12-13, high end  = 13.00     3    True  (10.2 within the default ULN 10.5)
#  F  11.0                   = 11.00     1    null  (no intervention); 10.2 < 11.0 <= 11.5
#
# Mechanism suggested by the labs (cases/quality.py's rules) and its agreement with the recorded mechanisms
# (excluded ones left out); CARE completeness (items: age and sex; a finding; index event and two dated rows;
# a lab; an administered intervention; an outcome). Every case has the base document's dated finding, index
# event and outcome.
#     suggested                                                     agreement      CARE
#  A  none (no PTH or PTHrP; bone free)                             no_suggestion  6
#  B  humoral_pthrp (PTHrP high, PTH low)                           agree          6
#  C  osteoblastic_hungry_bone (bone metastases, no other cause)    agree          6
#  D  none (no calcium, no phosphate)                               no_suggestion  4: one dated row, no treatment
#  E  none (bone metastases and PTH low, but PTHrP not measured)    no_suggestion  6
#  F  ectopic_pth, first of two (PTH high; osteolytic recorded)   disagree       5: nothing administered
COHORT = {
    "A": {
        "source": {
            "citation": "Smith A, Rahman K. Humoral hypercalcaemia in breast cancer. Case Rep Oncol Med. 2013.",
            "title": "Humoral hypercalcaemia in breast cancer",
            "year": 2013,
            "doi": "10.1155/2013/871917",
            "pmid": "23710001",
        },
        "title": "Breast cancer with PTHrP-mediated hypercalcemia",
        "disorder": "hypercalcemia",
        "patient": {"age_years": 67, "sex": "female"},
        "tumors": [
            {
                "site": "breast",
                "histology": "Invasive ductal carcinoma",
                "er": "positive",
                "pr": "negative",
                "her2": "negative",
                "hormone_receptor": "positive",
                "sequence": 1,
            }
        ],
        "metastases": [{"site": "liver", "present": True, "sequence": 1}, {"site": "bone", "present": False}],
        "mechanisms": [
            {"rank": 1, "code": "humoral_pthrp", "certainty": "confirmed"},
            {"rank": 2, "code": "local_osteolytic", "certainty": "excluded"},
        ],
        "interventions": [
            {
                "category": "drug",
                "agent": "zoledronic_acid",
                "agent_text": "zoledronic acid",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 0,
                "calcium_response": "normalised",
            },
            {
                "category": "drug",
                "agent": "denosumab",
                "agent_text": "denosumab",
                "intent": "calcium_directed",
                "status": "recommended",
                "sequence": 5,
            },
        ],
        "labs": [
            {
                "analyte": "calcium_total",
                "value": 14.0,
                "unit": "mg/dL",
                "ref_low": 8.9,
                "ref_high": 10.1,
                "sequence": 2,
                "day": 0,
                "quote": "serum calcium of 14.0 mg/dL",
            },
            {
                "analyte": "calcium_total",
                "value": 9.5,
                "unit": "mg/dL",
                "ref_low": 8.9,
                "ref_high": 10.1,
                "sequence": 4,
                "day": 5,
                "follows_intervention_index": 0,
            },
        ],
    },
    "B": {
        "source": {
            "citation": "Chen L, Park S. Squamous cell lung cancer and hypercalcaemia. Lung Cancer Rep. 2018.",
            "title": "Squamous cell lung cancer and hypercalcaemia",
            "year": 2018,
            "doi": "10.1016/j.lcr.2018.07.007",
            "pmid": "30000002",
        },
        "title": "Lung squamous cell carcinoma with hypercalcemia",
        "disorder": "hypercalcemia",
        "patient": {"age_years": 58, "sex": "male"},
        "tumors": [
            {
                "site": "lung",
                "histology": "Squamous cell carcinoma",
                "er": "not_applicable",
                "pr": "not_applicable",
                "her2": "not_applicable",
                "hormone_receptor": "not_applicable",
            }
        ],
        "metastases": [{"site": "bone", "present": True}],
        "mechanisms": [{"rank": 1, "code": "humoral_pthrp", "certainty": "probable"}],
        "interventions": [
            {
                "category": "drug",
                "agent": "denosumab",
                "agent_text": "denosumab",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 1,
                "calcium_response": "partial",
            },
            {
                "category": "drug",
                "agent": "zoledronic_acid",
                "agent_text": "zoledronic acid",
                "intent": "calcium_directed",
                "status": "recommended",
                "sequence": 5,
            },
        ],
        "labs": [
            {
                "analyte": "calcium_total",
                "value": 3.0,
                "unit": "mmol/L",
                "ref_low": 2.2,
                "ref_high": 2.6,
                "sequence": 2,
                "day": 0,
            },
            {
                "analyte": "calcium_total",
                "value": 2.8,
                "unit": "mmol/L",
                "ref_low": 2.2,
                "ref_high": 2.6,
                "sequence": 4,
                "day": 6,
            },
            {"analyte": "pthrp", "value": 6.2, "unit": "pmol/L", "ref_low": 0, "ref_high": 2.0, "sequence": 2},
            {"analyte": "pth_intact", "value": 8, "unit": "pg/mL", "ref_low": 15, "ref_high": 65, "sequence": 2},
        ],
    },
    "C": {
        "source": {
            "citation": "Jones B, Novak P. Severe hypocalcaemia after androgen deprivation. Urol Case Rep. 2020.",
            "title": "Severe hypocalcaemia after androgen deprivation",
            "year": 2020,
        },
        "title": "Hungry bone syndrome in metastatic prostate cancer",
        "disorder": "hypocalcemia",
        "patient": {"age_years": 95, "sex": "male"},  # stored as 90, "90 or older"
        "tumors": [{"site": "prostate", "histology": "Adenocarcinoma"}],
        "metastases": [{"site": "bone", "present": True}, {"site": "liver", "present": False}],
        "mechanisms": [{"rank": 1, "code": "osteoblastic_hungry_bone", "certainty": "probable"}],
        "interventions": [
            {
                "category": "supportive_care",
                "agent_text": "calcium gluconate",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 1,
                "calcium_response": "transient",
            }
        ],
        "labs": [
            {
                "analyte": "calcium_total",
                "value": 6.5,
                "unit": "mg/dL",
                "ref_low": 8.5,
                "ref_high": 10.5,
                "sequence": 2,
                "day": 0,
            },
            {
                "analyte": "calcium_total",
                "value": 7.8,
                "unit": "mg/dL",
                "ref_low": 8.5,
                "ref_high": 10.5,
                "sequence": 4,
                "day": 3,
            },
        ],
    },
    "D": {
        "source": {
            "citation": "Okafor C, Lindqvist M. Calcinosis and renal cancer. Nephron Case Rep. 2009.",
            "title": "Calcinosis and renal cancer",
            "year": 2009,
            "doi": "10.1159/000212345",
            "pmid": "19400004",
        },
        "title": "Tumoral calcinosis in renal cell carcinoma",
        "disorder": "soft_tissue_calcification",
        "patient": {"age_years": 45, "sex": "other"},
        "tumors": [{"site": "kidney", "histology": "Clear cell renal cell carcinoma"}],
        "metastases": [],
        "mechanisms": [{"rank": 1, "code": "metastatic_calcification", "certainty": "possible"}],
        "interventions": [],
        "labs": [{"analyte": "pth_intact", "value": 30, "unit": "pg/mL", "ref_low": 15, "ref_high": 65, "sequence": 1}],
    },
    "E": {
        "source": {
            "citation": "Garcia M. Triple-negative breast cancer and osteolysis. J Med Case Rep. 2020.",
            "title": "Triple-negative breast cancer and osteolysis",
            "year": 2020,
            "doi": "10.1186/s13256-020-02005-x",
            "pmid": "32000005",
        },
        "title": "Osteolytic hypercalcemia in triple-negative breast cancer",
        "disorder": "hypercalcemia",
        "patient": {"age_years": 49, "sex": "female"},
        "tumors": [
            {
                "site": "breast",
                "histology": "Metaplastic carcinoma",
                "er": "negative",
                "pr": "negative",
                "her2": "negative",
                "hormone_receptor": "negative",
            }
        ],
        "metastases": [{"site": "bone", "present": True}, {"site": "liver", "present": True}],
        "mechanisms": [
            {"rank": 1, "code": "local_osteolytic", "certainty": "confirmed"},
            {"rank": 2, "code": "humoral_pthrp", "certainty": "excluded"},
        ],
        "interventions": [
            {
                "category": "drug",
                "agent": "zoledronic_acid",
                "agent_text": "zoledronic acid",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 0,
                "calcium_response": "none",
            },
            {
                "category": "radiotherapy",
                "agent_text": "palliative radiotherapy to the spine",
                "intent": "cancer_directed",
                "status": "administered",
                "sequence": 5,
                "day": 10,
            },
        ],
        "labs": [
            {"analyte": "calcium_total", "value": 12, "value_high": 13, "unit": "mg/dL", "sequence": 2, "day": 0},
            {"analyte": "calcium_total", "value": 10.2, "unit": "mg/dL", "sequence": 4, "day": 4},
            {"analyte": "pth_intact", "value": 10, "unit": "pg/mL", "ref_low": 15, "ref_high": 65, "sequence": 2},
        ],
    },
    "F": {
        "source": {
            "citation": "Ivanova T. Myeloma and a second primary. Clin Case Rep. 2022.",
            "title": "Myeloma and a second primary",
            "year": 2022,
            "pmid": "35000006",
        },
        "title": "Multiple myeloma with a second primary breast cancer",
        "disorder": "hypercalcemia",
        "patient": {"age_years": 72, "sex": "male"},
        "tumors": [
            {"site": "bone_marrow", "histology": "Multiple myeloma", "sequence": 1},
            {
                "site": "breast",
                "histology": "Lobular carcinoma",
                "er": "negative",
                "pr": "negative",
                "her2": "positive",
                "hormone_receptor": "negative",
                "sequence": 2,
            },
        ],
        "metastases": [],
        "mechanisms": [{"rank": 1, "code": "local_osteolytic", "certainty": "probable"}],
        "interventions": [],
        "labs": [
            {
                "analyte": "calcium_total",
                "value": 11.0,
                "unit": "mg/dL",
                "ref_low": 8.6,
                "ref_high": 10.2,
                "sequence": 1,
                "day": 0,
                "quote": "His serum calcium was 11.0 mg/dL on the fourth hospital day",
            },
            {"analyte": "pth_intact", "value": 150, "unit": "pg/mL", "ref_low": 15, "ref_high": 65, "sequence": 1},
        ],
    },
}


@pytest.fixture(autouse=True)
def fast_logins_and_fresh_throttle(settings):
    # Each test creates its users; the default password hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The rate limits count requests per user id in the cache, which outlives each test's database.
    cache.clear()


@pytest.fixture
def cohort(curator) -> dict[str, str]:
    """Creates cases A-F through the API; returns their registry ids by letter."""
    Agent.objects.create(code="zoledronic_acid", name="Zoledronic acid", category="drug", atc_code="M05BA08")
    Agent.objects.create(code="denosumab", name="Denosumab", category="drug", atc_code="M05BX04")
    ids = {}
    for letter, spec in COHORT.items():
        spec = dict(spec)
        source = make_source(kind="case_report", **spec.pop("source"))
        response = curator.post(CASES, make_document(source, **spec), format="json")
        assert response.status_code == 201, response.content
        ids[letter] = response.json()["id"]
    return ids


def found(client, cohort: dict[str, str], query: str) -> str:
    """The letters of the cases listed for this query string, in the list's order."""
    response = client.get(f"{CASES}?{query}")
    assert response.status_code == 200, (query, response.content)
    letters = {registry_id: letter for letter, registry_id in cohort.items()}
    return "".join(letters[case["id"]] for case in response.json()["results"])


def answers(client, cohort: dict[str, str], expected: dict[str, str]) -> dict[str, str]:
    """What the list answers to each query of `expected`, to compare with it as a whole."""
    return {query: found(client, cohort, query) for query in expected}


def set_status(cohort: dict[str, str], letters: str, status: str) -> None:
    pks = [int(cohort[letter].removeprefix("CCR-")) for letter in letters]
    Case.objects.filter(pk__in=pks).update(status=status)


def test_every_filter_of_the_case_list_is_tested_here():
    assert set(CaseFilter.base_filters) == {
        *("status", "disorder"),
        *("mechanism", "mechanism_certainty"),
        *("tumor_site", "histology", "er", "pr", "her2", "hormone_receptor"),
        *("metastasis_present", "metastasis_absent"),
        *("agent", "intervention_category", "intervention_intent", "intervention_status", "calcium_response"),
        *("peak_calcium_min", "peak_calcium_max", "calcium_unit"),
        *("ctcae_grade", "ctcae_grade_min", "normalised"),
        *("suggested_mechanism", "mechanism_agreement", "completeness_min"),
        *("age_min", "age_max", "sex"),
        *("source_year", "source_year_min", "source_year_max", "doi", "pmid"),
        *("search", "ordering"),
    }


def test_the_list_is_in_id_order_and_unfiltered_by_default(curator, cohort):
    assert found(curator, cohort, "") == "ABCDEF"


def test_disorder_filter_takes_one_or_several_disorders(curator, cohort):
    expected = {
        "disorder=hypercalcemia": "ABEF",
        "disorder=hypocalcemia": "C",
        "disorder=hypocalcemia&disorder=soft_tissue_calcification": "CD",
    }
    assert answers(curator, cohort, expected) == expected


def test_status_filter_takes_one_or_several_statuses(curator, cohort):
    assert found(curator, cohort, "status=draft") == "ABCDEF"  # a curator's new case is a draft
    set_status(cohort, "A", "published")
    set_status(cohort, "B", "in_review")
    expected = {
        "status=published": "A",
        "status=published&status=in_review": "AB",
        "status=draft": "CDEF",
        "status=retracted": "",
    }
    assert answers(curator, cohort, expected) == expected


def test_mechanism_filters_hold_for_one_mechanism_row(curator, cohort):
    expected = {
        # Without a certainty, a mechanism marked "excluded" does not match: E excluded PTHrP, A osteolytic.
        "mechanism=humoral_pthrp": "AB",
        "mechanism=local_osteolytic": "EF",
        "mechanism=metastatic_calcification": "D",
        "mechanism_certainty=excluded": "AE",
        "mechanism_certainty=probable": "BCF",
        "mechanism=humoral_pthrp&mechanism_certainty=confirmed": "A",
        # A: local_osteolytic excluded. E: local_osteolytic confirmed and humoral_pthrp excluded, on two rows.
        "mechanism=local_osteolytic&mechanism_certainty=excluded": "A",
        "mechanism=local_osteolytic&mechanism_certainty=confirmed": "E",
        "mechanism=humoral_pthrp&mechanism_certainty=possible": "",
    }
    assert answers(curator, cohort, expected) == expected


def test_tumor_filters_hold_for_one_tumor_row(curator, cohort):
    expected = {
        "tumor_site=breast": "AEF",  # F's second primary is in the breast
        "tumor_site=bone_marrow": "F",
        "tumor_site=lung": "B",
        "histology=ductal": "A",
        "histology=CELL+CARCINOMA": "BD",  # contained in, case-insensitive
        "tumor_site=breast&histology=lobular": "F",
        "tumor_site=bone_marrow&histology=lobular": "",  # F's lobular carcinoma is its breast tumor
        "er=positive": "A",
        "er=negative": "EF",
        "er=not_applicable": "B",
        "er=unknown": "CDF",  # the default, on C's, D's and F's myeloma tumors
        "er=unknown&tumor_site=breast": "",
        "pr=negative": "AEF",
        "her2=positive": "F",
        "her2=negative": "AE",
        "her2=positive&tumor_site=bone_marrow": "",
        "her2=positive&er=negative": "F",
        "hormone_receptor=positive": "A",
        "hormone_receptor=negative": "EF",
        "hormone_receptor=negative&her2=negative": "E",
    }
    assert answers(curator, cohort, expected) == expected


def test_metastasis_present_and_absent_are_different_questions(curator, cohort):
    expected = {
        "metastasis_present=bone": "BCE",
        "metastasis_absent=bone": "A",  # A's source says the bone was free
        "metastasis_present=liver": "AE",
        "metastasis_absent=liver": "C",
        "metastasis_present=liver&metastasis_absent=bone": "A",
        "metastasis_present=bone&metastasis_absent=liver": "C",
        "metastasis_present=brain": "",
        "metastasis_absent=brain": "",  # not said to be free is not free
    }
    assert answers(curator, cohort, expected) == expected


def test_agent_and_status_must_hold_for_the_same_intervention(curator, cohort):
    # A: zoledronic acid administered and denosumab recommended, on two rows; B the other way round.
    assert found(curator, cohort, "agent=zoledronic_acid&intervention_status=recommended") == "B"
    assert found(curator, cohort, "agent=denosumab&intervention_status=recommended") == "A"


def test_intervention_filters_hold_for_one_intervention_row(curator, cohort):
    expected = {
        "agent=zoledronic_acid": "ABE",
        "agent=denosumab": "AB",
        "agent=pamidronate": "",  # an agent no case has
        "agent=zoledronic_acid&intervention_status=administered": "AE",
        "intervention_status=recommended": "AB",
        "intervention_status=advised_against": "",
        "intervention_category=drug": "ABE",
        "intervention_category=radiotherapy": "E",
        "intervention_category=supportive_care": "C",
        "intervention_intent=calcium_directed": "ABCE",
        "intervention_intent=cancer_directed": "E",
        # E's radiotherapy is cancer-directed; its calcium-directed intervention is a drug.
        "intervention_category=radiotherapy&intervention_intent=calcium_directed": "",
        "calcium_response=normalised": "A",
        "calcium_response=partial": "B",
        "calcium_response=transient": "C",
        "calcium_response=none": "E",
        # B's partial response was to denosumab; its zoledronic acid was only recommended.
        "agent=zoledronic_acid&calcium_response=partial": "",
        "agent=denosumab&calcium_response=partial": "B",
        "agent=zoledronic_acid&intervention_category=drug&intervention_intent=calcium_directed"
        "&intervention_status=administered&calcium_response=none": "E",
    }
    assert answers(curator, cohort, expected) == expected


def test_peak_calcium_bounds_in_mg_dl_are_inclusive(curator, cohort):
    # Peaks: A 14.00, B 12.02, C 7.80, D none, E 13.00, F 11.00 mg/dL.
    expected = {
        "peak_calcium_min=12": "ABE",
        "peak_calcium_max=11": "CF",
        "peak_calcium_min=11&peak_calcium_max=13": "BEF",
        "peak_calcium_min=14": "A",
        "peak_calcium_min=14.01": "",
        "peak_calcium_max=7.79": "",
        "peak_calcium_min=0": "ABCEF",  # D has no calcium result
        "peak_calcium_min=12&calcium_unit=mg/dL": "ABE",
        "calcium_unit=mmol/L": "ABCDEF",  # a unit alone filters nothing
    }
    assert answers(curator, cohort, expected) == expected


def test_peak_calcium_bounds_in_mmol_l(curator, cohort):
    # Peaks in mmol/L (mg/dL x 0.2495): A 14 x 0.2495 = 3.493, B 3.0 as reported, C 7.8 x 0.2495 = 1.946,
    # E 13 x 0.2495 = 3.2435, F 11 x 0.2495 = 2.7445.
    expected = {
        "peak_calcium_min=3.2&calcium_unit=mmol/L": "AE",  # 3.2 / 0.2495 = 12.83 mg/dL
        "peak_calcium_max=2.75&calcium_unit=mmol/L": "CF",  # 2.75 / 0.2495 = 11.02 mg/dL
        "peak_calcium_max=2.74&calcium_unit=mmol/L": "C",  # 2.74 / 0.2495 = 10.98 mg/dL, below F's 11.00
        "peak_calcium_min=2.5&peak_calcium_max=3.3&calcium_unit=mmol/L": "BEF",  # 10.02 to 13.23 mg/dL
        # B's peak was reported as exactly 3.0 mmol/L: inclusive bounds of 3.0 mmol/L include it
        # (3.0 / 0.2495 = 12.024 mg/dL, which the registry keeps to 0.01 mg/dL as 12.02).
        "peak_calcium_min=3.0&calcium_unit=mmol/L": "ABE",
        "peak_calcium_max=3.0&calcium_unit=mmol/L": "BCF",
        "peak_calcium_min=3.0&peak_calcium_max=3.0&calcium_unit=mmol/L": "B",
    }
    assert answers(curator, cohort, expected) == expected


def test_grade_and_normalisation_filters(curator, cohort):
    # Grades: A 4, B 2, C 0, D none, E 3, F 1. Normalised: A and E true, B and C false, D and F none.
    expected = {
        "ctcae_grade=3&ctcae_grade=4": "AE",
        "ctcae_grade=0": "C",
        "ctcae_grade=1&ctcae_grade=2": "BF",
        "ctcae_grade_min=2": "ABE",
        "ctcae_grade_min=0": "ABCEF",
        "ctcae_grade_min=4": "A",
        "ctcae_grade=2&ctcae_grade=3&ctcae_grade=4&ctcae_grade_min=3": "AE",
        "normalised=true": "AE",
        "normalised=false": "BC",
    }
    assert answers(curator, cohort, expected) == expected


def test_quality_filters(curator, cohort):
    expected = {
        "suggested_mechanism=humoral_pthrp": "B",
        "suggested_mechanism=local_osteolytic": "",  # E: PTHrP not measured, and domain.md asks "PTHrP normal"
        "suggested_mechanism=ectopic_pth": "F",
        "suggested_mechanism=osteoblastic_hungry_bone": "C",
        "suggested_mechanism=coexisting_hyperparathyroidism": "",  # F's second suggestion: only the first is kept
        "mechanism_agreement=agree": "BC",
        "mechanism_agreement=disagree": "F",
        "mechanism_agreement=no_suggestion": "ADE",
        "mechanism_agreement=no_mechanism": "",
        "completeness_min=6": "ABCE",
        "completeness_min=5": "ABCEF",
        "completeness_min=0": "ABCDEF",
    }
    assert answers(curator, cohort, expected) == expected


def test_patient_filters(curator, cohort):
    # Ages: A 67, B 58, C 95 kept as 90 ("90 or older"), D 45, E 49, F 72.
    expected = {
        "age_min=60": "ACF",
        "age_max=50": "DE",
        "age_min=58&age_max=67": "AB",  # inclusive
        "age_min=90": "C",
        "age_max=89": "ABDEF",
        "sex=female": "AE",
        "sex=male": "BCF",
        "sex=other": "D",
        "sex=female&age_max=50": "E",
    }
    assert answers(curator, cohort, expected) == expected


def test_source_filters(curator, cohort):
    # Years: A 2013, B 2018, C 2020, D 2009, E 2020, F 2022.
    expected = {
        "source_year=2020": "CE",
        "source_year_min=2018": "BCEF",
        "source_year_max=2013": "AD",
        "source_year_min=2010&source_year_max=2019": "AB",
        "doi=10.1016/J.LCR.2018.07.007": "B",  # DOIs are case-insensitive
        "doi=10.1016/j.lcr.2018.07": "",  # the whole DOI only
        "pmid=32000005": "E",
        "pmid=3200000": "",  # the whole PMID only
    }
    assert answers(curator, cohort, expected) == expected


def test_search_looks_in_titles_citations_and_quotes(curator, cohort):
    expected = {
        "search=hungry": "C",  # C's title
        "search=Lindqvist": "D",  # D's citation
        "search=LINDQVIST": "D",
        "search=fourth+hospital": "F",  # both words in the verbatim quote of F's calcium result
        "search=lindqvist+calcinosis": "D",  # every word, each anywhere in the case
        "search=lindqvist+hungry": "",  # the two words are in two cases
        "search=osteolysis": "E",  # the title of E's source
        "search=breast&sex=female": "AE",  # "breast" is in A's, E's and F's titles; F is male
    }
    assert answers(curator, cohort, expected) == expected


def test_ordering_puts_cases_without_the_value_last(curator, cohort):
    expected = {
        "ordering=-peak_calcium": "AEBFCD",  # 14.00, 13.00, 12.02, 11.00, 7.80, none
        "ordering=peak_calcium": "CFBEAD",
        "ordering=-ctcae_grade": "AEBFCD",  # 4, 3, 2, 1, 0, none
        "ordering=ctcae_grade": "CFBEAD",
        "ordering=age_years": "DEBAFC",  # 45, 49, 58, 67, 72, 90
        "ordering=-source_year,age_years": "FECBAD",  # 2022; 2020 (E 49, C 90); 2018; 2013; 2009
        "ordering=title": "ACBFED",  # Breast, Hungry, Lung, Multiple, Osteolytic, Tumoral
        "ordering=-id": "FEDCBA",
        "ordering=-peak_calcium&disorder=hypercalcemia": "AEBF",
    }
    assert answers(curator, cohort, expected) == expected


def test_page_size_is_respected(curator, cohort):
    first = curator.get(CASES, {"page_size": 4}).json()
    assert first["count"] == 6
    assert len(first["results"]) == 4
    assert "page=2" in first["next"]
    assert "page_size=4" in first["next"]
    second = curator.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    assert [c["id"] for c in first["results"] + second["results"]] == [cohort[x] for x in "ABCDEF"]


def test_page_size_is_capped_at_100(curator):
    # 101 bare cases through the ORM (no rows, so no derived measures to compute): one more than the cap.
    source = make_source()
    for n in range(101):
        make_case(source=source, title=f"Case {n}")
    page = curator.get(CASES, {"page_size": 500}).json()
    assert page["count"] == 101
    assert len(page["results"]) == 100
    assert page["next"] is not None
    assert len(curator.get(CASES).json()["results"]) == 25  # the default page size


@pytest.mark.parametrize(
    "query, field",
    [
        ("disorder=nonsense", "disorder"),
        ("status=deleted", "status"),
        ("mechanism=witchcraft", "mechanism"),
        ("mechanism_certainty=sure", "mechanism_certainty"),
        ("tumor_site=elbow", "tumor_site"),
        ("er=maybe", "er"),
        ("metastasis_present=elbow", "metastasis_present"),
        ("metastasis_absent=elbow", "metastasis_absent"),
        ("intervention_status=given", "intervention_status"),
        ("calcium_response=great", "calcium_response"),
        ("ctcae_grade=5", "ctcae_grade"),  # grade 5 (death) is not a laboratory grade
        ("calcium_unit=g/L", "calcium_unit"),
        ("peak_calcium_min=high", "peak_calcium_min"),
        ("peak_calcium_min=NaN", "peak_calcium_min"),
        ("peak_calcium_max=-1", "peak_calcium_max"),
        ("peak_calcium_max=-1e999999", "peak_calcium_max"),  # was a 500 on PostgreSQL: numeric overflow
        ("age_min=old", "age_min"),
        ("age_min=-1e999999", "age_min"),  # took half a minute to become an int
        ("ctcae_grade_min=-1e999999", "ctcae_grade_min"),
        ("completeness_min=-1e999999", "completeness_min"),
        ("suggested_mechanism=astrology", "suggested_mechanism"),
        ("mechanism_agreement=perhaps", "mechanism_agreement"),
        ("source_year=recent", "source_year"),
        ("source_year_max=-1e999999", "source_year_max"),
        ("sex=unknown_value", "sex"),
        ("ordering=password", "ordering"),
    ],
)
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(curator, query, field):
    response = curator.get(f"{CASES}?{query}")
    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}


def test_an_absurdly_large_bound_is_answered_not_refused(curator, cohort):
    # django-filter accepts numbers up to 1e50.
    assert found(curator, cohort, "peak_calcium_min=1e50&calcium_unit=mmol/L") == ""
    assert found(curator, cohort, "peak_calcium_max=1e50") == "ABCEF"
    assert found(curator, cohort, "age_max=1e50") == "ABCDEF"


def test_an_analyst_filters_published_cases_only(cohort):
    set_status(cohort, "AC", "published")
    analyst = client_for("analyst")
    expected = {
        "": "AC",
        "disorder=hypercalcemia": "A",  # not the drafts B, E and F
        "agent=zoledronic_acid": "A",  # not the drafts B and E
        "metastasis_present=bone": "C",  # not the drafts B and E
        "status=draft": "",
        "status=draft&status=published": "AC",
        "search=lindqvist": "",  # D is a draft
        "ordering=-peak_calcium": "AC",
    }
    assert answers(analyst, cohort, expected) == expected


def test_ties_in_an_ordering_keep_a_stable_order_by_id(curator):
    from cases.models import Case
    from tests.factories import make_case

    cases = [make_case(title=f"tie {n}") for n in range(4)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(peak_ctcae_grade=2)
    expected = [c.registry_id for c in cases]  # equal grades: ascending id, in either direction
    for ordering in ("ctcae_grade", "-ctcae_grade"):
        ids = [c["id"] for c in curator.get("/api/v1/cases/", {"ordering": ordering}).json()["results"]]
        assert ids == expected, ordering
