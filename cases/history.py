"""A case's full change history (the case and every child row) and reverting a case to an earlier state.

Every write bumps the case's version and saves the case before its rows, so the state "after change N" is
everything recorded before the case's next history record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import Case, DoseStep, Intervention, LabFollows
from .rows import CASE_SERVER_OR_DERIVED_FIELDS, ROW_MODELS
from .services import case_edit

NOT_REVERTED = CASE_SERVER_OR_DERIVED_FIELDS
HIDDEN_IN_DIFF = {"updated_at", "version"}
USER_FKS = ("created_by", "updated_by", "content_edited_by")


@dataclass
class Change:
    history_id: int
    when: datetime
    user: object
    action: str  # created / changed / deleted
    kind: str  # "case", "lab result", ...
    label: str
    reason: str = ""
    changes: list[tuple[str, object, object]] = field(default_factory=list)
    is_case_record: bool = False


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
# The relations each kind of row's __str__ reads (Intervention: its agent's name), loaded with the records.
LABEL_RELATIONS: dict[type, tuple[str, ...]] = {Intervention: ("agent",), LabFollows: ("lab", "intervention")}
# What those relations' own labels read, loaded with them (a link's intervention is named by its agent).
LABEL_JOINS: dict[type, tuple[str, ...]] = {LabFollows: ("intervention__agent",)}
# Recorded beside the rows: a lab's links to the interventions it follows (shown as "lab after intervention") and
# the interventions' dose steps. In the order a revert restores them (each after the rows it refers to).
HISTORY_MODELS = (*ROW_MODELS, LabFollows, DoseStep)


@dataclass(frozen=True)
class Related:
    """A foreign key's value in a difference, until _show_related_labels names it."""

    model: type
    pk: object


def _related_model(model, attname: str):
    """The model a foreign key of this row points at (users excluded: _show_usernames names them)."""
    if not attname.endswith("_id"):
        return None
    try:
        field = model._meta.get_field(attname.removesuffix("_id"))
    except Exception:  # noqa: BLE001 - a historical-only field
        return None
    if not field.is_relation or field.related_model is Case or field.name in USER_FKS:
        return None
    return field.related_model


def _readable(value):
    """Numbers as people write them: 12, not 12.0000."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def _field_label(model, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a historical-only field has no model field
        return name


def _label(model, record, kept: list[str]) -> str:
    """str() of the row as this record saw it, from the record alone.

    Not record.instance: that queries the current row for the fields the history does not keep (the derived
    measures), and str() of an intervention would then query its agent, once per record.
    """
    instance = model(**{name: getattr(record, name) for name in kept})
    for name in LABEL_RELATIONS.get(model, ()):
        setattr(instance, name, getattr(record, name))  # select_related with the records; None if gone
    return str(instance)


def _changes_of(model, records) -> list[Change]:
    """Changes with their field differences, computed pairwise per object (no query per record)."""
    out: list[Change] = []
    previous: dict[object, object] = {}
    skip = {
        "history_id",
        "history_date",
        "history_change_reason",
        "history_type",
        "history_user",
        "history_relation",
        *HIDDEN_IN_DIFF,
    }
    fields = [f.attname for f in records.model._meta.fields if f.attname not in skip and f.name not in skip]
    kind = str(model._meta.verbose_name)
    recorded = {f.attname for f in records.model._meta.fields}
    kept = [f.attname for f in model._meta.concrete_fields if f.attname in recorded]
    for record in records:
        before = previous.get(record.id)
        diffs = []
        if record.history_type == "~" and before is not None:
            for name in fields:
                old, new = getattr(before, name), getattr(record, name)
                if old != new:
                    related = _related_model(model, name)
                    if related is not None:  # shown by label, not id (_show_related_labels)
                        old, new = (None if v is None else Related(related, v) for v in (old, new))
                    diffs.append((_field_label(model, name.removesuffix("_id")), _readable(old), _readable(new)))
        previous[record.id] = record
        out.append(
            Change(
                history_id=record.history_id,
                when=record.history_date,
                user=record.history_user,
                action=ACTIONS[record.history_type],
                kind=kind,
                label=_label(model, record, kept),
                reason=record.history_change_reason or "",
                changes=diffs,
                is_case_record=model is Case,
            )
        )
    return out


def case_changes(case: Case) -> list[Change]:
    """Every recorded change of the case and its rows, newest first (one query per kind of row)."""
    changes = []
    for model in (Case, *HISTORY_MODELS):
        records = (
            model.history.filter(**{"id" if model is Case else "case_id": case.pk})
            .select_related("history_user", *LABEL_RELATIONS.get(model, ()), *LABEL_JOINS.get(model, ()))
            .order_by("history_date", "history_id")
        )
        changes.extend(_changes_of(model, records))
    changes.sort(key=lambda c: (c.when, c.history_id), reverse=True)
    _show_usernames(changes)
    _show_related_labels(changes)
    return changes


def _show_related_labels(changes: list[Change]) -> None:
    """Show the rows a foreign key pointed at by label ("Zoledronic acid"), one query per kind of row; a row
    deleted since is named from its last history record, marked "(deleted)"."""
    wanted: dict[type, set] = {}
    for change in changes:
        for _, old, new in change.changes:
            for v in (old, new):
                if isinstance(v, Related):
                    wanted.setdefault(v.model, set()).add(v.pk)
    labels: dict[tuple[type, object], str] = {}
    for model, pks in wanted.items():
        rows = model.objects.filter(pk__in=pks).select_related(*LABEL_RELATIONS.get(model, ()))
        labels.update({(model, row.pk): str(row) for row in rows})
        gone = pks - {pk for m, pk in labels if m is model}
        if gone and hasattr(model, "history"):
            recorded = {f.attname for f in model.history.model._meta.fields}
            kept = [f.attname for f in model._meta.concrete_fields if f.attname in recorded]
            for record in model.history.filter(id__in=gone).order_by("history_date", "history_id"):
                labels[(model, record.id)] = f"{_label(model, record, kept)} (deleted)"
    for change in changes:
        change.changes = [
            (name, *(labels.get((v.model, v.pk), f"#{v.pk}") if isinstance(v, Related) else v for v in (old, new)))
            for name, old, new in change.changes
        ]


USER_FIELDS = {"created by", "updated by", "content edited by"}  # the verbose names of USER_FKS


def _show_usernames(changes: list[Change]) -> None:
    """Show the users in created/updated-by differences by name (one query for all of them)."""
    from django.contrib.auth import get_user_model

    ids = {v for c in changes for name, old, new in c.changes if name in USER_FIELDS for v in (old, new) if v}
    if not ids:
        return
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for change in changes:
        change.changes = [
            (name, names.get(old, old), names.get(new, new)) if name in USER_FIELDS else (name, old, new)
            for name, old, new in change.changes
        ]


def _state_time(case: Case, history_id: int) -> tuple[object, datetime]:
    records = list(Case.history.filter(id=case.pk).order_by("history_date", "history_id"))
    for n, record in enumerate(records):
        if record.history_id == history_id:
            if n + 1 < len(records):
                return record, records[n + 1].history_date - timedelta(microseconds=1)
            return record, record.history_date + timedelta(days=36500)
    raise LookupError(f"No history record {history_id} for case {case.registry_id}")


class RevertRefused(Exception):
    """The earlier state breaks a rule that holds today (a row stored before a newer check); nothing reverted."""


def case_revert(*, case: Case, history_id: int, user, expected_version: int, confirm: Iterable[str] = ()) -> Case:
    """Bring the case and all its rows back to the state right after the change `history_id` recorded.

    The revert is itself a new, attributed change through the edit service (cases.services.case_edit): a published
    case goes back to review like any edit, and reverting to a state equal to today's changes nothing. Each row is
    validated as today's rules require; a state that breaks one is refused whole (RevertRefused).
    """
    record, as_of = _state_time(case, history_id)

    def restore(case: Case) -> None:
        for f in Case._meta.concrete_fields:
            if f.attname not in NOT_REVERTED and f.name not in NOT_REVERTED:
                setattr(case, f.attname, getattr(record, f.attname))
        case.save()
        snapshots = {model: list(model.history.as_of(as_of).filter(case_id=case.pk)) for model in HISTORY_MODELS}
        for model in reversed(ROW_MODELS):  # labs before the interventions they point at
            for row in model._default_manager.filter(case=case):
                row._history_user = user
                row._change_reason = case._change_reason
                row.delete()
        for model in HISTORY_MODELS:  # interventions before labs, labs before their links
            for row in snapshots[model]:
                row._history_user = user
                row._change_reason = case._change_reason
                try:
                    row.full_clean(validate_unique=False)
                    with transaction.atomic():
                        row.save(force_insert=True)
                except (ValidationError, IntegrityError) as exc:
                    reasons = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
                    raise RevertRefused(
                        f"That state cannot be restored: its {model._meta.verbose_name} {row} breaks a rule that "
                        f"holds today ({reasons}). Nothing was reverted."
                    ) from exc

    edit = case_edit(
        case=case,
        user=user,
        change=restore,
        expected_version=expected_version,
        reason=f"Reverted to the state of {record.history_date:%Y-%m-%d %H:%M:%S} UTC",
        confirm=confirm,
    )
    return edit.case
