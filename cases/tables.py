"""The registry as tidy tables for pandas and R, and the codebook that describes them.

One table per kind of row (cases, tumors, metastases, mechanisms, findings, labs, interventions); every row
carries its case's `case_id` (CCR-000001) and its own row id. One value per cell: whatever a case has several
of lives in its long table. Cells: booleans `TRUE` / `FALSE`, missing values (and empty text) `NA`, numbers
as plain decimals, codes snake_case; external identifiers are CURIEs with the prefixes the Phenopacket export
uses (`PMID:`, `DOI:`, `HP:`, `LOINC:`, `ICDO:`, `ATC:`), so no reader takes a PMID for a number. Derived
values are read from the columns `Case.refresh_derived()` stores; per lab row, unit conversion and
interpretation are pure functions of the row itself.

The codebook is generated from these column definitions, which take dtype, meaning and allowed codes from the
model fields and vocabularies: it is never edited by hand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, RowNumber

from . import measures, quality
from . import vocabularies as v
from .models import (
    Agent,
    Case,
    DoseStep,
    Episode,
    Finding,
    Intervention,
    LabFollows,
    LabResult,
    Mechanism,
    Metastasis,
    Source,
    Tumor,
    registry_id,
)
from .rows import ROW_MODELS, TIMING, row_kind

# Logical type -> (pandas dtype, R colClasses). Nullable pandas types keep NA in integer and boolean columns.
DTYPES = {
    "string": ("string", "character"),
    "code": ("string", "character"),
    "integer": ("Int64", "integer"),
    "number": ("Float64", "numeric"),
    "boolean": ("boolean", "logical"),
    "datetime": ("string", "character"),  # ISO 8601 with offset; parse with pd.to_datetime / as.POSIXct
}
NA = "NA"
CHUNK_SIZE = 2000  # rows fetched per round trip of the server-side cursor


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    system: str = ""
    external_code: str = ""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    meaning: str
    value: Callable[[Any], Any]
    unit: str = ""
    codes: tuple[Code, ...] | AnalyteCodes = ()
    # The model field the cell shows as it is, as a lookup from the row ("source__kind"); empty for a computed cell.
    # PostgreSQL's COPY export (cases.tables_copy) reads the field itself where it is set.
    path: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[Column, ...]
    rows: Callable[[QuerySet], QuerySet]  # the table's rows for a queryset of cases, in a fixed order

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# --- columns from model fields ----------------------------------------------------------------------------

# External codes beside a vocabulary's own codes, by vocabulary (domain.md, via cases.vocabularies/measures).
EXTERNAL_CODES: dict[type, tuple[str, Callable[[str], str | None]]] = {
    v.Disorder: ("HPO", lambda code: v.DISORDER_HPO.get(code)),
    v.TumorSite: ("ICD-O-3 topography", lambda code: v.TUMOR_SITE_TOPOGRAPHY.get(code)),
}


class AnalyteCodes:
    """The analyte table's codes (with their LOINC codes), read each time they are listed: the table is edited in the
    admin. `only` keeps those codes, in its order. Never empty (the protected analytes cannot be deleted), so a
    column holding them is a code column without reading the table when the tables are defined."""

    def __init__(self, only: Sequence[str] | None = None, *, units: bool = False) -> None:
        self.only = only
        self.units = units  # the units of every analyte instead of the analytes

    def _codes(self) -> tuple[Code, ...]:
        table = measures.analytes()
        if self.units:
            return tuple(Code(u, u) for u in sorted({u for a in table.values() for u in a.accepted_units}))
        codes = table if self.only is None else [code for code in self.only if code in table]
        return tuple(
            Code(code, table[code].label, "LOINC" if table[code].loinc else "", ", ".join(table[code].loinc_codes))
            for code in codes
        )

    def __iter__(self) -> Iterator[Code]:
        return iter(self._codes())

    def __len__(self) -> int:
        return len(self._codes())

    def __bool__(self) -> bool:
        return True


def codes_of(choices: type[models.TextChoices]) -> tuple[Code, ...]:
    system, external = EXTERNAL_CODES.get(choices, ("", lambda code: None))
    return tuple(Code(c.value, c.label, system if external(c.value) else "", external(c.value) or "") for c in choices)


def _field_dtype(field: models.Field) -> str:
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, (models.IntegerField, models.ForeignKey)):
        return "integer"
    if isinstance(field, models.DecimalField):
        return "number"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    return "code" if field.choices else "string"


def _meaning(field: models.Field) -> str:
    text = str(field.help_text or field.verbose_name)
    return text[0].upper() + text[1:]


def field(
    model: type[models.Model],
    name: str,
    *,
    column: str | None = None,
    meaning: str = "",
    unit: str = "",
    choices: type[models.TextChoices] | None = None,
    codes: AnalyteCodes | None = None,
    value: Callable[[Any], Any] | None = None,
    through: str = "",
) -> Column:
    """A column holding a model field: dtype, meaning and allowed codes come from the field. `through` names the
    relation from the row to `model` (a case's source)."""
    f = model._meta.get_field(name)
    if not isinstance(f, models.Field):  # a reverse relation has no column
        raise TypeError(f"{model.__name__}.{name} is not a field of its own.")
    if codes is None:
        if choices is not None:
            codes = codes_of(choices)
        elif f.choices:
            codes = tuple(Code(str(code), str(label)) for code, label in f.choices)
        else:
            codes = ()
    attribute = f.attname if isinstance(f, models.ForeignKey) else name
    path = "" if value else f"{through}__{name}" if through else name
    if value is None:
        value = (
            (lambda row: getattr(getattr(row, through), attribute)) if through else lambda row: getattr(row, attribute)
        )
    return Column(
        name=column or name,
        dtype="code" if codes else _field_dtype(f),
        meaning=meaning or _meaning(f),
        value=value,
        unit=unit,
        codes=codes,
        path=path,
    )


def curie(prefix: str, code: str | None) -> str | None:
    return f"{prefix}:{code}" if code else None


CASE_ID = Column(
    "case_id", "string", "The registry's case id (CCR- and six digits).", lambda row: registry_id(row.case_id)
)


def row_id(name: str, what: str) -> Column:
    return Column(
        name,
        "integer",
        f"The registry's id of this {what} (stable across exports and releases).",
        lambda row: row.pk,
        path="pk",
    )


def row_columns(model: type[models.Model], own: dict[str, Column | tuple[Column, ...]]) -> tuple[Column, ...]:
    """A row table's columns after its ids: the row kind's fields (cases.rows, in its order) with the timing
    columns first. `own` gives a field its own column(s) where the model field's is not all: a CURIE, a unit or a
    meaning, the computed columns that follow it; () leaves the field out."""
    kind = row_kind(model)
    kind.check_names(own, f"The {kind.relation} table")
    timing = [name for name in kind.fields if name in TIMING]
    columns: list[Column] = []
    shared = {
        "anchor": lambda: field(
            model,
            "anchor",
            column="anchor_intervention_id",
            meaning="intervention_id of the intervention this row's time is given relative to (interventions.csv); "
            "its day is then that intervention's day plus anchor_offset_days.",
        ),
        "anchor_offset_days": lambda: field(model, "anchor_offset_days", unit="days"),
    }
    for name in [*timing, *(name for name in kind.fields if name not in TIMING)]:
        if name in own:
            special = own[name]
        elif name in kind.nested:
            raise ValueError(f"The {kind.relation} table must say where {name} goes (rows of their own: ()).")
        else:
            special = shared[name]() if name in shared else field(model, name, unit="days" if name == "day" else "")
        columns.extend(special if isinstance(special, tuple) else (special,))
    return tuple(columns)


CALCIUM_BASIS = AnalyteCodes(only=measures.CALCIUM_ANALYTES)
LIMIT_BASIS = (
    Code(measures.BASIS_REPORTED, "Against the reference range the source reports"),
    Code(measures.BASIS_DEFAULT, "Against the registry's documented default range (no range reported)"),
    Code(measures.BASIS_NONE, "No range available"),
)
INTERPRETATION_BASIS = (*LIMIT_BASIS, Code(measures.BASIS_QUALITATIVE, "The source's own qualitative word"))
INTERPRETATION = tuple(
    Code(code, code.capitalize()) for code in (measures.HIGH, measures.LOW, measures.NORMAL, measures.INDETERMINATE)
)
AGREEMENT = (
    Code(quality.AGREE, "A recorded mechanism is among those the labs suggest"),
    Code(quality.DISAGREE, "The labs suggest only other mechanisms"),
    Code(quality.NO_SUGGESTION, "No rule of the mechanism check applies"),
    Code(quality.NO_MECHANISM, "The curator recorded no mechanism"),
)
CTCAE_GRADE = "CTCAE v5.0 grade (0 = within limits)"


def derived(name: str, dtype: str, meaning: str, *, unit: str = "", codes: tuple[Code, ...] = ()) -> Column:
    """A derived measure stored on Case by refresh_derived() (empty text stored as missing)."""
    return Column(name, dtype, meaning, lambda row: getattr(row, name), unit=unit, codes=codes, path=name)


# --- the tables -------------------------------------------------------------------------------------------


def _cases_rows(cases: QuerySet) -> QuerySet:
    first = Intervention.objects.filter(
        case=OuterRef("pk"), intent=v.Intent.CALCIUM_DIRECTED, status=v.InterventionStatus.ADMINISTERED
    ).order_by("sequence", "id")
    # The agent's code looked up for the first row alone: a join inside the subquery is planned (a hash of the
    # agent table) for every case.
    code = Agent.objects.filter(pk=OuterRef("agent_id")).order_by().values("code")
    name = first.annotate(name=Coalesce(Subquery(code), models.F("agent_text"))).values("name")[:1]
    return cases.select_related("source").annotate(first_calcium_directed=Subquery(name))  # one subquery per case


def _children(model: type[models.Model], *order: str, prefetch: tuple[str, ...] = ()) -> Callable[[QuerySet], QuerySet]:
    related = row_kind(model).related if model in ROW_MODELS else ()  # the agent the row names, read with it

    def rows(cases: QuerySet) -> QuerySet:
        selected = model._default_manager.filter(case__in=cases.order_by().values("pk")).order_by("case_id", *order)
        selected = selected.prefetch_related(*prefetch) if prefetch else selected  # one query per chunk
        return selected.select_related(*related) if related else selected

    return rows


CASES = Table(
    "cases",
    "One row per case: patient, disorder, source, outcome and the derived calcium measures.",
    (
        Column("case_id", "string", "The registry's case id (CCR- and six digits).", lambda c: c.registry_id),
        field(Case, "status", meaning="Curation status (analysts see published cases only)."),
        field(Case, "title"),
        field(Case, "case_label"),
        field(Source, "kind", column="source_kind", meaning="Kind of source.", through="source"),
        field(Source, "citation", column="source_citation", through="source"),
        field(Source, "title", column="source_title", meaning="Title of the source.", through="source"),
        field(Source, "journal", column="source_journal", through="source"),
        field(Source, "year", column="source_year", meaning="Publication year.", through="source"),
        Column(
            "doi",
            "string",
            "DOI of the source as a CURIE (DOI:10.1155/2013/871917).",
            lambda c: curie("DOI", c.source.doi),
        ),
        Column(
            "pmid",
            "string",
            "PubMed id of the source as a CURIE (PMID:23710001).",
            lambda c: curie("PMID", c.source.pmid),
        ),
        field(Case, "age_years", unit="years"),
        Column("age_90_or_over", "boolean", "Age is 90 or older (stored as 90).", lambda c: c.age_is_90_or_over),
        field(Case, "sex", meaning="Sex as reported."),
        field(Case, "menopausal_status"),
        field(Case, "disorder", meaning="The calcium disorder the case is about.", choices=v.Disorder),
        field(Case, "index_event"),
        derived(
            "main_mechanism",
            "code",
            "The first recorded (not excluded) mechanism by rank; all are in mechanisms.csv.",
            codes=codes_of(v.MechanismCode),
        ),
        derived(
            "suggested_mechanism",
            "code",
            "The mechanism the lab pattern suggests (domain.md's table).",
            codes=codes_of(v.MechanismCode),
        ),
        derived("mechanism_agreement", "code", "Recorded mechanism against the suggested one.", codes=AGREEMENT),
        derived("completeness_score", "integer", "CARE reporting items the record holds, of 6."),
        derived("peak_calcium_mg_dl", "number", "Highest serum (total or corrected) calcium.", unit="mg/dL"),
        derived("peak_calcium_mmol_l", "number", "Highest serum (total or corrected) calcium.", unit="mmol/L"),
        derived("peak_calcium_basis", "code", "Which calcium the peak is.", codes=CALCIUM_BASIS),
        derived(
            "peak_calcium_comparator",
            "code",
            "'>' when the peak is a censored value (the peak is above it).",
            codes=codes_of(v.Comparator),
        ),
        derived("nadir_calcium_mg_dl", "number", "Lowest serum (total or corrected) calcium.", unit="mg/dL"),
        derived("nadir_calcium_mmol_l", "number", "Lowest serum (total or corrected) calcium.", unit="mmol/L"),
        derived(
            "nadir_calcium_comparator",
            "code",
            "Comparator when the nadir is a censored value.",
            codes=codes_of(v.Comparator),
        ),
        derived("peak_ctcae_grade", "integer", f"Hypercalcemia {CTCAE_GRADE}, worst value."),
        derived("peak_ctcae_basis", "code", "Which calcium the hypercalcemia grade is from.", codes=CALCIUM_BASIS),
        derived("peak_ctcae_limit_basis", "code", "Which limits the hypercalcemia grade used.", codes=LIMIT_BASIS),
        derived("nadir_ctcae_grade", "integer", f"Hypocalcemia {CTCAE_GRADE}, worst value."),
        derived("ionized_peak_mmol_l", "number", "Highest ionized calcium.", unit="mmol/L"),
        derived("ionized_peak_ctcae_grade", "integer", f"Hypercalcemia {CTCAE_GRADE} from ionized calcium."),
        derived("ionized_nadir_mmol_l", "number", "Lowest ionized calcium.", unit="mmol/L"),
        derived("ionized_nadir_ctcae_grade", "integer", f"Hypocalcemia {CTCAE_GRADE} from ionized calcium."),
        Column(
            "first_calcium_directed",
            "string",
            "First administered calcium-directed intervention: its agent "
            "code, or the name as reported when it has no agent.",
            lambda c: c.first_calcium_directed,
        ),
        derived(
            "calcium_normalised",
            "boolean",
            "Calcium back on the normal side of the disorder's limit after "
            "the first administered calcium-directed intervention (NA: not judged).",
        ),
        derived(
            "days_to_normalisation", "integer", "Days from that intervention to the first normal calcium.", unit="days"
        ),
        derived(
            "first_intervention_normalised",
            "boolean",
            "Whether the first administered calcium-directed intervention is the one calcium normalised after "
            "(FALSE: it failed and a later one preceded normalisation; NA: not judged).",
        ),
        field(Case, "vital_status", meaning="Vital status at the end of follow-up."),
        field(Case, "follow_up_days", unit="days"),
        field(Case, "follow_up_text"),
        field(Case, "calcium_outcome", meaning="Calcium at the end of follow-up, as reported."),
        field(Case, "tumor_response", meaning="Tumor response over the follow-up, as reported."),
        field(Case, "version"),
        field(Case, "updated_at", meaning="Last change of the record (ISO 8601, UTC)."),
    ),
    _cases_rows,
)

TUMORS = Table(
    "tumors",
    "One row per primary tumor; its timing is the time of diagnosis.",
    (
        CASE_ID,
        row_id("tumor_id", "tumor"),
        *row_columns(
            Tumor,
            {
                "site": field(Tumor, "site", choices=v.TumorSite),
                "icdo3_topography": Column(
                    "icdo3_topography",
                    "string",
                    "ICD-O-3 topography as a CURIE (ICDO:C50.9).",
                    lambda t: curie("ICDO", t.icdo3_topography),
                ),
                "icdo3_morphology": Column(
                    "icdo3_morphology",
                    "string",
                    "ICD-O-3 morphology as a CURIE (ICDO:8500/3), only where the histology maps without "
                    "interpretation.",
                    lambda t: curie("ICDO", t.icdo3_morphology),
                ),
                **{
                    name: field(Tumor, name, meaning=f"{name.upper()} status (LOINC:{v.RECEPTOR_LOINC[name]}).")
                    for name in ("er", "pr", "her2")
                },
                "size_mm": field(Tumor, "size_mm", unit="mm"),
            },
        ),
    ),
    _children(Tumor, "sequence", "id"),
)

METASTASES = Table(
    "metastases",
    "One row per metastasis site, present or explicitly absent.",
    (
        CASE_ID,
        row_id("metastasis_id", "metastasis"),
        *row_columns(
            Metastasis,
            {
                "present": field(
                    Metastasis,
                    "present",
                    meaning="TRUE: metastasis at this site; FALSE: the source says the site was free.",
                )
            },
        ),
    ),
    _children(Metastasis, "sequence", "id"),
)

MECHANISMS = Table(
    "mechanisms",
    "One row per mechanism the curator recorded, excluded ones included.",
    (
        CASE_ID,
        row_id("mechanism_id", "mechanism"),
        *row_columns(
            Mechanism,
            {
                "episode": Column(
                    "episode_id",
                    "integer",
                    "episode_id of the calcium-disorder episode this mechanism explains (episodes.csv).",
                    lambda m: m.episode_id,
                ),
                "code": field(Mechanism, "code", column="mechanism", meaning="Mechanism of the calcium disorder."),
                "certainty": (
                    field(Mechanism, "certainty"),
                    Column(
                        "recorded",
                        "boolean",
                        "TRUE unless the certainty is 'excluded' (a recorded mechanism).",
                        lambda m: m.is_recorded,
                    ),
                ),
                "suspect_agent": (
                    Column(
                        "suspect_agent",
                        "string",
                        "Drug-related mechanisms: the agent's code (agents.csv of the API).",
                        lambda m: m.suspect_agent.code if m.suspect_agent_id else None,
                    ),
                    Column(
                        "suspect_agent_atc",
                        "string",
                        "The suspect agent's ATC code as a CURIE (ATC:M05BX04).",
                        lambda m: curie("ATC", m.suspect_agent.atc_code) if m.suspect_agent_id else None,
                    ),
                ),
            },
        ),
    ),
    _children(Mechanism, "rank", "id"),
)


def _episode_derived(key: str, *path: str) -> Callable[[Episode], Any]:
    """A value of the episode's block in its case's stored derived measures (cases.derived: derived.episodes)."""

    def value(e: Episode):
        blocks = (e.case.derived_json or {}).get("episodes") or []
        node = blocks[e.position - 1] if e.position <= len(blocks) else None
        for name in (key, *path):
            node = node.get(name) if isinstance(node, dict) else None
        return node

    return value


def _normalised_after(key: str) -> Callable[[Episode], Any]:
    """The intervention_id of the intervention the episode's normalisation names (stored as a position)."""

    def value(e: Episode):
        index = _episode_derived("normalisation", key)(e)
        interventions = e.case.interventions.all()  # prefetched per chunk, in the derived block's order
        return interventions[index].pk if index is not None and index < len(interventions) else None

    return value


def _episodes_rows(cases: QuerySet) -> QuerySet:
    return (
        _children(Episode, "sequence", "id", prefetch=("case__interventions",))(cases)
        .select_related("case")
        .annotate(
            position=models.Window(
                RowNumber(),
                partition_by=[models.F("case_id")],
                order_by=[models.F("sequence").asc(), models.F("id").asc()],
            )
        )
    )


EPISODES = Table(
    "episodes",
    "One row per calcium-disorder episode of a case, in order (issue 13): a case holds one or more. An episode runs "
    "from its start (sequence, day) to the next one's; the first also takes what comes before it. Its derived "
    "measures are over its own labs and interventions, read with its disorder.",
    (
        CASE_ID,
        row_id("episode_id", "episode"),
        Column("position", "integer", "The episode's place in its case (1 = the first).", lambda e: e.position),
        *row_columns(Episode, {"disorder": field(Episode, "disorder", choices=v.Disorder), "mechanisms": ()}),
        Column(
            "peak_calcium_mg_dl",
            "number",
            "Highest total or albumin-corrected calcium of the episode.",
            _episode_derived("peak_calcium", "mg_dl"),
            unit="mg/dL",
        ),
        Column(
            "peak_calcium_comparator",
            "string",
            "'>' when the peak is a censored value.",
            _episode_derived("peak_calcium", "comparator"),
        ),
        Column(
            "nadir_calcium_mg_dl",
            "number",
            "Lowest total or albumin-corrected calcium of the episode.",
            _episode_derived("nadir_calcium", "mg_dl"),
            unit="mg/dL",
        ),
        Column(
            "nadir_calcium_comparator",
            "string",
            "'<' when the nadir is a censored value.",
            _episode_derived("nadir_calcium", "comparator"),
        ),
        Column(
            "peak_ctcae_grade",
            "integer",
            f"{CTCAE_GRADE}, hypercalcemia, of the episode's peak.",
            _episode_derived("peak_ctcae", "grade"),
        ),
        Column(
            "nadir_ctcae_grade",
            "integer",
            f"{CTCAE_GRADE}, hypocalcemia, of the episode's nadir.",
            _episode_derived("nadir_ctcae", "grade"),
        ),
        Column(
            "calcium_normalised",
            "boolean",
            "Calcium back on the normal side of the episode's disorder's limit after its first calcium-directed "
            "intervention.",
            _episode_derived("normalisation", "normalised"),
        ),
        Column(
            "days_to_normalisation",
            "integer",
            "From the start of the episode's first calcium-directed intervention to the normal value.",
            _episode_derived("normalisation", "days"),
            unit="days",
        ),
        Column(
            "normalised_after_intervention_id",
            "integer",
            "intervention_id (interventions.csv) of the intervention that preceded the first normal calcium of the "
            "episode.",
            _normalised_after("intervention_index"),
        ),
        Column(
            "first_intervention_id",
            "integer",
            "intervention_id of the episode's first administered calcium-directed intervention.",
            _normalised_after("first_intervention_index"),
        ),
        Column(
            "first_intervention_normalised",
            "boolean",
            "Whether calcium was normal after that first intervention (before any later one).",
            _episode_derived("normalisation", "first_intervention_normalised"),
        ),
    ),
    _episodes_rows,
)

FINDINGS = Table(
    "findings",
    "One row per symptom or sign, present or explicitly absent.",
    (
        CASE_ID,
        row_id("finding_id", "finding"),
        *row_columns(
            Finding,
            {"hpo_id": field(Finding, "hpo_id", meaning="HPO term (HP:0001254), only where a checked one exists.")},
        ),
    ),
    _children(Finding, "sequence", "id"),
)


def _once(lab: LabResult, key: str, compute: Callable[[], Any]) -> Any:
    """Computed once per row although several columns read it (conversions, interpretation)."""
    memo = lab.__dict__.setdefault("_export_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _lab_value(unit_of: Callable[[measures.Analyte], str], key: str) -> Callable[[LabResult], Any]:
    def value(lab: LabResult):
        unit = unit_of(measures.analyte(lab.analyte))
        return (_once(lab, unit, lambda: lab.in_unit(unit)) or {}).get(key)

    return value


def _interpretation(lab: LabResult) -> measures.Interpretation:
    return _once(lab, "interpretation", lab.interpretation)


def _lab_unit(unit_of: Callable[[measures.Analyte], str]) -> Callable[[LabResult], Any]:
    """The unit of the converted columns, only where the value converts (PTHrP printed in pg/mL does not)."""

    def unit(lab: LabResult):
        target = unit_of(measures.analyte(lab.analyte))
        return target if lab.unit and _once(lab, target, lambda: lab.in_unit(target)) is not None else None

    return unit


def _si(a: measures.Analyte) -> str:
    return a.si_unit


def _conventional(a: measures.Analyte) -> str:
    return a.conventional_unit


def _converted(prefix: str, unit_of: Callable[[measures.Analyte], str], units: str) -> tuple[Column, ...]:
    unit = f"column {prefix}_unit"
    return (
        Column(f"{prefix}_value", "number", f"The value in {units} units.", _lab_value(unit_of, "value"), unit=unit),
        Column(
            f"{prefix}_value_high",
            "number",
            f"The high end of a range in {units} units.",
            _lab_value(unit_of, "value_high"),
            unit=unit,
        ),
        Column(f"{prefix}_unit", "string", f"The analyte's {units} unit.", _lab_unit(unit_of)),
    )


# Per lab row, after its reference range: the value in the analyte's SI and conventional units, and interpreted.
LAB_DERIVED = (
    *_converted("si", _si, "SI"),
    *_converted("conventional", _conventional, "conventional"),
    Column(
        "interpretation",
        "code",
        "The value against its reference range.",
        lambda lab: _interpretation(lab).flag,
        codes=INTERPRETATION,
    ),
    Column(
        "interpretation_basis",
        "code",
        "Which range the interpretation used.",
        lambda lab: _interpretation(lab).basis,
        codes=INTERPRETATION_BASIS,
    ),
)

LABS = Table(
    "labs",
    "One row per lab result, in the unit reported and converted to SI and conventional units.",
    (
        CASE_ID,
        row_id("lab_id", "lab result"),
        *row_columns(
            LabResult,
            {
                "analyte": (
                    field(LabResult, "analyte", meaning="What was measured.", codes=AnalyteCodes()),
                    Column(
                        "loinc",
                        "string",
                        "LOINC code of the analyte in this unit and specimen, as a CURIE (LOINC:17861-6).",
                        lambda lab: curie("LOINC", lab.loinc),
                    ),
                ),
                "specimen": field(LabResult, "specimen", meaning="Specimen, where reported."),
                "value": field(
                    LabResult,
                    "value",
                    meaning="The number reported; the low end of a reported range.",
                    unit="column unit",
                ),
                "value_high": field(LabResult, "value_high", unit="column unit"),
                "unit": field(
                    LabResult,
                    "unit",
                    meaning="Unit of value, value_high, ref_low and ref_high, as reported.",
                    codes=AnalyteCodes(units=True),
                ),
                "ref_low": field(LabResult, "ref_low", meaning="Reference low as reported.", unit="column unit"),
                "ref_high": (
                    field(LabResult, "ref_high", meaning="Reference high as reported.", unit="column unit"),
                    *LAB_DERIVED,
                ),
                "follow_links": Column(
                    "follows_intervention_id",
                    "integer",
                    "intervention_id of the intervention this result is reported after (interventions.csv); of "
                    "several, the lowest (all of them: lab_follows.csv).",
                    lambda lab: next(iter(lab.followed_ids()), None),
                ),
                "notes": (),  # not exported: a curator's notes on one lab result
            },
        ),
    ),
    _children(LabResult, "sequence", "id", prefetch=("follow_links",)),
)

INTERVENTIONS = Table(
    "interventions",
    "One row per intervention (drug, procedure, radiotherapy, supportive care); its timing is its start.",
    (
        CASE_ID,
        row_id("intervention_id", "intervention"),
        *row_columns(
            Intervention,
            {
                "agent": (
                    Column(
                        "agent",
                        "string",
                        "The agent's code in the registry's agent list (NA: not named in the list).",
                        lambda i: i.agent.code if i.agent_id else None,
                    ),
                    Column(
                        "agent_atc",
                        "string",
                        "The agent's ATC code as a CURIE (ATC:M05BA08).",
                        lambda i: curie("ATC", i.agent.atc_code) if i.agent_id else None,
                    ),
                    Column(
                        "agent_drug_class",
                        "string",
                        "The agent's drug class.",
                        lambda i: i.agent.drug_class if i.agent_id else None,
                    ),
                ),
                "intent": field(Intervention, "intent", meaning="What the intervention was directed at."),
                "status": field(Intervention, "status", meaning="Administered, recommended or advised against."),
                "dose_value": field(Intervention, "dose_value", meaning="Dose as a number.", unit="column dose_unit"),
                "dose_unit": field(Intervention, "dose_unit", meaning="Unit of the dose, as reported."),
                "dose_steps": (),  # rows of their own: dose_steps.csv
                "route": field(Intervention, "route", meaning="Route of administration."),
                "end_day": field(Intervention, "end_day", unit="days"),
                "end_day_is_approximate": field(
                    Intervention, "end_day_is_approximate", meaning="The end day is an estimate."
                ),
                "end_timing_text": field(Intervention, "end_timing_text", meaning="The source's phrase for the end."),
                "duration_days": field(Intervention, "duration_days", unit="days"),
                "calcium_response": field(
                    Intervention,
                    "calcium_response",
                    meaning="Calcium response to this intervention (administered only).",
                ),
                "adverse_events_text": (
                    field(Intervention, "adverse_events_text", meaning="Adverse events as reported."),
                    derived(
                        "calcium_before_mg_dl",
                        "number",
                        "Last serum calcium before the intervention (administered only).",
                        unit="mg/dL",
                    ),
                    derived(
                        "calcium_after_mg_dl",
                        "number",
                        "The calcium the source links to it, or else the first before the next administered "
                        "intervention.",
                        unit="mg/dL",
                    ),
                    derived(
                        "calcium_normal_after",
                        "boolean",
                        "That calcium is on the normal side of the disorder's limit.",
                    ),
                    derived("days_to_calcium_after", "integer", "Days from the start to that calcium.", unit="days"),
                ),
                "notes": field(Intervention, "notes", meaning="Curator's notes on the intervention."),
            },
        ),
    ),
    _children(Intervention, "sequence", "id"),
)

LAB_FOLLOWS = Table(
    "lab_follows",
    "One row per link of a lab result to an intervention it is reported after (several for a combination).",
    (
        CASE_ID,
        Column("lab_id", "integer", "lab_id of the result (labs.csv).", lambda link: link.lab_id),
        Column(
            "intervention_id",
            "integer",
            "intervention_id it follows (interventions.csv).",
            lambda link: link.intervention_id,
        ),
    ),
    _children(LabFollows, "lab_id", "intervention_id"),
)

DOSE_STEPS = Table(
    "dose_steps",
    "One row per step of an intervention's dose where the source gives it in steps (a titration), in order.",
    (
        CASE_ID,
        Column(
            "intervention_id",
            "integer",
            "intervention_id of the intervention (interventions.csv).",
            lambda s: s.intervention_id,
        ),
        field(DoseStep, "position", meaning="The step's place within the intervention (1, 2, 3, ...)."),
        field(DoseStep, "dose_text", meaning="The step's dose as printed."),
        field(DoseStep, "value", meaning="The step's dose as a number, where printed.", unit="column unit"),
        field(DoseStep, "unit", meaning="The unit of value, as printed."),
        field(DoseStep, "day", meaning="Day the step started, as an offset from day 0."),
        field(DoseStep, "day_is_approximate"),
        field(DoseStep, "timing_text", meaning="The source's timing phrase for the step."),
    ),
    _children(DoseStep, "intervention_id", "position", "id"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CASES,
        EPISODES,
        TUMORS,
        METASTASES,
        MECHANISMS,
        FINDINGS,
        LABS,
        INTERVENTIONS,
        LAB_FOLLOWS,
        DOSE_STEPS,
    )
}


# --- cells and streaming ----------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    if text != text.strip():  # float() would accept "\t-3"; a spreadsheet may not read it as a number
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def cell(value) -> str:
    """One CSV cell: NA for missing or empty, TRUE/FALSE, plain decimals; text that a spreadsheet would run as a
    formula behind a leading apostrophe (OWASP's recommendation), unless it is a number ("-3")."""
    if value is None or value == "":
        return NA
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    value = str(value)
    if value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _quoted_line(cells: list[str]) -> str:
    """A row as csv.writer writes it, except that a cell with a carriage return is quoted: csv quotes only the
    characters of its line terminator (a line feed), and a reader ends the row at a bare carriage return.
    PostgreSQL's COPY (cases.tables_copy) quotes it too."""
    return ",".join('"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\r\n') else c for c in cells) + "\n"


def table_lines(table: Table, rows, *, flush_at: int = 1 << 16) -> Iterator[str]:
    """The CSV text of `rows` (model instances) in pieces of about 64 KB: header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows:
        cells = [cell(column.value(row)) for column in table.columns]
        if any("\r" in c for c in cells):
            buffer.write(_quoted_line(cells))
        else:
            writer.writerow(cells)
        if buffer.tell() >= flush_at:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def table_csv(table: Table, cases: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[str] | Iterator[bytes]:
    """The table for these cases in constant memory: on PostgreSQL, the tables cases.tables_copy computes in the
    database come out of one COPY (UTF-8 bytes); the others, and every table on SQLite, are written here."""
    if connection.vendor == "postgresql":
        from . import tables_copy  # it builds on this module's tables

        if table.name in tables_copy.COPIED:
            return tables_copy.copy_csv(table, cases)
    return python_csv(table, cases, chunk_size=chunk_size)


def python_csv(table: Table, cases: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """The table written row by row from a server-side cursor: one query (and the prefetches per chunk)."""
    return table_lines(table, table.rows(cases).iterator(chunk_size=chunk_size))


# --- the codebook -----------------------------------------------------------------------------------------

CODEBOOK_COLUMNS = ["table", "column", "dtype", "pandas_dtype", "r_class", "unit", "meaning", "codes"]


def codebook() -> list[dict]:
    """Every column of every table: dtype (logical, pandas, R), unit, meaning, allowed codes."""
    return [
        {
            "table": table.name,
            "column": c.name,
            "dtype": c.dtype,
            "pandas_dtype": DTYPES[c.dtype][0],
            "r_class": DTYPES[c.dtype][1],
            "unit": c.unit,
            "meaning": c.meaning,
            "codes": [
                {"code": code.code, "label": code.label, "system": code.system, "external_code": code.external_code}
                for code in c.codes
            ],
        }
        for table in TABLES.values()
        for c in table.columns
    ]


def _codes_cell(codes: list[dict]) -> str:
    """REDCap's convention for a data dictionary's choices: 'code, label | code, label', the external code in
    brackets."""
    return " | ".join(
        f"{c['code']}, {c['label']}" + (f" [{c['system']} {c['external_code']}]" if c["external_code"] else "")
        for c in codes
    )


def codebook_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CODEBOOK_COLUMNS)
    for entry in codebook():
        writer.writerow([cell(entry[k]) for k in CODEBOOK_COLUMNS[:-1]] + [cell(_codes_cell(entry["codes"]))])
    return buffer.getvalue()


def table_meanings() -> list[dict]:
    return [{"table": t.name, "meaning": t.meaning, "columns": len(t.columns)} for t in TABLES.values()]
