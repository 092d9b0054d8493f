"""Closed controlled vocabularies (codes are stable snake_case strings; labels are for people).

Lists that curators must extend without a code change (agents) are models, not choices.
External codes (ICD-O-3, HPO, LOINC, ATC) come from ../shared/docs/domain.md only.
"""

from django.db import models


class SourceKind(models.TextChoices):
    CASE_REPORT = "case_report", "Peer-reviewed case report"
    CLINICAL_VIGNETTE = "clinical_vignette", "Clinical vignette"
    GUIDELINE_SUMMARY = "guideline_summary", "Guideline summary"
    CONFERENCE_ABSTRACT = "conference_abstract", "Conference abstract"


class CurationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"
    RETRACTED = "retracted", "Retracted"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Not reported"


class MenopausalStatus(models.TextChoices):
    PREMENOPAUSAL = "premenopausal", "Premenopausal"
    PERIMENOPAUSAL = "perimenopausal", "Perimenopausal"
    POSTMENOPAUSAL = "postmenopausal", "Postmenopausal"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    NOT_REPORTED = "not_reported", "Not reported"


class Disorder(models.TextChoices):
    HYPERCALCEMIA = "hypercalcemia", "Hypercalcemia"
    HYPOCALCEMIA = "hypocalcemia", "Hypocalcemia"
    SOFT_TISSUE_CALCIFICATION = "soft_tissue_calcification", "Soft-tissue calcification"


# HPO terms for the disorders, where domain.md gives one.
DISORDER_HPO: dict[str, str] = {Disorder.HYPERCALCEMIA: "HP:0003072", Disorder.HYPOCALCEMIA: "HP:0002901"}


class MechanismCode(models.TextChoices):
    HUMORAL_PTHRP = "humoral_pthrp", "Humoral (PTHrP)"
    LOCAL_OSTEOLYTIC = "local_osteolytic", "Local osteolytic"
    CALCITRIOL_MEDIATED = "calcitriol_mediated", "Calcitriol-mediated (1,25-(OH)2 D)"
    ECTOPIC_PTH = "ectopic_pth", "Ectopic PTH"
    COEXISTING_HYPERPARATHYROIDISM = "coexisting_hyperparathyroidism", "Coexisting hyperparathyroidism"
    DRUG_RELATED = "drug_related", "Drug-related"
    OSTEOBLASTIC_HUNGRY_BONE = "osteoblastic_hungry_bone", "Osteoblastic metastases / hungry bone"
    VITAMIN_D_DEFICIENCY = "vitamin_d_deficiency", "Vitamin D deficiency"
    HYPOMAGNESEMIA = "hypomagnesemia", "Hypomagnesemia"
    HYPOPARATHYROIDISM = "hypoparathyroidism", "Hypoparathyroidism"
    TUMOR_LYSIS = "tumor_lysis", "Tumor lysis"
    DYSTROPHIC_CALCIFICATION = "dystrophic_calcification", "Dystrophic calcification"
    METASTATIC_CALCIFICATION = "metastatic_calcification", "Metastatic calcification"
    IATROGENIC_CALCIFICATION = "iatrogenic_calcification", "Iatrogenic calcification"
    CALCIPHYLAXIS = "calciphylaxis", "Calciphylaxis"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


# Which disorders each mechanism can explain (domain.md's table); None = any.
MECHANISM_DISORDERS: dict[str, set[str] | None] = {
    MechanismCode.HUMORAL_PTHRP: {Disorder.HYPERCALCEMIA},
    MechanismCode.LOCAL_OSTEOLYTIC: {Disorder.HYPERCALCEMIA},
    MechanismCode.CALCITRIOL_MEDIATED: {Disorder.HYPERCALCEMIA},
    MechanismCode.ECTOPIC_PTH: {Disorder.HYPERCALCEMIA},
    MechanismCode.COEXISTING_HYPERPARATHYROIDISM: {Disorder.HYPERCALCEMIA},
    MechanismCode.DRUG_RELATED: None,
    MechanismCode.OSTEOBLASTIC_HUNGRY_BONE: {Disorder.HYPOCALCEMIA},
    MechanismCode.VITAMIN_D_DEFICIENCY: {Disorder.HYPOCALCEMIA},
    MechanismCode.HYPOMAGNESEMIA: {Disorder.HYPOCALCEMIA},
    MechanismCode.HYPOPARATHYROIDISM: {Disorder.HYPOCALCEMIA},
    MechanismCode.TUMOR_LYSIS: {Disorder.HYPOCALCEMIA},
    MechanismCode.DYSTROPHIC_CALCIFICATION: {Disorder.SOFT_TISSUE_CALCIFICATION},
    MechanismCode.METASTATIC_CALCIFICATION: {Disorder.SOFT_TISSUE_CALCIFICATION},
    MechanismCode.IATROGENIC_CALCIFICATION: {Disorder.SOFT_TISSUE_CALCIFICATION},
    MechanismCode.CALCIPHYLAXIS: {Disorder.SOFT_TISSUE_CALCIFICATION},
    MechanismCode.OTHER: None,
    MechanismCode.UNKNOWN: None,
}


def mechanism_contradiction(code: str, disorder: str, certainty: str) -> str | None:
    """Why a mechanism cannot explain the case's disorder (domain.md's mechanism table), or None. A mechanism
    recorded as excluded may belong to any disorder: ruling it out contradicts nothing."""
    fits = MECHANISM_DISORDERS.get(code)
    if fits is None or disorder in fits or certainty == Certainty.EXCLUDED or not disorder:
        return None
    names = " or ".join(sorted(Disorder(d).label.lower() for d in fits))
    return (
        f"{MechanismCode(code).label} explains {names}, not {Disorder(disorder).label.lower()}: "
        "change the disorder or the mechanism, or record the mechanism as excluded."
    )


class Certainty(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed (laboratory or histological evidence)"
    PROBABLE = "probable", "Probable (the authors' attribution)"
    POSSIBLE = "possible", "Possible"
    EXCLUDED = "excluded", "Excluded (explicitly ruled out)"


class MechanismAgreement(models.TextChoices):
    """Whether the lab pattern fits the recorded mechanism (cases.quality.mechanism_agreement)."""

    AGREE = "agree", "Labs agree"
    DISAGREE = "disagree", "Labs suggest another"
    NO_SUGGESTION = "no_suggestion", "No rule applies"
    NO_MECHANISM = "no_mechanism", "No mechanism recorded"


class DrugAction(models.TextChoices):
    """ICH E2B(R3) G.k.8, action taken with the drug."""

    WITHDRAWN = "drug_withdrawn", "Drug withdrawn"
    DOSE_REDUCED = "dose_reduced", "Dose reduced"
    DOSE_INCREASED = "dose_increased", "Dose increased"
    DOSE_NOT_CHANGED = "dose_not_changed", "Dose not changed"
    UNKNOWN = "unknown", "Unknown"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class ChallengeResult(models.TextChoices):
    """Dechallenge (did the reaction abate when the drug stopped?) / rechallenge (did it recur?)."""

    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    NOT_DONE = "not_done", "Not done"
    UNKNOWN = "unknown", "Unknown"


class TumorSite(models.TextChoices):
    BREAST = "breast", "Breast"
    LUNG = "lung", "Lung"
    PROSTATE = "prostate", "Prostate"
    KIDNEY = "kidney", "Kidney"
    LIVER = "liver", "Liver"
    BONE_MARROW = "bone_marrow", "Bone marrow (myeloma)"
    LYMPH_NODES = "lymph_nodes", "Lymph nodes"
    SKIN = "skin", "Skin"
    # No ICD-O-3 topography default below: domain.md does not give one (enter the code the report allows).
    PANCREAS = "pancreas", "Pancreas"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown primary (cancer of unknown primary site)"
    NOT_REPORTED = "not_reported", "Primary site not reported"


# ICD-O-3 topography defaults for each site (domain.md); a more specific code may be entered instead.
TUMOR_SITE_TOPOGRAPHY: dict[str, str] = {
    TumorSite.BREAST: "C50.9",
    TumorSite.LUNG: "C34.9",
    TumorSite.PROSTATE: "C61.9",
    TumorSite.KIDNEY: "C64.9",
    TumorSite.LIVER: "C22.0",
    TumorSite.BONE_MARROW: "C42.1",
    TumorSite.LYMPH_NODES: "C77.9",
    TumorSite.SKIN: "C44.9",
}


class Laterality(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BILATERAL = "bilateral", "Bilateral"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    NOT_REPORTED = "not_reported", "Not reported"


class TumorGrade(models.TextChoices):
    WELL = "well_differentiated", "Well differentiated (G1)"
    MODERATE = "moderately_differentiated", "Moderately differentiated (G2)"
    POOR = "poorly_differentiated", "Poorly differentiated (G3)"
    UNDIFFERENTIATED = "undifferentiated", "Undifferentiated (G4)"
    NOT_REPORTED = "not_reported", "Not reported"


class ReceptorStatus(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    UNKNOWN = "unknown", "Unknown / not reported"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


# mCODE tumor-marker LOINC codes (domain.md).
RECEPTOR_LOINC = {"er": "85337-4", "pr": "85339-0", "her2": "48676-1"}


class MetastasisSite(models.TextChoices):
    BONE = "bone", "Bone"
    LIVER = "liver", "Liver"
    LYMPH_NODE = "lymph_node", "Lymph node"
    LUNG = "lung", "Lung"
    BRAIN = "brain", "Brain"
    SKIN = "skin", "Skin"
    PLEURA = "pleura", "Pleura"
    ADRENAL = "adrenal", "Adrenal"
    PERITONEUM = "peritoneum", "Peritoneum"
    SOFT_TISSUE = "soft_tissue", "Soft tissue"
    THORAX = "thorax", "Thorax (any site on thoracic imaging)"
    ABDOMEN = "abdomen", "Abdomen (any site on abdominal imaging)"
    OTHER = "other", "Other"
    UNSPECIFIED = "unspecified", "Metastatic, sites not named"


# Analytes, their units, factors and LOINC codes are rows of the analyte table (cases/analytes.py), edited in the
# admin and read through measures.analytes().


class Specimen(models.TextChoices):
    SERUM = "serum", "Serum"
    PLASMA = "plasma", "Plasma"
    BLOOD = "blood", "Whole blood"
    NOT_REPORTED = "not_reported", "Not reported"


class Comparator(models.TextChoices):
    """For censored values such as "<5"."""

    LT = "<", "<"
    LE = "<=", "≤"
    GT = ">", ">"
    GE = ">=", "≥"


class QualitativeResult(models.TextChoices):
    HIGH = "high", "High / elevated"
    LOW = "low", "Low / suppressed"
    NORMAL = "normal", "Normal"
    POSITIVE = "positive", "Positive / detected"
    NEGATIVE = "negative", "Negative / not detected"


class InterventionCategory(models.TextChoices):
    DRUG = "drug", "Drug"
    PROCEDURE = "procedure", "Procedure"
    RADIOTHERAPY = "radiotherapy", "Radiotherapy"
    SUPPORTIVE_CARE = "supportive_care", "Supportive care"


class Intent(models.TextChoices):
    CALCIUM_DIRECTED = "calcium_directed", "Calcium-directed"
    CANCER_DIRECTED = "cancer_directed", "Cancer-directed"
    SYMPTOMATIC = "symptomatic", "Symptomatic"
    SUPPORTIVE = "supportive", "Supportive"


class InterventionStatus(models.TextChoices):
    ADMINISTERED = "administered", "Administered"
    RECOMMENDED = "recommended", "Recommended (not reported as given)"
    ADVISED_AGAINST = "advised_against", "Advised against"


class Route(models.TextChoices):
    PARENTERAL = "parenteral", "Parenteral (not further specified)"
    INTRAVENOUS = "intravenous", "Intravenous"
    ORAL = "oral", "Oral"
    SUBCUTANEOUS = "subcutaneous", "Subcutaneous"
    INTRAMUSCULAR = "intramuscular", "Intramuscular"
    INTRA_ARTERIAL = "intra_arterial", "Intra-arterial"
    TOPICAL = "topical", "Topical"
    OTHER = "other", "Other"


class CalciumResponse(models.TextChoices):
    NORMALISED = "normalised", "Normalised"
    PARTIAL = "partial", "Partial"
    TRANSIENT = "transient", "Transient"
    NONE = "none", "None"
    NOT_ASSESSED = "not_assessed", "Not assessed"


class TumorResponse(models.TextChoices):
    COMPLETE = "complete_response", "Complete response"
    PARTIAL = "partial_response", "Partial response"
    MINIMAL = "minimal_response", "Minimal response"
    RESPONSE_UNSPECIFIED = "response_unspecified", "Response (extent not specified)"
    STABLE = "stable_disease", "Stable disease"
    PROGRESSIVE = "progressive_disease", "Progressive disease"
    NO_RECURRENCE = "no_recurrence", "No recurrence"
    NOT_ASSESSED = "not_assessed", "Not assessed / not reported"


class AdverseEvents(models.TextChoices):
    NONE_OBSERVED = "none_observed", "None observed"
    OBSERVED = "observed", "Observed"
    NOT_REPORTED = "not_reported", "Not reported"


class VitalStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    DEAD = "dead", "Dead"
    NOT_REPORTED = "not_reported", "Not reported"


class CalciumOutcome(models.TextChoices):
    NORMALISED = "normalised", "Normalised"
    IMPROVED = "improved", "Improved, not normalised"
    PERSISTENT = "persistent", "Persistent"
    WORSENED = "worsened", "Worsened"
    NOT_APPLICABLE = "not_applicable", "Not applicable (calcium normal throughout)"
    NOT_REPORTED = "not_reported", "Not reported"
