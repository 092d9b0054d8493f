"""The case document: one self-contained nested JSON object per case (shape in shared/docs/product.md), the one
shape the API returns and accepts, the admin exports and imports, and the interop formats are built from.

Input and output share one serializer per row type; server-owned and derived fields are read-only.
Row validation is the model's own full_clean() (one place for every rule), reported per field. Writes go through
the edit service (cases.services.case_save_document); `confirm` lists the warnings a client confirms
(cases.warnings).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, models, transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases import analytes, measures
from cases.anchors import AnchorCycle, Timing, intervention_days, relative_day
from cases.citations import check_source_duplicates, source_duplicates
from cases.derived import derived_document, number
from cases.duplicates import hold_duplicate_locks
from cases.imports import NotInBulk, cases_create_in_bulk
from cases.models import (
    MAX_DAYS,
    Agent,
    Case,
    DoseStep,
    Episode,
    Finding,
    Intervention,
    LabResult,
    Mechanism,
    Metastasis,
    Source,
    Tumor,
)
from cases.rows import CASE_SERVER_FIELDS, ROW_KINDS, row_kind
from cases.services import DocumentError, case_save_document, database_refusal_reason
from cases.vocabularies import (
    DISORDER_HPO,
    RECEPTOR_LOINC,
    CalciumOutcome,
    MechanismAgreement,
    mechanism_contradiction,
)

# The document's names for fields of a row kind (cases.rows) it writes otherwise: a row timed from an intervention
# and a lab's links name the interventions by their position in the document's interventions list (a lab's by the
# list of them, and by the first alone for the older clients).
DOCUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "anchor": ("anchor_intervention_index",),
    "follow_links": ("follows_intervention_index", "follows_intervention_indexes"),
    "episode": (),  # a mechanism's episode is the one it is listed under (episodes[i].mechanisms)
}


def document_fields(model: type[models.Model], *, after: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """A row object's keys: its id, then what the curator enters (cases.rows, in its order), each field followed by
    the read-only values the server adds about it (`after`: a code's LOINC or ATC, the agent's name, ...)."""
    kind = row_kind(model)
    after = after or {}
    kind.check_names(after, "document_fields(after=...)")
    return ["id", *(n for name in kind.fields for n in (*DOCUMENT_NAMES.get(name, (name,)), *after.get(name, ())))]


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


UNKNOWN_FIELD = "Unknown field."


class RefuseUnknownFieldsMixin:
    """A written object may carry only the serializer's own fields: an unknown key (a misspelt one, say) is a 400
    naming it ("labs[0].value_is_approxmate: Unknown field.") instead of being dropped silently. Read-only fields
    (id, loinc, derived, ...) are known: they are accepted and ignored, so a document read from the API can be sent
    back as it is. Unknown keys are reported together with the object's other errors."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        unknown = {key: [UNKNOWN_FIELD] for key in data if key not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(unknown)
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


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
        instance._anchor_by_position = by_position = getattr(self, "_anchor_by_position", False)
        exclude = [*self.not_model_fields, *(["anchor"] if by_position else [])]  # the position is checked by the case
        try:
            instance.full_clean(exclude=exclude, validate_unique=self.validate_unique)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class RowSerializer(RefuseUnknownFieldsMixin, ModelValidationMixin, serializers.ModelSerializer):
    """A child row of a case. `id` identifies an existing row on update; omit it to add a row. A row sent with its id
    is replaced, not merged (cases.services._sync_rows): fields left out take their defaults, so it is validated here
    exactly as a new row would be."""

    id = serializers.IntegerField(required=False)
    # The case and fields validated by the case document rather than by the row itself.
    not_model_fields: tuple[str, ...] = ("id", "case")
    validate_unique = False


class AnchoredRowSerializer(RowSerializer):
    """A row whose time may be given relative to an intervention (cases.anchors): anchor_intervention_index names it
    by position in the case's interventions (the document checks it). The row's day comes from it."""

    not_model_fields = ("id", "case", "anchor_intervention_index")
    anchor_intervention_index = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Position (0-based) in this case's interventions of the intervention this row's time is given "
        "relative to ('one month after denosumab'), with anchor_offset_days (30) and the phrase in timing_text. "
        "The row's day is then that intervention's day + the offset (null while that day is unknown): send it as "
        "that or leave it out.",
    )

    def validate(self, attrs: dict) -> dict:
        self._anchor_by_position = attrs.get("anchor_intervention_index") is not None
        return super().validate(attrs)

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        data["anchor_intervention_index"] = self.context.get("intervention_index", {}).get(instance.anchor_id)
        return data


class AgentCodeField(serializers.SlugRelatedField):
    """An agent by its code: from the document's agents looked up together (agents_of_documents, in the context's
    "agents"), else looked up alone (a code not among them, which also names the error)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Agent.objects.all(), allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data):
        agent = self.context.get("agents", {}).get(data) if isinstance(data, str) else None
        return agent if agent is not None else super().to_internal_value(data)


def agents_of_documents(documents: list, known: dict[str, Agent] | None = None) -> dict[str, Agent]:
    """The agents the case documents name by code (interventions' agent, mechanisms' suspect_agent, at the top and
    in each episode), in one query: {code: agent}, added to `known` (codes already there are not looked up again).
    The documents are not validated yet: whatever is not where a code would be is left to the serializer."""

    def rows(document, relation):
        found = document.get(relation) if isinstance(document, Mapping) else None
        return [row for row in found if isinstance(row, Mapping)] if isinstance(found, list) else []

    known = {} if known is None else known
    named = []  # any value, a dict or a list included: only text can be a code
    for document in documents:
        mechanisms = rows(document, "mechanisms") + [
            m for e in rows(document, "episodes") for m in rows(e, "mechanisms")
        ]
        named += [row.get("agent") for row in rows(document, "interventions")]
        named += [row.get("suspect_agent") for row in mechanisms]
    wanted = {code for code in named if isinstance(code, str) and code not in known}
    if wanted:
        known.update((agent.code, agent) for agent in Agent.objects.filter(code__in=wanted))
    return known


class TumorSerializer(RowSerializer):
    receptor_loinc = serializers.SerializerMethodField()
    size_mm = DecimalNumberField(max_digits=6, decimal_places=1)

    class Meta:
        model = Tumor
        fields = document_fields(Tumor, after={"her2": ("receptor_loinc",)})

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_receptor_loinc(self, obj) -> dict:
        return RECEPTOR_LOINC


class MetastasisSerializer(AnchoredRowSerializer):
    class Meta:
        model = Metastasis
        fields = document_fields(Metastasis)


class MechanismSerializer(RowSerializer):
    not_model_fields = ("id", "case", "episode")  # the episode it is listed under (cases.services)
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
        fields = document_fields(Mechanism, after={"suspect_agent": ("suspect_agent_atc",)})


class EpisodeSerializer(RowSerializer):
    """One calcium-disorder episode of the case (issue 13), with its mechanisms. Episodes are listed in timeline
    order: each starts (sequence, day) after the one before it and runs until the next one starts; the first also
    takes everything before it."""

    not_model_fields = ("id", "case", "mechanism_rows")
    disorder_hpo = serializers.SerializerMethodField()
    mechanisms = MechanismSerializer(
        many=True,
        required=False,
        source="mechanism_rows",
        help_text="The mechanisms of this episode's disorder; a mechanism code once per episode.",
    )

    class Meta:
        model = Episode
        fields = document_fields(Episode, after={"disorder": ("disorder_hpo",)})

    @extend_schema_field({"type": "string", "nullable": True, "example": "HP:0003072"})
    def get_disorder_hpo(self, obj: Episode) -> str | None:
        return DISORDER_HPO.get(obj.disorder)


class FindingSerializer(AnchoredRowSerializer):
    class Meta:
        model = Finding
        fields = document_fields(Finding)


class CalciumAroundSerializer(serializers.Serializer):
    lab_index = serializers.IntegerField(allow_null=True)
    basis = serializers.CharField()
    mg_dl = serializers.FloatField()
    comparator = serializers.CharField(help_text="Set for a censored value ('>15', '<8').")
    day = serializers.IntegerField(allow_null=True)


class DoseStepSerializer(RefuseUnknownFieldsMixin, ModelValidationMixin, serializers.ModelSerializer):
    """One step of an intervention's dose, in the order of the list (its position is its place in the list)."""

    not_model_fields = ("case", "intervention", "position")
    validate_unique = False
    value = DecimalNumberField()

    class Meta:
        model = DoseStep
        fields = ["dose_text", "value", "unit", "day", "day_is_approximate", "timing_text"]


class InterventionSerializer(AnchoredRowSerializer):
    not_model_fields = ("id", "case", "dose_steps", "anchor_intervention_index")

    agent = AgentCodeField()
    dose_steps = DoseStepSerializer(
        many=True,
        required=False,
        help_text="The dose in ordered steps where the source titrates it (each as printed, with its number, unit "
        "and timing where given); empty when the source gives one dose (dose_text / dose_value).",
    )
    # From the coded agent; null when the intervention names none (agent_text only).
    agent_name = serializers.CharField(source="agent.name", read_only=True, default=None, allow_null=True)
    atc = serializers.CharField(source="agent.atc_code", read_only=True, default=None, allow_null=True)
    drug_class = serializers.CharField(source="agent.drug_class", read_only=True, default=None, allow_null=True)
    dose_value = DecimalNumberField()

    class Meta:
        model = Intervention
        fields = document_fields(Intervention, after={"agent": ("agent_name", "atc", "drug_class")})


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


class AnalyteTableField(serializers.CharField):
    """An analyte code or unit, checked against the analyte table when a document is validated. The table is edited
    in the admin, so the OpenAPI schema gives a string (its values: /api/v1/vocabularies/) rather than an enum
    fixed when the schema was generated, and building the field reads nothing."""

    default_error_messages = {"invalid_choice": '"{input}" is not a valid choice.'}

    def __init__(self, choices, **kwargs) -> None:
        self.table_choices = choices
        kwargs["help_text"] = f"{kwargs.get('help_text', '')} The analyte table's values: GET /api/v1/vocabularies/."
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if value and value not in {code for code, _ in self.table_choices()}:
            self.fail("invalid_choice", input=value)
        return value


class LabResultSerializer(AnchoredRowSerializer):
    not_model_fields = (
        "id",
        "case",
        "follows_intervention_index",
        "follows_intervention_indexes",
        "anchor_intervention_index",
    )

    value = DecimalNumberField()
    value_high = DecimalNumberField()
    ref_low = DecimalNumberField()
    ref_high = DecimalNumberField()
    follows_intervention_index = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Position (0-based) in this case's interventions list of the intervention this result follows; "
        "when it follows several, the first of follows_intervention_indexes. Kept for compatibility: writing it "
        "alone links the result to that one intervention (null: to none).",
    )
    follows_intervention_indexes = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        required=False,
        help_text="Positions (0-based) in this case's interventions list of every intervention this result follows "
        "(several for a combination the source reports one result after), in ascending order. Sent together with "
        "follows_intervention_index, that one must be the first of these (or null for an empty list).",
    )
    analyte = AnalyteTableField(analytes.choices, help_text=LabResult._meta.get_field("analyte").help_text)
    unit = AnalyteTableField(
        analytes.unit_choices, required=False, allow_blank=True, help_text=LabResult._meta.get_field("unit").help_text
    )
    loinc = serializers.CharField(read_only=True, allow_null=True)
    si = serializers.SerializerMethodField()
    conventional = serializers.SerializerMethodField()
    interpretation = serializers.SerializerMethodField()

    class Meta:
        model = LabResult
        fields = document_fields(
            LabResult, after={"analyte": ("loinc",), "notes": ("si", "conventional", "interpretation")}
        )

    def to_representation(self, instance: LabResult) -> dict:
        data = super().to_representation(instance)
        index = self.context.get("intervention_index", {})
        positions = sorted(index[pk] for pk in instance.followed_ids() if pk in index)
        data["follows_intervention_index"] = positions[0] if positions else None
        data["follows_intervention_indexes"] = positions
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


class SourceSerializer(RefuseUnknownFieldsMixin, ModelValidationMixin, serializers.ModelSerializer):
    confirm = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        write_only=True,
        help_text='["duplicate"]: create (or change) the source although source_duplicates finds the same paper '
        "(same DOI, PMID or nearly the same title); without it such a write is refused with 409 naming the source.",
    )

    class Meta:
        model = Source
        fields = [
            "id", "kind", "citation", "title", "authors", "journal", "year", "volume", "issue", "pages", "doi", "pmid",
            "pmcid", "url", "text", "notes", "confirm",
        ]  # fmt: skip

    def run_validation(self, data=serializers.empty):
        """A likely duplicate of an existing source (cases.citations.source_duplicates) is refused unless confirmed
        (LikelySourceDuplicate), before any field is checked: a second source with the same DOI is a duplicate (409),
        not an invalid DOI."""
        if isinstance(data, Mapping):
            identity = {name: data.get(name) for name in ("doi", "pmid", "title") if isinstance(data.get(name), str)}
            confirm = data.get("confirm") if isinstance(data.get("confirm"), list) else []
            changes = {k: v for k, v in identity.items() if self.instance is None or v != getattr(self.instance, k)}
            if changes:
                stored = {k: getattr(self.instance, k) for k in ("doi", "pmid", "title")} if self.instance else {}
                check_source_duplicates(
                    **{**stored, **identity}, confirm=confirm, exclude=getattr(self.instance, "pk", None)
                )
        return super().run_validation(data)

    def validate(self, attrs: dict) -> dict:
        attrs.pop("confirm", None)  # used by run_validation; not a field of the source
        return super().validate(attrs)


class CaseSourceSerializer(SourceSerializer):
    """The source inside a case document: its text stays at /api/v1/sources/{id}/ (a case list carries no articles)."""

    class Meta(SourceSerializer.Meta):
        fields = [name for name in SourceSerializer.Meta.fields if name not in ("text", "confirm")]


class AgentSerializer(RefuseUnknownFieldsMixin, ModelValidationMixin, serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["code", "name", "category", "drug_class", "atc_code", "synonyms", "notes"]


class PatientSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
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


class OutcomeSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
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
    days = serializers.IntegerField(
        allow_null=True, help_text="From the start of the first calcium-directed intervention to the normal value."
    )
    intervention_index = serializers.IntegerField(
        allow_null=True,
        help_text="The intervention that preceded the first normal calcium: the one the source links the value to, "
        "else the last administered one before it (a later one when the first failed); the first calcium-directed "
        "one when calcium did not normalise.",
    )
    lab_index = serializers.IntegerField(allow_null=True)
    first_intervention_index = serializers.IntegerField(
        allow_null=True, help_text="The first administered calcium-directed intervention."
    )
    first_intervention_normalised = serializers.BooleanField(
        allow_null=True,
        help_text="Whether calcium was normal after the first one (before any later administered intervention); "
        "null when that cannot be told.",
    )


class InterventionCourseSerializer(serializers.Serializer):
    intervention_index = serializers.IntegerField()
    calcium_before = CalciumAroundSerializer(allow_null=True)
    calcium_after = CalciumAroundSerializer(allow_null=True)
    calcium_after_word = serializers.CharField(
        allow_null=True,
        help_text="Instead of a value: the source's word for the calcium it links to the intervention ('normal').",
    )
    calcium_normal_after = serializers.BooleanField(
        allow_null=True, help_text="Calcium normal after the intervention (from the value or the word)."
    )


class SuggestionSerializer(serializers.Serializer):
    code = serializers.CharField()
    rule = serializers.CharField()


class MechanismCheckSerializer(serializers.Serializer):
    recorded = serializers.ListField(child=serializers.CharField(), help_text="The curator's, excluded ones left out.")
    suggested = SuggestionSerializer(many=True, help_text="What the lab pattern points to (domain.md's rules).")
    agreement = serializers.ChoiceField(choices=MechanismAgreement.values)


class CompletenessSerializer(serializers.Serializer):
    score = serializers.IntegerField(help_text="CARE items the record holds.")
    of = serializers.IntegerField()
    present = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())


class EpisodeDerivedSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="1 for the first episode.")
    disorder = serializers.CharField()
    sequence = serializers.IntegerField()
    day = serializers.IntegerField(allow_null=True)
    lab_indexes = serializers.ListField(child=serializers.IntegerField(), help_text="The labs in this episode.")
    intervention_indexes = serializers.ListField(child=serializers.IntegerField())
    peak_calcium = ExtremeSerializer(allow_null=True)
    nadir_calcium = ExtremeSerializer(allow_null=True)
    peak_ctcae = GradeSerializer(allow_null=True)
    nadir_ctcae = GradeSerializer(allow_null=True)
    normalisation = NormalisationSerializer(
        allow_null=True, help_text="On the episode's side of the range, after its first calcium-directed intervention."
    )


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
        allow_null=True,
        help_text="After the first administered calcium-directed intervention; null if none or not assessable.",
    )
    interventions = InterventionCourseSerializer(many=True)
    mechanism_check = MechanismCheckSerializer(help_text="The first episode's mechanisms.")
    completeness = CompletenessSerializer()
    episodes = EpisodeDerivedSerializer(
        many=True,
        help_text="Per calcium-disorder episode, in order: the measures above over the episode's rows, read with "
        "its disorder. With one episode they are the case's.",
    )


class SourceIdField(serializers.PrimaryKeyRelatedField):
    """A source by id: from the sources an import looked up together (context["sources"], by id), else one query
    (and its errors) as any PrimaryKeyRelatedField."""

    def to_internal_value(self, data):
        found = self.context.get("sources", {}).get(data) if type(data) is int else None
        return found if found is not None else super().to_internal_value(data)


class CaseSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    id = serializers.CharField(source="registry_id", read_only=True)
    source = CaseSourceSerializer(read_only=True)
    source_id = SourceIdField(source="source", queryset=Source.objects.all(), write_only=True)
    patient = PatientSerializer(source="*", required=False)
    disorder_hpo = serializers.SerializerMethodField()
    episodes = EpisodeSerializer(
        many=True,
        required=False,
        help_text="The case's calcium-disorder episodes in timeline order, each with its mechanisms: the full form. "
        "disorder, mechanisms and outcome.calcium_outcome are the first episode's: readable always, writable alone "
        "for a case of one episode; sent with episodes they must agree with its first.",
    )
    outcome = OutcomeSerializer(source="*", required=False)
    tumors = TumorSerializer(many=True, required=False)
    metastases = MetastasisSerializer(many=True, required=False)
    mechanisms = MechanismSerializer(many=True, required=False)
    findings = FindingSerializer(many=True, required=False)
    labs = LabResultSerializer(many=True, required=False)
    interventions = InterventionSerializer(many=True, required=False)
    derived = serializers.SerializerMethodField()
    confirm = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        write_only=True,
        help_text='Warnings you confirm, by key: e.g. ["labs[2].value", "duplicate"]. A write that raises a warning '
        "not listed here is refused with 400, naming each warning's key (cases.warnings).",
    )
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
            "episodes",
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
            "confirm",
            "version",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        ]
        read_only_fields = ["status", "version", "created_at", "updated_at"]

    def to_internal_value(self, data):
        # The agents the document names, in one query rather than one per row (an import gives them for all).
        self.context["agents"] = agents_of_documents([data], self.context.get("agents"))
        return super().to_internal_value(data)

    def get_fields(self) -> dict:
        fields = super().get_fields()
        data = getattr(self, "initial_data", None)
        if isinstance(data, Mapping) and data.get("episodes") is not None:
            fields["disorder"].required = False  # the first episode's (_episode_errors)
        return fields

    def to_representation(self, instance: Case) -> dict:
        interventions = list(instance.interventions.all())
        self.context["intervention_index"] = {i.pk: n for n, i in enumerate(interventions)}
        episodes = list(instance.episodes.all())
        mechanisms = list(instance.mechanisms.all())
        for episode in episodes:  # from the prefetched mechanisms: no query per episode
            episode._mechanism_rows = [m for m in mechanisms if m.episode_id == episode.pk]
        data = super().to_representation(instance)
        if episodes:  # the top-level mechanisms are the first episode's
            first = episodes[0].pk
            data["mechanisms"] = [
                d for m, d in zip(mechanisms, data["mechanisms"], strict=True) if m.episode_id == first
            ]
        return data

    @extend_schema_field({"type": "string", "nullable": True, "example": "HP:0003072"})
    def get_disorder_hpo(self, obj: Case) -> str | None:
        return DISORDER_HPO.get(obj.disorder)

    @extend_schema_field(DerivedSerializer)
    def get_derived(self, obj: Case) -> dict:
        # Stored at write time (Case.compute_derived); computed here only for a case no write or
        # `manage.py refresh_derived` has stored it for yet (a raw fixture load, or rows from before the column).
        if obj.derived_json is not None:
            return obj.derived_json
        return derived_document(obj)

    def _mechanism_contradictions(self, attrs: dict) -> dict[str, str]:
        """A mechanism must fit the disorder (domain.md's table), whichever of the two the write changes."""
        disorder = attrs.get("disorder", self.instance.disorder if self.instance else "")
        if "mechanisms" in attrs:
            return _mechanism_list_errors(attrs["mechanisms"], disorder, "mechanisms")
        if self.instance is None or "disorder" not in attrs:
            return {}
        for m in self.instance.mechanisms.values("code", "certainty"):
            if reason := mechanism_contradiction(m["code"], disorder, m["certainty"]):
                return {"disorder": reason}
        return {}

    def _episode_errors(self, attrs: dict) -> dict[str, str]:
        """The episodes (issue 13): the full form (`episodes`) sets the case's disorder and calcium outcome from its
        first and must agree with them where they are sent too; the short form (disorder, mechanisms,
        outcome.calcium_outcome alone) writes the one episode of a case that has one, and is refused for a case of
        several. Episodes in timeline order, a mechanism once per episode and fitting its disorder."""
        sent = attrs.get("episodes")
        if sent is None:
            stored = list(self.instance.episodes.all()) if self.instance is not None else []
            if len(stored) > 1:
                short = {
                    "disorder": "disorder",
                    "mechanisms": "mechanisms",
                    "calcium_outcome": "outcome.calcium_outcome",
                }
                return {
                    path: f"This case has {len(stored)} calcium-disorder episodes: the top-level "
                    f"{name.replace('_', ' ')} is the first one's and can change only in `episodes` (send the "
                    "episodes, each with its disorder, outcome and mechanisms)."
                    for name, path in short.items()
                    if name in attrs and (name == "mechanisms" or attrs[name] != getattr(self.instance, name))
                }
            return {}
        if not sent:
            return {"episodes": "A case has at least one calcium-disorder episode."}
        errors: dict[str, str] = {}
        first = sent[0]
        outcome = first.get("calcium_outcome", CalciumOutcome.NOT_REPORTED)
        if "disorder" in attrs and attrs["disorder"] != first["disorder"]:
            errors["disorder"] = (
                "It is the first episode's disorder and disagrees with episodes[0].disorder: send the same, or leave "
                "it out."
            )
        if "calcium_outcome" in attrs and attrs["calcium_outcome"] != outcome:
            errors["outcome.calcium_outcome"] = (
                "It is the first episode's calcium outcome and disagrees with episodes[0].calcium_outcome: send the "
                "same, or leave it out."
            )

        def content(rows) -> list[dict]:
            return [{k: v for k, v in row.items() if k != "id"} for row in rows or []]

        if "mechanisms" in attrs and content(attrs["mechanisms"]) != content(first.get("mechanism_rows")):
            errors["mechanisms"] = (
                "They are the first episode's mechanisms and disagree with episodes[0].mechanisms: send the same, or "
                "leave them out."
            )
        attrs.pop("mechanisms", None)
        attrs["disorder"], attrs["calcium_outcome"] = first["disorder"], outcome
        for i, episode in enumerate(sent):
            if i:
                before = sent[i - 1]
                if episode.get("sequence", 1) <= before.get("sequence", 1):
                    errors[f"episodes[{i}].sequence"] = (
                        f"An episode starts after the one before it: give it a later place on the timeline (sequence) "
                        f"than episodes[{i - 1}] ({before.get('sequence', 1)})."
                    )
                elif None not in (episode.get("day"), before.get("day")) and episode["day"] < before["day"]:
                    errors[f"episodes[{i}].day"] = f"It starts after episodes[{i - 1}], so not on an earlier day."
            mechanisms = episode.get("mechanism_rows") or []
            errors.update(
                _mechanism_list_errors(mechanisms, episode["disorder"], f"episodes[{i}].mechanisms", " in this episode")
            )
        return errors

    def validate(self, attrs: dict) -> dict:
        errors: dict = self._episode_errors(attrs)
        interventions = attrs.get("interventions")
        n_interventions = (
            len(interventions)
            if interventions is not None
            else (self.instance.interventions.count() if self.instance else 0)
        )
        for n, lab in enumerate(attrs.get("labs") or []):
            errors.update(_follows_errors(n, lab, n_interventions))
        errors.update(_anchor_errors(attrs, self.instance))
        if "episodes" not in attrs:
            for field, reason in self._mechanism_contradictions(attrs).items():
                errors.setdefault(field, reason)  # a refused short form says why first
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _mechanism_list_errors(mechanisms: list[dict], disorder: str, path: str, where: str = "") -> dict[str, str]:
    """A mechanism code once in its list (the case's, or an episode's) and fitting the list's disorder (domain.md's
    table, unless recorded as excluded)."""
    errors: dict[str, str] = {}
    codes = [m["code"] for m in mechanisms]
    for j, m in enumerate(mechanisms):
        field = f"{path}[{j}].code"
        if m["code"] in codes[:j]:
            errors[field] = f"The mechanism {m['code']} is listed twice{where}."
        elif reason := mechanism_contradiction(m["code"], disorder, m.get("certainty", "")):
            errors[field] = reason
    return errors


def _anchor_errors(attrs: dict, instance: Case | None) -> dict[str, str]:
    """Rows timed from an intervention (cases.anchors): the position names one of the case's interventions (those
    of the document, else the stored ones), interventions are not timed from each other in a circle, and a day sent
    is the one the anchor gives (its day + the offset; none while its day is unknown). The day is filled in."""
    if "interventions" in attrs:
        interventions = [
            Timing(
                n,
                i.get("day"),
                i.get("day_is_approximate", False),
                i.get("anchor_intervention_index"),
                i.get("anchor_offset_days"),
                i.get("anchor_offset_is_approximate", False),
            )
            for n, i in enumerate(attrs["interventions"])
        ]
    else:
        stored = list(instance.interventions.all()) if instance is not None else []
        position = {i.pk: n for n, i in enumerate(stored)}
        interventions = [
            Timing(
                n,
                i.day,
                i.day_is_approximate,
                position.get(i.anchor_id),
                i.anchor_offset_days,
                i.anchor_offset_is_approximate,
            )
            for n, i in enumerate(stored)
        ]
    errors: dict[str, str] = {}
    for relation in ("metastases", "findings", "interventions", "labs"):
        for n, row in enumerate(attrs.get(relation) or []):
            index = row.get("anchor_intervention_index")
            if index is not None and index >= len(interventions):
                errors[f"{relation}[{n}].anchor_intervention_index"] = (
                    f"There is no intervention at position {index}; this case has {len(interventions)}."
                )
    if errors:
        return errors
    try:
        days = intervention_days(interventions)
    except AnchorCycle as exc:
        circle = " → ".join(str(k) for k in [*exc.keys, exc.keys[0]])
        return {
            f"interventions[{exc.keys[0]}].anchor_intervention_index": "Interventions are timed from each other in a "
            f"circle ({circle}, by position): one of them needs its own day."
        }
    for relation in ("metastases", "findings", "interventions", "labs"):
        for n, row in enumerate(attrs.get(relation) or []):
            index = row.get("anchor_intervention_index")
            if index is None:
                continue
            timing = Timing(
                n, None, False, index, row.get("anchor_offset_days"), row.get("anchor_offset_is_approximate", False)
            )
            day, approximate = days[n] if relation == "interventions" else relative_day(*days[index], timing)
            sent = row.get("day")
            if sent is not None and (sent, row.get("day_is_approximate", False)) != (day, approximate):
                errors[f"{relation}[{n}].day"] = (
                    f"The day comes from the intervention it is timed from: {day}"
                    f"{' (approximate)' if approximate else ''}. Send that, or leave the day out."
                    if day is not None
                    else "The intervention it is timed from has no day, so this row has none: leave the day out, "
                    "or give that intervention a day."
                )
            row["day"], row["day_is_approximate"] = day, approximate
    return errors


def _follows_errors(n: int, lab: dict, n_interventions: int) -> dict[str, str]:
    """Check a lab's links to interventions and leave them in lab["follows_intervention_indexes"] (sorted), from
    either field: the list, or the single index of the older clients (null or absent: none)."""
    single = lab.pop("follows_intervention_index", None)
    given = "follows_intervention_indexes" in lab
    indexes = lab.pop("follows_intervention_indexes", None) or []
    if not given:
        indexes = [] if single is None else [single]
    elif single is not None and (not indexes or single != min(indexes)):
        return {
            f"labs[{n}].follows_intervention_index": "It disagrees with follows_intervention_indexes: send one of "
            "them, or this one as the first of the list."
        }
    errors = {}
    for index in indexes:
        if index >= n_interventions:
            field = "follows_intervention_indexes" if given else "follows_intervention_index"
            errors[f"labs[{n}].{field}"] = (
                f"There is no intervention at position {index}; this case has {n_interventions}."
            )
    if len(set(indexes)) != len(indexes):
        errors[f"labs[{n}].follows_intervention_indexes"] = "An intervention is listed twice."
    lab["follows_intervention_indexes"] = sorted(set(indexes))
    return errors


def flatten(detail, prefix: str = "") -> list[dict]:
    """{"labs": [{}, {"unit": ["bad"]}]} -> [{"field": "labs[1].unit", "reason": "bad"}]."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                path = prefix
            elif isinstance(key, int) or str(key).isdigit():
                path = f"{prefix}[{key}]"
            elif prefix:
                path = f"{prefix}.{key}"
            else:
                path = str(key)
            out.extend(flatten(value, path))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [{"field": prefix or None, "reason": str(item)} for item in detail]
        out = []
        for n, item in enumerate(detail):
            if isinstance(item, str):
                out.append({"field": prefix or None, "reason": str(item)})
            elif item:
                out.extend(flatten(item, f"{prefix}[{n}]"))
        return out
    return [{"field": prefix or None, "reason": str(detail)}]


# --- Documents as files: the admin's JSON export and import ---------------------------------------------

# Returned by the API but owned by the server (or derived): ignored on import.
READ_ONLY = {*CASE_SERVER_FIELDS, "derived", "disorder_hpo", "source"}


class ImportFailed(Exception):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def export_documents(cases, request=None) -> list[dict]:
    cases = Case.objects.filter(pk__in=cases.values("pk")).with_children()
    return CaseSerializer(cases, many=True, context={"request": request}).data


SOURCE_MATCH_KEYS = ("doi", "pmid", "title", "citation")


def _source_for(document: dict, errors: list[str], where: str) -> int | None:
    """The source an imported document refers to: source_id, else the existing source that is the exported one's
    paper (cases.citations.source_duplicates: same DOI, PMID or nearly the same title; one matched by DOI or PMID
    first), else that source created anew. So an import never makes a second source of the same paper."""
    if document.get("source_id") is not None:
        return document["source_id"]
    source = document.get("source")
    if not isinstance(source, dict):
        errors.append(f"{where}: source: give source_id or the exported source object.")
        return None
    wrong = [key for key in SOURCE_MATCH_KEYS if source.get(key) is not None and not isinstance(source[key], str)]
    if wrong:  # checked before they reach a query
        errors.extend(f"{where}: source.{key}: expected a string." for key in wrong)
        return None
    found = source_duplicates(
        doi=source.get("doi") or "", pmid=source.get("pmid") or "", title=source.get("title") or ""
    )
    if found:
        return found[0].pk
    serializer = SourceSerializer(data={k: v for k, v in source.items() if k != "id"})
    if not serializer.is_valid():
        errors.extend(f"{where}: source.{e['field']}: {e['reason']}" for e in flatten(serializer.errors))
        return None
    return serializer.save().pk


def _shape_errors(document: dict, where: str) -> list[str]:
    """Problems of shape the serializer would trip over before it could name them: row lists that are not lists
    of objects."""
    errors = []
    for relation in ROW_KINDS:
        rows = document.get(relation)
        if rows is None:
            continue
        if not isinstance(rows, list):
            errors.append(f"{where}: {relation}: expected a list of objects, not {type(rows).__name__}.")
            continue
        errors.extend(
            f"{where}: {relation}[{n}]: expected an object, not {type(row).__name__}."
            for n, row in enumerate(rows)
            if not isinstance(row, dict)
        )
    return errors


def _strip_row_ids(document: dict) -> dict:
    def strip(row: dict) -> dict:
        row = {k: v for k, v in row.items() if k != "id"}
        if isinstance(row.get("mechanisms"), list):  # an episode's
            row["mechanisms"] = [strip(m) if isinstance(m, dict) else m for m in row["mechanisms"]]
        return row

    for relation in ROW_KINDS:
        if relation in document or relation != "episodes":  # no episodes: the short form (one episode)
            document[relation] = [strip(row) for row in document.get(relation) or []]
    return document


def confirm_in_documents(documents, key: str):
    """The documents with `key` added to each one's "confirm" list (a JSON import page's confirmation)."""
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list):
        return documents
    # A document that is not an object, or whose "confirm" is not a list, stays as it is: the import names its error.
    return [
        {**d, "confirm": [*d.get("confirm", []), key]}
        if isinstance(d, dict) and isinstance(d.get("confirm", []), list)
        else d
        for d in documents
    ]


def _validator(pool: dict[bool, CaseSerializer], document: dict, context: dict) -> CaseSerializer:
    """A CaseSerializer for the document, one per shape (with episodes or not: its get_fields depends on it) used
    again for every document of an import: building the fields of its nested row serializers (ModelSerializer's
    get_fields, from the models) took a third of the ~15 ms a document's validation took (issue 16). Each run
    validates afresh (run_validation returns new data); the rows' serializers are used for every row anyway."""
    shape = document.get("episodes") is not None
    serializer = pool.get(shape)
    if serializer is None:
        serializer = pool[shape] = CaseSerializer(data=document, context=context)
    else:
        serializer.initial_data = document
        for name in ("_validated_data", "_errors", "_data"):
            serializer.__dict__.pop(name, None)
    return serializer


IMPORT_REASON = "Imported from JSON"  # the history's reason for every row an import writes
BULK_DOCUMENTS = 1000  # written together (cases.imports): the queries are per chunk, the rows built in memory too


def import_cases(documents, *, user, progress=None, in_bulk: bool = True) -> list[Case]:
    """Create every document as a new draft case, or none: errors name the document, the field and the reason.
    progress(done, total), if given, is called after each document is checked (cases.jobs shows it).

    The valid documents are written together, each kind of row for all of them at once (cases.imports, issue 16);
    when one of them needs it (a rule only the writing checks, a warning not confirmed, a refusal of the database)
    that attempt is rolled back and they are written one by one through the edit service (case_save_document), which
    names the document. in_bulk=False writes them one by one from the start (the tests compare the two)."""
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list) or not documents:
        raise ImportFailed(["Expected a case document or a non-empty list of them."])
    errors: list[str] = []
    with transaction.atomic():
        validated = []
        agents = agents_of_documents(documents)  # every document's, in one query
        # The sources the documents name by id, in one query (a source given as an object is matched or created);
        # an id no database integer can hold is left to the field, which refuses it (SQLite would raise).
        named = {
            d["source_id"]
            for d in documents
            if isinstance(d, dict) and type(d.get("source_id")) is int and -(2**63) <= d["source_id"] < 2**63
        }
        sources = Source.objects.in_bulk(named) if named else {}
        validators: dict[bool, CaseSerializer] = {}
        for n, document in enumerate(documents, start=1):
            if progress is not None and n > 1:
                progress(n - 1, len(documents))
            if not isinstance(document, dict):
                errors.append(f"case {n}: not a JSON object")
                continue
            title = document.get("title")
            where = f"case {n}" + (f" ({title})" if isinstance(title, str) and title else "")
            shape = _shape_errors(document, where)
            if shape:
                errors.extend(shape)
                continue
            document = _strip_row_ids({k: v for k, v in document.items() if k not in READ_ONLY or k == "source"})
            document["source_id"] = source_id = _source_for(document, errors, where)
            document.pop("source", None)
            serializer = _validator(validators, document, {"agents": agents, "sources": sources})
            if serializer.is_valid():
                validated.append((where, serializer.validated_data))
            else:
                errors.extend(
                    f"{where}: {e['field']}: {e['reason']}"
                    for e in flatten(serializer.errors)
                    if source_id is not None or e["field"] != "source_id"  # the source's problem is named above
                )
        cases = []
        if not errors:  # before any write, so that each path below takes no source's lock in another order
            hold_duplicate_locks(data["source"].pk for _, data in validated)
        if not errors and in_bulk:
            try:
                with transaction.atomic():  # a savepoint: the attempt goes whole if the documents need the slow path
                    for start in range(0, len(validated), BULK_DOCUMENTS):  # each chunk sees the ones before it
                        chunk = [data for _, data in validated[start : start + BULK_DOCUMENTS]]
                        cases.extend(cases_create_in_bulk(chunk, user=user, reason=IMPORT_REASON))
            except (NotInBulk, DocumentError, DataError, IntegrityError):
                # A document breaks a rule only the writing checks, raises a warning it does not confirm, or is
                # refused by the database: written one by one, the same rules name the document and the field.
                cases = []
        if not errors and not cases:
            for where, data in validated:
                try:
                    cases.append(case_save_document(data=data, user=user, reason=IMPORT_REASON))
                except DocumentError as exc:  # a rule only the stored rows could check; that write is rolled back
                    errors.extend(f"{where}: {field}: {reason}" for field, reason in exc.errors.items())
                except (DataError, IntegrityError) as exc:  # the safety net, as an import error
                    errors.append(f"{where}: {database_refusal_reason(exc)}")
        if errors:
            transaction.set_rollback(True)  # sources and cases created for other documents go too
            raise ImportFailed(errors)
        return cases
