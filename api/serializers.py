"""The case document: one self-contained nested JSON object per case (shape in shared/docs/product.md).

Input and output share one serializer per row type; server-owned and derived fields are read-only.
Row validation is the model's own full_clean() (one place for every rule), reported per field.
"""

from __future__ import annotations

import copy
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases import measures, quality
from cases.models import MAX_DAYS, Agent, Case, Finding, Intervention, LabResult, Mechanism, Metastasis, Source, Tumor
from cases.vocabularies import DISORDER_HPO, RECEPTOR_LOINC

TIMING = ["sequence", "day", "day_is_approximate", "timing_text"]


def number(value: Decimal | None) -> float | None:
    """Decimals as JSON numbers, without the storage's trailing zeros."""
    return None if value is None else float(value)


class DecimalNumberField(serializers.DecimalField):
    """Accepts numbers, returns JSON numbers (not strings)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 4)
        kwargs.setdefault("coerce_to_string", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return number(value)


class ModelValidationMixin:
    """Validates with the model's own full_clean(): its field validators, clean() and constraints, so that every
    rule has one place and its curator-readable message."""

    not_model_fields: tuple[str, ...] = ()
    validate_unique = True

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        instance = copy.copy(self.instance) if isinstance(self.instance, models.Model) else self.Meta.model()
        for name, value in attrs.items():
            if name not in self.not_model_fields:
                setattr(instance, name, value)
        try:
            instance.full_clean(exclude=list(self.not_model_fields), validate_unique=self.validate_unique)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class RowSerializer(ModelValidationMixin, serializers.ModelSerializer):
    """A child row of a case. `id` identifies an existing row on update; omit it to add a row. A row sent with its id
    is replaced, not merged (cases.services._sync_rows): fields left out take their defaults, so it is validated here
    exactly as a new row would be."""

    id = serializers.IntegerField(required=False)
    # The case and fields validated by the case document rather than by the row itself.
    not_model_fields = ("id", "case")
    validate_unique = False


class AgentCodeField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Agent.objects.all(), allow_null=True, required=False, **kwargs)


class TumorSerializer(RowSerializer):
    receptor_loinc = serializers.SerializerMethodField()

    class Meta:
        model = Tumor
        fields = [
            "id",
            "site",
            "icdo3_topography",
            "laterality",
            "histology",
            "icdo3_morphology",
            "grade",
            "hormone_receptor",
            "er",
            "pr",
            "her2",
            "receptor_loinc",
            "tnm_reported",
            "stage_text",
            *TIMING,
            "quote",
        ]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_receptor_loinc(self, obj) -> dict:
        return RECEPTOR_LOINC


class MetastasisSerializer(RowSerializer):
    class Meta:
        model = Metastasis
        fields = ["id", "site", "detail", "present", *TIMING, "quote"]


class MechanismSerializer(RowSerializer):
    suspect_agent = AgentCodeField()
    suspect_agent_atc = serializers.CharField(
        source="suspect_agent.atc_code",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Null without an agent.",
    )

    class Meta:
        model = Mechanism
        fields = [
            "id",
            "rank",
            "code",
            "certainty",
            "evidence",
            "suspect_agent",
            "suspect_agent_atc",
            "action_taken",
            "dechallenge",
            "rechallenge",
        ]


class FindingSerializer(RowSerializer):
    class Meta:
        model = Finding
        fields = ["id", "label", "hpo_id", "present", *TIMING, "quote"]


class CalciumAroundSerializer(serializers.Serializer):
    lab_index = serializers.IntegerField(allow_null=True)
    basis = serializers.CharField()
    mg_dl = serializers.FloatField()
    comparator = serializers.CharField(help_text="Set for a censored value ('>15', '<8').")
    day = serializers.IntegerField(allow_null=True)


class InterventionSerializer(RowSerializer):
    agent = AgentCodeField()
    # From the coded agent; null when the intervention names none (agent_text only).
    agent_name = serializers.CharField(source="agent.name", read_only=True, default=None, allow_null=True)
    atc = serializers.CharField(source="agent.atc_code", read_only=True, default=None, allow_null=True)
    drug_class = serializers.CharField(source="agent.drug_class", read_only=True, default=None, allow_null=True)
    dose_value = DecimalNumberField()

    class Meta:
        model = Intervention
        fields = [
            "id",
            "category",
            "agent",
            "agent_name",
            "atc",
            "drug_class",
            "agent_text",
            "regimen",
            "intent",
            "status",
            "dose_text",
            "dose_value",
            "dose_unit",
            "route",
            "schedule",
            "cycles",
            "cycles_text",
            *TIMING,
            "end_day",
            "end_day_is_approximate",
            "end_timing_text",
            "duration_days",
            "duration_text",
            "calcium_response",
            "tumor_response",
            "adverse_events",
            "adverse_events_text",
            "quote",
            "notes",
        ]


class UnitValuesSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    value_high = serializers.FloatField(allow_null=True)
    ref_low = serializers.FloatField(allow_null=True)
    ref_high = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()


class InterpretationSerializer(serializers.Serializer):
    flag = serializers.ChoiceField(
        choices=[measures.HIGH, measures.LOW, measures.NORMAL, measures.INDETERMINATE], allow_null=True
    )
    basis = serializers.CharField()
    ref_low = serializers.FloatField(allow_null=True)
    ref_high = serializers.FloatField(allow_null=True)
    note = serializers.CharField()


class LabResultSerializer(RowSerializer):
    not_model_fields = ("id", "case", "follows_intervention_index")

    value = DecimalNumberField()
    value_high = DecimalNumberField()
    ref_low = DecimalNumberField()
    ref_high = DecimalNumberField()
    follows_intervention_index = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Position (0-based) in this case's interventions list of the intervention this result follows.",
    )
    loinc = serializers.CharField(read_only=True, allow_null=True)
    si = serializers.SerializerMethodField()
    conventional = serializers.SerializerMethodField()
    interpretation = serializers.SerializerMethodField()

    class Meta:
        model = LabResult
        fields = [
            "id",
            "analyte",
            "loinc",
            "specimen",
            "comparator",
            "value",
            "value_high",
            "unit",
            "qualitative",
            "ref_low",
            "ref_high",
            *TIMING,
            "follows_intervention_index",
            "quote",
            "notes",
            "si",
            "conventional",
            "interpretation",
        ]

    def to_representation(self, instance: LabResult) -> dict:
        data = super().to_representation(instance)
        index = self.context.get("intervention_index", {})
        data["follows_intervention_index"] = index.get(instance.follows_intervention_id)
        return data

    def _in_unit(self, obj: LabResult, target: str) -> dict | None:
        converted = obj.in_unit(target)
        return None if converted is None else {**{k: number(v) for k, v in converted.items()}, "unit": target}

    @extend_schema_field(UnitValuesSerializer(allow_null=True))
    def get_si(self, obj: LabResult) -> dict | None:
        return self._in_unit(obj, measures.analyte(obj.analyte).si_unit)

    @extend_schema_field(UnitValuesSerializer(allow_null=True))
    def get_conventional(self, obj: LabResult) -> dict | None:
        return self._in_unit(obj, measures.analyte(obj.analyte).conventional_unit)

    @extend_schema_field(InterpretationSerializer)
    def get_interpretation(self, obj: LabResult) -> dict:
        i = obj.interpretation()
        return {
            "flag": i.flag,
            "basis": i.basis,
            "ref_low": number(i.ref_low),
            "ref_high": number(i.ref_high),
            "note": i.note,
        }


class SourceSerializer(ModelValidationMixin, serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = [
            "id", "kind", "citation", "title", "authors", "journal", "year", "volume", "issue", "pages", "doi", "pmid",
            "pmcid", "url", "text", "notes",
        ]  # fmt: skip


class CaseSourceSerializer(SourceSerializer):
    """The source inside a case document: its text stays at /api/v1/sources/{id}/ (a case list carries no articles)."""

    class Meta(SourceSerializer.Meta):
        fields = [name for name in SourceSerializer.Meta.fields if name != "text"]


class AgentSerializer(ModelValidationMixin, serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["code", "name", "category", "drug_class", "atc_code", "synonyms", "notes"]


class PatientSerializer(serializers.Serializer):
    age_years = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=120,
        help_text="Age at presentation; ages over 89 are stored and returned as 90 (age_90_or_over true).",
    )
    age_90_or_over = serializers.BooleanField(source="age_is_90_or_over", read_only=True)
    sex = serializers.ChoiceField(choices=Case._meta.get_field("sex").choices, required=False)
    menopausal_status = serializers.ChoiceField(
        choices=Case._meta.get_field("menopausal_status").choices, required=False
    )


class OutcomeSerializer(serializers.Serializer):
    vital_status = serializers.ChoiceField(choices=Case._meta.get_field("vital_status").choices, required=False)
    follow_up_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_DAYS)
    follow_up_text = serializers.CharField(required=False, allow_blank=True, max_length=300)
    calcium_outcome = serializers.ChoiceField(choices=Case._meta.get_field("calcium_outcome").choices, required=False)
    tumor_response = serializers.ChoiceField(choices=Case._meta.get_field("tumor_response").choices, required=False)
    notes = serializers.CharField(source="outcome_notes", required=False, allow_blank=True)


class ExtremeSerializer(serializers.Serializer):
    mg_dl = serializers.FloatField()
    mmol_l = serializers.FloatField()
    comparator = serializers.CharField(
        help_text="'>' when the peak is a censored value ('>15': the peak is above mg_dl); '<' likewise for a nadir."
    )
    basis = serializers.CharField()
    day = serializers.IntegerField(allow_null=True)
    lab_index = serializers.IntegerField(allow_null=True)


class GradeSerializer(serializers.Serializer):
    grade = serializers.IntegerField(allow_null=True)
    direction = serializers.CharField()
    basis = serializers.CharField()
    limit_basis = serializers.CharField()
    note = serializers.CharField()


class NormalisationSerializer(serializers.Serializer):
    normalised = serializers.BooleanField(
        help_text="Back on the normal side of the disorder's limit: at or below the upper limit for hypercalcemia, "
        "at or above the lower limit for hypocalcemia (an overshoot shows in the nadir and its grade)."
    )
    days = serializers.IntegerField(allow_null=True)
    intervention_index = serializers.IntegerField(allow_null=True)
    lab_index = serializers.IntegerField(allow_null=True)


class InterventionCourseSerializer(serializers.Serializer):
    intervention_index = serializers.IntegerField()
    calcium_before = CalciumAroundSerializer(allow_null=True)
    calcium_after = CalciumAroundSerializer(allow_null=True)


class SuggestionSerializer(serializers.Serializer):
    code = serializers.CharField()
    rule = serializers.CharField()


class MechanismCheckSerializer(serializers.Serializer):
    recorded = serializers.ListField(child=serializers.CharField(), help_text="The curator's, excluded ones left out.")
    suggested = SuggestionSerializer(many=True, help_text="What the lab pattern points to (domain.md's rules).")
    agreement = serializers.ChoiceField(choices=["agree", "disagree", "no_suggestion", "no_mechanism"])


class CompletenessSerializer(serializers.Serializer):
    score = serializers.IntegerField(help_text="CARE items the record holds.")
    of = serializers.IntegerField()
    present = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())


class DerivedSerializer(serializers.Serializer):
    peak_calcium = ExtremeSerializer(allow_null=True)
    nadir_calcium = ExtremeSerializer(allow_null=True)
    peak_ctcae = GradeSerializer(allow_null=True, help_text="CTCAE v5.0 hypercalcemia grade of the peak.")
    nadir_ctcae = GradeSerializer(allow_null=True, help_text="CTCAE v5.0 hypocalcemia grade of the nadir.")
    ionized_peak_calcium = ExtremeSerializer(allow_null=True, help_text="Ionized calcium, summarised on its own.")
    ionized_nadir_calcium = ExtremeSerializer(allow_null=True)
    ionized_peak_ctcae = GradeSerializer(allow_null=True, help_text="CTCAE v5.0 hypercalcemia grade (ionized).")
    ionized_nadir_ctcae = GradeSerializer(allow_null=True, help_text="CTCAE v5.0 hypocalcemia grade (ionized).")
    normalisation = NormalisationSerializer(
        allow_null=True, help_text="After the first administered calcium-directed intervention; null if none."
    )
    interventions = InterventionCourseSerializer(many=True)
    mechanism_check = MechanismCheckSerializer()
    completeness = CompletenessSerializer()


def derived_document(case: Case, labs: list[LabResult], interventions: list[Intervention]) -> dict:
    summary = measures.calcium_summary(
        [lab.as_measurement() for lab in labs], [i.as_treatment() for i in interventions], case.disorder
    )
    lab_index = {lab.pk: n for n, lab in enumerate(labs)}
    intervention_index = {i.pk: n for n, i in enumerate(interventions)}
    recorded = [m.code for m in case.mechanisms.all() if m.certainty != "excluded"]
    suggestions = case.mechanism_suggestions()
    completeness = case.completeness()

    def extreme(e):
        return e and {
            "mg_dl": number(e.mg_dl),
            "mmol_l": number(e.mmol_l),
            "comparator": e.comparator,
            "basis": e.basis,
            "day": e.day,
            "lab_index": lab_index.get(e.measurement_id),
        }

    def grade(g):
        return g and {
            "grade": g.grade,
            "direction": g.direction,
            "basis": g.basis,
            "limit_basis": g.limit_basis,
            "note": g.note,
        }

    def point(p, high: bool):
        return p and {
            "lab_index": lab_index.get(p.measurement_id),
            "basis": p.basis,
            "mg_dl": number(measures.round_for_unit(p.high_mg_dl if high else p.low_mg_dl, "mg/dL")),
            "comparator": p.comparator,
            "day": p.day,
        }

    n = summary.normalisation
    return {
        "peak_calcium": extreme(summary.peak),
        "nadir_calcium": extreme(summary.nadir),
        "peak_ctcae": grade(summary.peak_grade),
        "nadir_ctcae": grade(summary.nadir_grade),
        "ionized_peak_calcium": extreme(summary.ionized_peak),
        "ionized_nadir_calcium": extreme(summary.ionized_nadir),
        "ionized_peak_ctcae": grade(summary.ionized_peak_grade),
        "ionized_nadir_ctcae": grade(summary.ionized_nadir_grade),
        "normalisation": n
        and {
            "normalised": n.normalised,
            "days": n.days,
            "intervention_index": intervention_index.get(n.intervention_id),
            "lab_index": lab_index.get(n.measurement_id),
        },
        "interventions": [
            {
                "intervention_index": intervention_index[a.intervention_id],
                "calcium_before": point(a.before, True),
                "calcium_after": point(a.after, True),
            }
            for a in summary.around
        ],
        "mechanism_check": {
            "recorded": recorded,
            "suggested": [{"code": s.code, "rule": s.rule} for s in suggestions],
            "agreement": quality.mechanism_agreement(recorded, suggestions),
        },
        "completeness": {
            "score": completeness.score,
            "of": len(quality.CARE_ITEMS),
            "present": list(completeness.present),
            "missing": list(completeness.missing),
        },
    }


class CaseSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="registry_id", read_only=True)
    source = CaseSourceSerializer(read_only=True)
    source_id = serializers.PrimaryKeyRelatedField(source="source", queryset=Source.objects.all(), write_only=True)
    patient = PatientSerializer(source="*", required=False)
    disorder_hpo = serializers.SerializerMethodField()
    outcome = OutcomeSerializer(source="*", required=False)
    tumors = TumorSerializer(many=True, required=False)
    metastases = MetastasisSerializer(many=True, required=False)
    mechanisms = MechanismSerializer(many=True, required=False)
    findings = FindingSerializer(many=True, required=False)
    labs = LabResultSerializer(many=True, required=False)
    interventions = InterventionSerializer(many=True, required=False)
    derived = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Username; null for cases loaded from fixtures.",
    )
    updated_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Username; null for cases loaded from fixtures.",
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "status",
            "title",
            "case_label",
            "source",
            "source_id",
            "patient",
            "disorder",
            "disorder_hpo",
            "index_event",
            "summary",
            "mechanisms",
            "tumors",
            "metastases",
            "findings",
            "labs",
            "interventions",
            "outcome",
            "derived",
            "curation_notes",
            "version",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        ]
        read_only_fields = ["status", "version", "created_at", "updated_at"]

    def to_representation(self, instance: Case) -> dict:
        interventions = list(instance.interventions.all())
        self.context["intervention_index"] = {i.pk: n for n, i in enumerate(interventions)}
        data = super().to_representation(instance)
        return data

    @extend_schema_field({"type": "string", "nullable": True, "example": "HP:0003072"})
    def get_disorder_hpo(self, obj: Case) -> str | None:
        return DISORDER_HPO.get(obj.disorder)

    @extend_schema_field(DerivedSerializer)
    def get_derived(self, obj: Case) -> dict:
        return derived_document(obj, list(obj.labs.all()), list(obj.interventions.all()))

    def validate(self, attrs: dict) -> dict:
        errors: dict = {}
        interventions = attrs.get("interventions")
        n_interventions = (
            len(interventions)
            if interventions is not None
            else (self.instance.interventions.count() if self.instance else 0)
        )
        for n, lab in enumerate(attrs.get("labs") or []):
            index = lab.get("follows_intervention_index")
            if index is not None and index >= n_interventions:
                errors[f"labs[{n}].follows_intervention_index"] = (
                    f"There is no intervention at position {index}; this case has {n_interventions}."
                )
        codes = [m["code"] for m in attrs.get("mechanisms") or []]
        for n, code in enumerate(codes):
            if code in codes[:n]:
                errors[f"mechanisms[{n}].code"] = f"The mechanism {code} is listed twice."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def schema_nullable_objects(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): documentation only.

    A nullable nested serializer comes out as {"allOf": [{"$ref": ...}], "nullable": true}. In OpenAPI 3.0.3
    `nullable` only widens a `type` in the same schema object, so strict validators refuse the null that the API
    really returns (derived.peak_calcium, labs[].si, ...). Offer null as an alternative of its own instead, the
    way drf-spectacular already documents nullable choices: {"oneOf": [{"$ref": ...}, NullEnum]}.
    """
    null = {"$ref": "#/components/schemas/NullEnum"}
    found = False

    def visit(node):
        nonlocal found
        if isinstance(node, dict):
            if node.get("nullable") is True and "type" not in node and len(node.get("allOf", ())) == 1:
                node["oneOf"] = [node.pop("allOf")[0], null]
                found = True
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(result.get("paths", {}))
    visit(result.get("components", {}))
    if found:
        result["components"].setdefault("schemas", {}).setdefault("NullEnum", {"enum": [None]})
    return result
