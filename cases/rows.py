"""The kinds of row a case has, in one list: which model, in which order they are written, which fields a curator
enters on each (in the order the case document, the tidy tables and the admin show them), and which fields of a case
the server owns. Services, history, the case document, the exports and the admin read them from here."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from .models import DERIVED_FIELDS, Case, Episode, Finding, Intervention, LabResult, Mechanism, Metastasis, Tumor

# Where a timed row stands on the case's timeline (relative to day 0, never a calendar date).
TIMING = ("sequence", "day", "day_is_approximate", "timing_text")
# Where a row's quote stands in the source text: set by the admin page when the curator selects the passage, not
# entered as such; neither the case document nor the tables carry them.
QUOTE_PLACE = ("quote_start", "quote_end")
# Where a row's time is given relative to an intervention ("one month after denosumab", cases.anchors): its day is
# then computed from that intervention's.
ANCHOR = ("anchor", "anchor_offset_days", "anchor_offset_is_approximate")


@dataclass(frozen=True)
class RowKind:
    """One kind of row. `fields` are what a curator enters, in order: the document's row object (cases.document),
    the tidy table (cases.tables; its timing columns first) and the admin inline (cases.admin) all follow it.
    `essentials` are the fields of the admin's one-line row (the rest go under "details"); `related` the foreign
    keys loaded with the row (the agent it names: an autocomplete in the admin). `nested` are the names among
    `fields` that are not columns of the row but rows entered with it (a lab's links to the interventions it
    follows, an intervention's dose steps): related names on the model, prefetched with the row."""

    relation: str  # the related name on Case, the document's key
    model: type[models.Model]
    fields: tuple[str, ...]
    essentials: tuple[str, ...]
    related: tuple[str, ...] = ()
    nested: tuple[str, ...] = ()
    # Among `nested`: rows that are a row kind of the case of their own (an episode's mechanisms), loaded with the
    # case already and not prefetched again under this row.
    loaded_with_case: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.essentials) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.relation}: essentials {sorted(unknown)} are not among its fields.")
        unknown = set(self.nested) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.relation}: nested {sorted(unknown)} are not among its fields.")

    @property
    def timed(self) -> bool:
        return "sequence" in self.fields

    def check_names(self, names, what: str) -> None:
        """A layer that adds to or leaves out some fields must name real ones (a renamed field is not missed)."""
        unknown = set(names) - set(self.fields)
        if unknown:
            raise ValueError(f"{what} names {sorted(unknown)}, which are not fields of {self.relation}.")


# In write order: interventions before labs (a lab refers to the interventions it follows, by position in the
# document). Deleting goes the other way.
ROWS: dict[str, RowKind] = {
    kind.relation: kind
    for kind in (
        # The calcium-disorder episodes, before the mechanisms that point at them (issue 13). Their mechanisms are
        # entered with them in the case document (episodes[i].mechanisms), stored as the case's mechanisms rows.
        RowKind(
            "episodes",
            Episode,
            fields=("disorder", *TIMING, "calcium_outcome", "notes", "quote", "mechanisms"),
            essentials=("disorder", "sequence", "day", "calcium_outcome"),
            nested=("mechanisms",),
            loaded_with_case=("mechanisms",),
        ),
        RowKind(
            "tumors",
            Tumor,
            fields=(
                "site",
                "icdo3_topography",
                "laterality",
                "histology",
                "icdo3_morphology",
                "grade",
                "er",
                "pr",
                "her2",
                "hormone_receptor",
                "tnm_reported",
                "stage_text",
                "size_mm",
                "size_text",
                *TIMING,
                "quote",
            ),
            essentials=("site", "histology", "er", "pr", "her2", "sequence", "day"),
        ),
        RowKind(
            "metastases",
            Metastasis,
            fields=("site", "detail", "present", *TIMING, *ANCHOR, "quote"),
            essentials=("site", "detail", "present", "sequence", "day"),
        ),
        RowKind(
            "mechanisms",
            Mechanism,
            fields=(
                "episode",
                "rank",
                "code",
                "certainty",
                "evidence",
                "suspect_agent",
                "action_taken",
                "dechallenge",
                "rechallenge",
            ),
            essentials=("episode", "rank", "code", "certainty", "suspect_agent"),
            related=("suspect_agent",),
        ),
        RowKind(
            "findings",
            Finding,
            fields=("label", "hpo_id", "present", *TIMING, *ANCHOR, "quote"),
            essentials=("label", "hpo_id", "present", "sequence", "day"),
        ),
        RowKind(
            "interventions",
            Intervention,
            fields=(
                "category",
                "agent",
                "agent_text",
                "regimen",
                "intent",
                "status",
                "given_before_presentation",
                "dose_text",
                "dose_value",
                "dose_unit",
                "dose_steps",
                "route",
                "schedule",
                "cycles",
                "cycles_text",
                *TIMING,
                *ANCHOR,
                "end_day",
                "end_day_is_approximate",
                "end_timing_text",
                "duration_days",
                "duration_text",
                "calcium_response",
                "tumor_response",
                "adverse_events",
                "adverse_events_text",
                "notes",
                "quote",
            ),
            essentials=("category", "agent", "agent_text", "status", "sequence", "day", "end_day"),
            related=("agent",),
            nested=("dose_steps",),
        ),
        RowKind(
            "labs",
            LabResult,
            fields=(
                "analyte",
                "specimen",
                "comparator",
                "value",
                "value_high",
                "value_is_approximate",
                "unit",
                "unit_not_reported",
                "qualitative",
                "ref_low",
                "ref_high",
                *TIMING,
                *ANCHOR,
                "follow_links",
                "quote",
                "notes",
            ),
            essentials=(
                "analyte",
                "comparator",
                "value",
                "value_high",
                "unit",
                "qualitative",
                "ref_low",
                "ref_high",
                "sequence",
                "day",
            ),
            nested=("follow_links",),
        ),
    )
}
# Relation name on Case -> model, in write order.
ROW_KINDS: dict[str, type[models.Model]] = {relation: kind.model for relation, kind in ROWS.items()}
WRITE_ORDER = list(ROW_KINDS)
ROW_MODELS = tuple(ROW_KINDS.values())


def row_kind(model: type[models.Model]) -> RowKind:
    return next(kind for kind in ROWS.values() if kind.model is model)


# Fields of a case the server sets (identity, workflow, optimistic lock, who and when): never taken from a document,
# a form or an earlier state. The derived measures are the server's too (DERIVED_FIELDS).
CASE_SERVER_FIELDS = frozenset(
    {"id", "status", "version", "created_at", "created_by", "updated_at", "updated_by", "content_edited_by"}
)
CASE_SERVER_OR_DERIVED_FIELDS = CASE_SERVER_FIELDS | set(DERIVED_FIELDS)


def case_content_fields() -> list[str]:
    """The attnames of what a curator enters on the case itself (the derived measures are not editable)."""
    return [f.attname for f in Case._meta.concrete_fields if f.editable and f.name not in CASE_SERVER_FIELDS]


def row_content_fields(model: type[models.Model]) -> list[str]:
    """The attnames a row's content consists of: its editable fields but the case it belongs to (id included)."""
    return [f.attname for f in model._meta.concrete_fields if f.editable and f.name != "case"]
