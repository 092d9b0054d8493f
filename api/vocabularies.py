"""/api/v1/vocabularies/: every controlled list, with codes, labels and the external codes beside them."""

from __future__ import annotations

from rest_framework import serializers

from cases import measures
from cases import vocabularies as v

PLAIN_LISTS = {
    "source_kind": v.SourceKind,
    "curation_status": v.CurationStatus,
    "sex": v.Sex,
    "menopausal_status": v.MenopausalStatus,
    "certainty": v.Certainty,
    "drug_action": v.DrugAction,
    "challenge_result": v.ChallengeResult,
    "laterality": v.Laterality,
    "tumor_grade": v.TumorGrade,
    "receptor_status": v.ReceptorStatus,
    "metastasis_site": v.MetastasisSite,
    "specimen": v.Specimen,
    "comparator": v.Comparator,
    "qualitative_result": v.QualitativeResult,
    "intervention_category": v.InterventionCategory,
    "intent": v.Intent,
    "intervention_status": v.InterventionStatus,
    "route": v.Route,
    "calcium_response": v.CalciumResponse,
    "tumor_response": v.TumorResponse,
    "adverse_events": v.AdverseEvents,
    "vital_status": v.VitalStatus,
    "calcium_outcome": v.CalciumOutcome,
}


class PlainTermSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class LoincSerializer(serializers.Serializer):
    code = serializers.CharField()
    units = serializers.ListField(child=serializers.CharField())
    specimens = serializers.ListField(child=serializers.CharField())


class TermSerializer(PlainTermSerializer):
    system = serializers.CharField(required=False, help_text="External code system, e.g. HPO, ICD-O-3, LOINC.")
    external_code = serializers.CharField(required=False, allow_null=True)
    units = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Analytes: the units converted between."
    )
    printed_units = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Analytes: units stored as printed, never converted."
    )
    loinc = LoincSerializer(
        many=True,
        required=False,
        help_text="Analytes: each LOINC code with the units of its property (and its specimens; empty = any). "
        "A value in a unit no code lists carries none.",
    )
    conventional_unit = serializers.CharField(required=False)
    si_unit = serializers.CharField(required=False)
    si_factor = serializers.FloatField(required=False)
    applies_to = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


# For the schema only: the lists with external codes, and every list in PLAIN_LISTS as a list of {code, label}.
VocabulariesSerializer = type(
    "VocabulariesSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "disorder": TermSerializer(many=True),
        "mechanism": TermSerializer(many=True),
        "tumor_site": TermSerializer(many=True),
        "analyte": TermSerializer(many=True),
        "receptor": TermSerializer(many=True),
        **{name: PlainTermSerializer(many=True) for name in PLAIN_LISTS},
    },
)


def _plain(choices) -> list[dict]:
    return [{"code": c.value, "label": c.label} for c in choices]


def all_vocabularies() -> dict:
    data = {name: _plain(choices) for name, choices in PLAIN_LISTS.items()}
    data["disorder"] = [
        {"code": c.value, "label": c.label, "system": "HPO", "external_code": v.DISORDER_HPO.get(c.value)}
        for c in v.Disorder
    ]
    data["mechanism"] = [
        {
            "code": c.value,
            "label": c.label,
            "applies_to": sorted(v.MECHANISM_DISORDERS[c.value]) if v.MECHANISM_DISORDERS[c.value] else None,
        }
        for c in v.MechanismCode
    ]
    data["tumor_site"] = [
        {
            "code": c.value,
            "label": c.label,
            "system": "ICD-O-3 topography",
            "external_code": v.TUMOR_SITE_TOPOGRAPHY.get(c.value),
        }
        for c in v.TumorSite
    ]
    data["analyte"] = [
        {
            "code": a.code,
            "label": a.label,
            "system": "LOINC",
            "external_code": a.loinc_for(a.conventional_unit),
            "loinc": [{"code": c.code, "units": list(c.units), "specimens": list(c.specimens)} for c in a.loinc],
            "units": list(a.units),
            "printed_units": list(a.printed_units),
            "conventional_unit": a.conventional_unit,
            "si_unit": a.si_unit,
            "si_factor": float(a.si_factor),
        }
        for a in measures.analytes().values()
    ]
    data["receptor"] = [
        {"code": code, "label": code.upper(), "system": "LOINC", "external_code": loinc}
        for code, loinc in v.RECEPTOR_LOINC.items()
    ]
    return data
