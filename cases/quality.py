"""Checks on a case record, as pure functions (no queries): does the recorded mechanism fit the lab
pattern, and how completely was the report captured (CARE checklist items)?

The mechanism rules are domain.md's "typical lab pattern" table. They suggest; they never overwrite what the
curator recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .vocabularies import MechanismAgreement

HIGH, LOW, NORMAL = "high", "low", "normal"


@dataclass(frozen=True)
class LabFlag:
    analyte: str
    flag: str | None  # high / low / normal / indeterminate / None


@dataclass(frozen=True)
class Suggestion:
    code: str
    rule: str


def _flags(labs: Iterable[LabFlag], analyte: str) -> set[str]:
    return {lab.flag for lab in labs if lab.analyte == analyte and lab.flag}


def suggest_mechanisms(disorder: str, labs: Iterable[LabFlag], bone_metastasis: bool | None) -> list[Suggestion]:
    """Mechanisms the lab pattern points to, most specific first. bone_metastasis: True present, False
    explicitly absent, None not recorded.

    A lab "is high" when any result of it is high (by its reported range, a documented default, or the source's
    own word); "not raised" when results exist and none is high. A lab never measured is neither.
    """
    labs = list(labs)
    pthrp, pth = _flags(labs, "pthrp"), _flags(labs, "pth_intact")
    calcitriol = _flags(labs, "vitamin_d_125oh2")
    phosphate, magnesium = _flags(labs, "phosphate"), _flags(labs, "magnesium")
    vitamin_d = _flags(labs, "vitamin_d_25oh")
    calcium_codes = ("calcium_total", "calcium_corrected", "calcium_unspecified", "calcium_ionized")
    calcium = set().union(*(_flags(labs, code) for code in calcium_codes))
    pth_not_high = bool(pth) and HIGH not in pth
    out: list[Suggestion] = []
    if disorder == "hypercalcemia":
        if HIGH in pthrp and pth_not_high:
            out.append(Suggestion("humoral_pthrp", "PTHrP high with intact PTH not raised"))
        if HIGH in calcitriol and pth_not_high:
            out.append(Suggestion("calcitriol_mediated", "1,25-(OH)2 vitamin D high with PTH not raised"))
        if HIGH in pth:
            out.append(Suggestion("ectopic_pth", "PTH high: ectopic PTH if there is no parathyroid disease"))
            out.append(
                Suggestion("coexisting_hyperparathyroidism", "PTH high: parathyroid adenoma if imaging shows one")
            )
        if bone_metastasis and pth_not_high and pthrp and pthrp <= {NORMAL, LOW}:
            out.append(Suggestion("local_osteolytic", "bone metastases with PTH and PTHrP measured and not raised"))
    elif disorder == "hypocalcemia":
        if HIGH in phosphate:
            out.append(Suggestion("tumor_lysis", "phosphate high"))
        if LOW in magnesium:
            out.append(Suggestion("hypomagnesemia", "magnesium low"))
        if LOW in vitamin_d:
            out.append(Suggestion("vitamin_d_deficiency", "25-hydroxyvitamin D low"))
        if LOW in pth:
            out.append(Suggestion("hypoparathyroidism", "PTH low with low calcium"))
        if bone_metastasis and not out:
            out.append(Suggestion("osteoblastic_hungry_bone", "bone metastases, no other cause in the labs"))
    elif disorder == "soft_tissue_calcification":
        # An indeterminate result (a range crossing a limit) counts as neither normal nor abnormal.
        abnormal = bool((calcium | phosphate) & {HIGH, LOW})
        if calcium == {NORMAL} and phosphate <= {NORMAL}:
            out.append(Suggestion("dystrophic_calcification", "calcium (and phosphate) normal"))
        elif abnormal:
            out.append(Suggestion("metastatic_calcification", "calcium or phosphate abnormal"))
    return out


AGREE, DISAGREE = MechanismAgreement.AGREE.value, MechanismAgreement.DISAGREE.value
NO_SUGGESTION, NO_MECHANISM = MechanismAgreement.NO_SUGGESTION.value, MechanismAgreement.NO_MECHANISM.value


def mechanism_agreement(recorded: Iterable[str], suggestions: list[Suggestion]) -> str:
    """agree: a recorded (not excluded) mechanism is among the suggestions; disagree: the labs suggest only
    others; no_suggestion: no rule applies; no_mechanism: the curator recorded none."""
    recorded = set(recorded)
    if not suggestions:
        return NO_SUGGESTION
    if not recorded:
        return NO_MECHANISM
    return AGREE if recorded & {s.code for s in suggestions} else DISAGREE


# --- CARE reporting completeness ---------------------------------------------------------------------------

CARE_ITEMS = {
    "patient_information": "Patient information (age and sex)",
    "clinical_findings": "Clinical findings (at least one finding present)",
    "timeline": "Timeline (an index event and at least two items with a day offset)",
    "diagnostic_assessment": "Diagnostic assessment (at least one lab result)",
    "therapeutic_intervention": "Therapeutic intervention (at least one administered intervention)",
    "follow_up_and_outcomes": "Follow-up and outcomes (vital status, follow-up or calcium outcome reported)",
}


@dataclass(frozen=True)
class CaseFacts:
    age_years: int | None
    sex: str
    index_event: str
    findings_present: int
    dated_items: int
    labs: int
    administered_interventions: int
    vital_status: str
    follow_up_days: int | None
    follow_up_text: str
    calcium_outcome: str


@dataclass(frozen=True)
class Completeness:
    score: int  # items held, 0-6
    present: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def fraction(self) -> float:
        return self.score / len(CARE_ITEMS)


def care_completeness(facts: CaseFacts) -> Completeness:
    held = {
        "patient_information": facts.age_years is not None and facts.sex not in ("", "unknown"),
        "clinical_findings": facts.findings_present > 0,
        "timeline": bool(facts.index_event.strip()) and facts.dated_items >= 2,
        "diagnostic_assessment": facts.labs > 0,
        "therapeutic_intervention": facts.administered_interventions > 0,
        "follow_up_and_outcomes": facts.vital_status != "not_reported"
        or facts.follow_up_days is not None
        or bool(facts.follow_up_text.strip())
        or facts.calcium_outcome != "not_reported",
    }
    present = tuple(item for item in CARE_ITEMS if held[item])
    missing = tuple(item for item in CARE_ITEMS if not held[item])
    return Completeness(len(present), present, missing)
