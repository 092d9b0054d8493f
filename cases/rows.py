"""The kinds of row a case has, in one list: which model, in which order they are written, and which fields of a
case the server owns. Services, history, the case document and the exports read them from here."""

from __future__ import annotations

from django.db import models

from .models import DERIVED_FIELDS, Case, Finding, Intervention, LabResult, Mechanism, Metastasis, Tumor

# Relation name on Case -> model, in write order: interventions before labs (a lab refers to the intervention it
# follows, by position in the document). Deleting goes the other way.
ROW_KINDS: dict[str, type[models.Model]] = {
    "tumors": Tumor,
    "metastases": Metastasis,
    "mechanisms": Mechanism,
    "findings": Finding,
    "interventions": Intervention,
    "labs": LabResult,
}
WRITE_ORDER = list(ROW_KINDS)
ROW_MODELS = tuple(ROW_KINDS.values())

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
