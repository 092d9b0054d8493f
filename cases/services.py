"""Writes: the edit service every change of a case goes through (case_edit), versioned (optimistic-locking)
saves, workflow transitions, deletes, and the rules for changing reference data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q, UniqueConstraint, Value
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from . import stored_documents, warnings, workflow
from .anchors import AnchorCycle, Timing, intervention_days, relative_day
from .models import (
    DERIVED_FIELDS,
    INTERVENTION_DERIVED_FIELDS,
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
    as_prefetched,
    deidentified_age,
    registry_id,
)
from .rows import ROW_KINDS, ROWS, WRITE_ORDER, case_content_fields, row_content_fields
from .vocabularies import CurationStatus
from .warnings import CaseWarning


class VersionConflict(Exception):
    """The case changed since the caller read it."""

    def __init__(self, case_id: int, expected: int, current: int | None) -> None:
        self.case_id, self.expected, self.current = case_id, expected, current
        super().__init__(
            f"Case {registry_id(case_id)} was changed by someone else (you edited version {expected}, it is now "
            f"version {current}). Reload it and apply your change again."
        )


def case_claim_version(*, case: Case, expected_version: int) -> None:
    """Move the case from expected_version to the next one, or raise VersionConflict.

    Call inside transaction.atomic() before writing the case's rows: the conditional UPDATE is the lock, so of
    two concurrent editors of the same version exactly one succeeds.
    """
    claimed = Case.objects.filter(pk=case.pk, version=expected_version).update(version=F("version") + 1)
    if not claimed:
        current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
        raise VersionConflict(case.pk, expected_version, current)
    case.version = expected_version + 1


def case_transition(*, case: Case, name: str, user, expected_version: int | None = None) -> Case:
    """Apply a workflow transition (submit, publish, send_back, retract, reopen) as user."""
    transition = workflow.check_transition(user, case.status, name)
    if refusal := workflow.four_eyes_refusal(user, case, name):
        raise PermissionDenied(refusal)
    with transaction.atomic():
        case_claim_version(case=case, expected_version=case.version if expected_version is None else expected_version)
        case.status = transition.target
        case.updated_by = user
        case._change_reason = transition.label  # recorded in the history, with the user below
        case._history_user = user
        case.save(update_fields=["status", "version", "updated_by", "updated_at"])
    return case


# --- The edit service: every change of a case's content goes through case_edit --------------------------


class DocumentError(Exception):
    """A problem found while writing a case, with the field path it concerns."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class NeedsConfirmation(DocumentError):
    """The edit raised warnings its confirmations do not cover; nothing was saved. `warnings` are the unconfirmed
    ones; `errors` says, per warning key, what looks wrong and how to confirm it in a case document."""

    def __init__(self, warnings: list[CaseWarning]) -> None:
        self.warnings = warnings
        super().__init__(
            {
                w.key: f'{w.message} If this is right, send the case again with "{w.key}" in its "confirm" list.'
                for w in warnings
            }
        )


@dataclass
class Edit:
    case: Case  # as stored after the edit, with its rows prefetched
    changed: bool  # False: the edit changed nothing and was rolled back (same version, status, history)


class _Unchanged(Exception):
    """Raised inside case_edit to roll back a write that changed nothing."""


def case_content(case_pk: int) -> tuple:
    """The case's content as stored: its editable fields and its rows' field values, without ids, timestamps,
    curation status, version or derived measures. Two equal contents are the same case to a reader of the
    document (a lab's link to an intervention is compared by the intervention's position)."""
    content: list = [tuple(Case.objects.filter(pk=case_pk).values(*case_content_fields()).get().items())]
    intervention_position: dict = {}
    episode_position: dict = {}
    for relation, model in ROW_KINDS.items():  # interventions before labs
        rows = list(
            model._default_manager.filter(case_id=case_pk)
            .order_by(*(model._meta.ordering or ()))
            .values(*row_content_fields(model))
        )
        if relation == "interventions":
            intervention_position = {row["id"]: n for n, row in enumerate(rows)}
        if relation == "episodes":
            episode_position = {row["id"]: n for n, row in enumerate(rows)}
        if relation == "mechanisms":  # its episode by position, like a lab's interventions
            for row in rows:
                row["episode_id"] = episode_position.get(row["episode_id"])
        if relation == "labs":
            followed: dict = {}
            for lab_id, intervention_id in LabFollows.objects.filter(case_id=case_pk).values_list(
                "lab_id", "intervention_id"
            ):
                followed.setdefault(lab_id, []).append(intervention_position.get(intervention_id))
            for row in rows:
                row["follows"] = tuple(sorted(followed.get(row["id"], [])))
        for row in rows:
            row.pop("id")
        content.append((relation, [tuple(row.items()) for row in rows]))
    steps = DoseStep.objects.filter(case_id=case_pk).values_list("intervention_id", *DOSE_STEP_FIELDS)
    content.append(("dose_steps", sorted((intervention_position.get(i), *rest) for i, *rest in steps)))
    return tuple(content)


# What a dose step holds besides its intervention and case (its position included).
DOSE_STEP_FIELDS = ("position", "dose_text", "value", "unit", "day", "day_is_approximate", "timing_text")


def case_edit(
    *,
    case: Case,
    user,
    change: Callable[[Case], None],
    expected_version: int | None = None,
    reason: str = "",
    confirm: Iterable[str] = (),
) -> Edit:
    """Apply `change` to the case (a new one if case.pk is None) as one attributed edit, atomically.

    The one way a case's content is written (the admin's Save, the API's create/update/patch, a JSON import, a
    revert). In order: claim the version (VersionConflict if someone else saved since expected_version); apply the
    workflow rule for edits (a published case goes back to review); run `change`, which saves the case (before its
    rows: cases.history relies on it) and writes its rows; decide whether anything changed (case_content, compared
    before and after: an edit that changed nothing is rolled back and keeps version, status and history); run the
    warning checks (cases.warnings) on the result, NeedsConfirmation unless `confirm` names each warning's key;
    store the derived measures. The history records `user` and `reason`. Only warnings the edit brings need
    confirming: those the case already had are not asked again.
    """
    creating = case.pk is None
    already: list[CaseWarning] = []
    try:
        with transaction.atomic():
            if creating:
                case.created_by = case.created_by or user
            else:
                # The conditional UPDATE of the version is the lock (see case_claim_version): claim it first, so that
                # the content compared below cannot change under us, and a stale version is refused even for a no-op.
                case_claim_version(
                    case=case, expected_version=case.version if expected_version is None else expected_version
                )
                before = case_content(case.pk)
                if warnings.any_registered():
                    already = warnings.case_warnings(Case.objects.with_children().get(pk=case.pk))
                case.status = workflow.status_after_edit(case.status)
            case.updated_by = user
            case.content_edited_by = user  # a transition is not an edit: four-eyes (workflow.four_eyes_refusal)
            case._history_user = user
            case._change_reason = reason or None
            change(case)
            # A new case's rows as `change` wrote them (case_save_document), else None: then they are read back.
            created = case.__dict__.pop("_created_rows", None) if creating else None
            first_episode_follows_case(case, created)
            anchored_days_write(case, created)
            if not creating and case_content(case.pk) == before:
                raise _Unchanged
            saved = _as_created(case, created) if created is not None else Case.objects.with_children().get(pk=case.pk)
            pending = (
                warnings.unconfirmed(saved, confirm, already, creating) if warnings.any_registered(creating) else []
            )
            if pending:
                raise NeedsConfirmation(pending)
            saved.refresh_derived()
            return Edit(saved, changed=True)
    except _Unchanged:
        return Edit(Case.objects.with_children().get(pk=case.pk), changed=False)


def _as_created(case: Case, created: dict[str, list]) -> Case:
    """The case just created with the rows its document wrote (`created`: each kind's and the nested rows, as
    _sync_rows records them) handed over as if prefetched: what Case.objects.with_children() would read, in the
    models' ordering (their ids are in insert order), so that the warnings, the derived measures and the response
    need no reload."""

    def in_stored_order(model, rows: list) -> list:
        names = [model._meta.get_field(name).attname for name in model._meta.ordering[1:]]  # after case (or parent)
        return sorted(rows, key=lambda row: tuple(getattr(row, name) for name in names))

    cache = case.__dict__.setdefault("_prefetched_objects_cache", {})
    for relation, kind in ROWS.items():
        rows = in_stored_order(kind.model, created.get(relation, []))
        for name in set(kind.nested) - set(kind.loaded_with_case):  # a lab's links, an intervention's dose steps
            relation_field = kind.model._meta.get_field(name)
            parent, child_model = relation_field.field.attname, relation_field.related_model
            children: dict[int, list] = {}
            for child in created.get(name, []):
                children.setdefault(getattr(child, parent), []).append(child)
            for row in rows:
                row_cache = row.__dict__.setdefault("_prefetched_objects_cache", {})
                row_cache[name] = as_prefetched(row, name, in_stored_order(child_model, children.get(row.pk, [])))
        cache[relation] = as_prefetched(case, relation, rows)
    return case


def first_episode_follows_case(case: Case, created: dict[str, list] | None = None) -> None:
    """Keep the first calcium-disorder episode's disorder and calcium outcome equal to the case's (issue 13: the
    case's are the first episode's, stored on the case so that its queries keep working): an edit of the case's
    fields (the admin's case form, the document's short form) is an edit of its first episode. One query (none for
    a case just created from its document: `created`, its rows), and an UPDATE when they differ; a case without
    episodes (rows loaded raw) gets its first."""
    if created is None:
        first = Episode.objects.filter(case=case).order_by("sequence", "id").first()
    else:
        first = min(created.setdefault("episodes", []), key=lambda e: (e.sequence, e.pk), default=None)
    if first is None:
        first = Episode(case=case)
        if created is not None:
            created["episodes"].append(first)
    elif (first.disorder, first.calcium_outcome) == (case.disorder, case.calcium_outcome):
        return
    first.disorder, first.calcium_outcome = case.disorder, case.calcium_outcome
    first._history_user = case._history_user
    first._change_reason = getattr(case, "_change_reason", None)
    first.save()


ANCHORED = {"interventions": Intervention, "metastases": Metastasis, "findings": Finding, "labs": LabResult}
TIMING_COLUMNS = ("id", "day", "day_is_approximate", "anchor_id", "anchor_offset_days", "anchor_offset_is_approximate")


def anchored_days_write(case: Case, created: dict[str, list] | None = None) -> None:
    """Store the day of every row of the case timed from an intervention (cases.anchors): the anchor's day + the
    offset, along chains; unknown while the anchor's day is. One query (every intervention and the anchored rows of
    the other kinds; none for a case just created from its document: `created`, its rows); a row whose day changes
    is saved on its own, recorded in its history. A cycle of anchors is refused (DocumentError; the document and the
    admin refuse it before, naming the row)."""
    loaded: dict[tuple[str, int], object] = {}
    if created is None:
        kinds = list(ANCHORED.items())
        query = None
        for n, (relation, model) in enumerate(kinds):
            rows = model.objects.filter(case_id=case.pk)
            if relation != "interventions":
                rows = rows.filter(Q(anchor__isnull=False) | Q(anchor_offset_days__isnull=False))
            rows = rows.order_by().annotate(kind=Value(n)).values_list(*TIMING_COLUMNS, "kind")
            query = rows if query is None else query.union(rows, all=True)
        found = [(kinds[kind][0], Timing(*timing)) for *timing, kind in query]
    else:
        loaded, found = created_timings(created)
    for relation, pk, values in timing_changes(found):
        _save_timing(case, loaded.get((relation, pk)), relation, pk, **values)


def created_timings(created: dict[str, list]) -> tuple[dict[tuple[str, int], object], list[tuple[str, Timing]]]:
    """The rows of a case just created (`created`, by relation) that timing_changes reads, by (relation, id), and
    their timings: every intervention and every row timed from one."""
    loaded = {(relation, row.pk): row for relation in ANCHORED for row in created.get(relation, [])}
    found = [
        (relation, Timing(*(getattr(row, name) for name in TIMING_COLUMNS)))
        for (relation, _), row in loaded.items()
        if relation == "interventions" or row.anchor_id is not None or row.anchor_offset_days is not None
    ]
    return loaded, found


def timing_changes(found: list[tuple[str, Timing]]) -> list[tuple[str, int, dict]]:
    """What anchored_days_write stores for these rows of one case ((relation, timing) of every intervention and
    every anchored row): (relation, row id, {field: value}) for each row whose timing fields change, in order.
    DocumentError for a cycle of anchors."""
    try:
        days = intervention_days([t for relation, t in found if relation == "interventions"])
    except AnchorCycle as exc:
        raise DocumentError(
            {"interventions": f"Interventions {', '.join(map(str, exc.keys))} are timed from each other in a circle."}
        ) from exc
    changes = []
    for relation, t in found:
        if t.anchor is None:
            if t.offset is not None:  # its intervention was deleted (SET_NULL): the row keeps its day, not the offset
                changes.append((relation, t.key, {"anchor_offset_days": None, "anchor_offset_is_approximate": False}))
            continue
        want = days[t.key] if relation == "interventions" else relative_day(*days.get(t.anchor, (None, False)), t)
        if want != (t.day, t.day_is_approximate):
            changes.append((relation, t.key, {"day": want[0], "day_is_approximate": want[1]}))
    return changes


def _save_timing(case: Case, row, relation: str, pk: int, **values) -> None:
    """Save these timing fields of one row (`row`, when loaded), recorded in its history with the edit's user and
    reason."""
    row = row or ANCHORED[relation].objects.get(pk=pk)
    for name, value in values.items():
        setattr(row, name, value)
    row._history_user = case._history_user
    row._change_reason = getattr(case, "_change_reason", None)
    row.save(update_fields=list(values))


def cases_refresh_derived(cases, batch: int = 500) -> int:
    """Recompute the stored derived measures of these cases (after a fixture load or a bulk change): computed in
    memory a batch of cases at a time (their rows prefetched), stored with one UPDATE per 100 cases and one per 100
    interventions."""
    count = 0
    pks = list(cases.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch):
        chunk = Case.objects.filter(pk__in=pks[start : start + batch])
        chunk = list(chunk.prefetch_related(*WRITE_ORDER, "labs__follow_links"))
        interventions = [i for case in chunk for i in case.compute_derived()]
        # bulk_update writes CASE WHEN id = ... per field: its cost grows with the square of its batch, keep it small
        Case.objects.bulk_update(chunk, DERIVED_FIELDS, batch_size=100)
        Intervention.objects.bulk_update(interventions, INTERVENTION_DERIVED_FIELDS, batch_size=100)
        count += len(chunk)
    if count:
        stored_documents.reference_changed()  # the derived blocks changed without a new version of their cases
    return count


# --- Whole-case documents (the API's create/update, JSON and Phenopacket imports) -------------------------


def _check_ids(relation: str, rows: list[dict], existing: dict) -> None:
    model = ROW_KINDS[relation]
    errors, seen = {}, set()
    for n, data in enumerate(rows):
        row_id = data.get("id")
        if row_id is None:
            continue
        if row_id not in existing:
            errors[f"{relation}[{n}].id"] = f"No {model._meta.verbose_name} {row_id} in this case."
        elif row_id in seen:
            errors[f"{relation}[{n}].id"] = f"id {row_id} appears twice."
        seen.add(row_id)
    if errors:
        raise DocumentError(errors)


def _check_links_kept(case: Case, interventions: list[dict], sent: dict) -> None:
    """Replacing the interventions without sending the labs must not silently unlink a lab from the
    intervention it follows (the link would be cleared when that intervention is deleted), nor a row not sent from
    the intervention its time is given from (issue 13)."""
    kept = {data["id"] for data in interventions if data.get("id") is not None}
    errors = {
        f"{relation}[{n}].anchor_intervention_index": (
            f"This row's time is given from intervention {row.anchor_id}, which the new interventions list leaves "
            f"out. Send that intervention with its id, or send the {relation} too."
        )
        for relation in ("metastases", "findings", "labs")
        if relation not in sent
        for n, row in enumerate(getattr(case, relation).all())
        if row.anchor_id is not None and row.anchor_id not in kept
    }
    if errors:
        raise DocumentError(errors)
    if "labs" in sent:
        return
    labs = list(case.labs.all())
    errors = {
        f"labs[{n}].follows_intervention_indexes": (
            f"This lab follows intervention {left_out[0]}, which the new interventions list leaves out. Send that "
            "intervention with its id, or send the labs too."
        )
        for n, lab in enumerate(labs)
        if (left_out := [pk for pk in lab.followed_ids() if pk not in kept])
    }
    if errors:
        raise DocumentError(errors)


def _row_errors(relation: str, n: int, exc: ValidationError, paths: list[str] | None = None) -> DocumentError:
    return DocumentError(
        {
            (paths[n] if paths else f"{relation}[{n}]") + (f".{field}" if field != NON_FIELD_ERRORS else ""): " ".join(
                messages
            )
            for field, messages in exc.message_dict.items()
        }
    )


def _check_unique_together(relation: str, rows: list, paths: list[str] | None = None) -> None:
    """The final rows against the model's unique constraints, before anything is written: a clash is named by row
    position with the constraint's own message, whatever order the rows came in."""
    model = ROW_KINDS[relation]
    errors = {}
    for constraint in model._meta.constraints:
        if not isinstance(constraint, UniqueConstraint) or constraint.condition is not None:
            continue
        fields = [f for f in constraint.fields if f not in ("case", "episode")]  # rows of one case (or episode)
        scope = [f for f in constraint.fields if f == "episode"]
        seen: dict[tuple, int] = {}
        path = paths or [f"{relation}[{n}]" for n in range(len(rows))]
        for n, row in enumerate(rows):
            key = tuple(_unique_value(row, model._meta.get_field(f)) for f in (*scope, *fields))
            if key in seen:
                errors[f"{path[n]}.{fields[0]}"] = (
                    f"{constraint.get_violation_error_message()} ({path[seen[key]]} has the same)"
                )
            seen.setdefault(key, n)
    if errors:
        raise DocumentError(errors)


def _unique_value(row, field):
    """The row's value of a field of a unique constraint; a row's episode not yet written (a bulk import builds every
    row before it writes any) is told apart by the object it is."""
    value = getattr(row, field.attname)
    if value is None and field.is_relation and field.is_cached(row):
        return ("unsaved", id(field.get_cached_value(row)))
    return value


def _build_rows(
    case: Case,
    relation: str,
    rows: list[dict],
    interventions: list[Intervention],
    existing: dict,
    episodes: list | None = None,
    paths: list[str] | None = None,
) -> tuple[list, dict[int, list[Intervention]], dict[int, list[dict]], dict[int, object]]:
    """The rows of one kind as they will be stored (nothing written): each validated (full_clean, its check
    constraints in memory) and the set against the unique constraints, DocumentError naming the row otherwise.
    Returns the rows, and by a row's position: the interventions a lab follows, an intervention's dose steps, and the
    intervention a row is timed from (a position; for a row other than a lab, (position, offset, approximate), its
    offset held back until the intervention is written). Used by _sync_rows and by the bulk import
    (cases.imports), which writes the rows of many cases together."""
    model = ROW_KINDS[relation]
    _check_ids(relation, rows, existing)
    blank = model(case=case)
    editable = [f for f in model._meta.concrete_fields if f.editable and not f.primary_key and f.name != "case"]
    built = []
    follows: dict[int, list[Intervention]] = {}  # a lab's position -> the interventions it follows
    steps: dict[int, list[dict]] = {}  # an intervention's position -> its dose steps, in order
    anchors: dict[int, int | None] = {}  # a row's position -> the position of the intervention it is timed from
    for n, data in enumerate(rows):
        data = dict(data)
        row_id = data.pop("id", None)
        if relation == "labs":
            follows[n] = [interventions[i] for i in data.pop("follows_intervention_indexes", None) or []]
        if relation == "interventions":
            steps[n] = data.pop("dose_steps", None) or []
        if relation in ANCHORED:
            anchors[n] = data.pop("anchor_intervention_index", None)
        position = data.pop("episode_position", 0)
        row = existing[row_id] if row_id is not None else model(case=case)
        for field in editable:
            setattr(row, field.attname, getattr(blank, field.attname))
        for name, value in data.items():
            setattr(row, name, value)
        if relation == "mechanisms":
            row.episode = episodes[position]
        if anchors.get(n) is not None:
            row._anchor_by_position = True  # checked by the document; the intervention may not be written yet
            if relation == "labs":  # written after the interventions; the others are linked once they are
                row.anchor = interventions[anchors[n]]
            else:  # held back until then (an offset needs its anchor in the table)
                anchors[n] = (anchors[n], row.anchor_offset_days, row.anchor_offset_is_approximate)
        try:
            row.full_clean(exclude=["case", "anchor", "episode"], validate_unique=False)
        except ValidationError as exc:
            raise _row_errors(relation, n, exc, paths) from exc
        if relation != "labs" and anchors.get(n) is not None:
            row.anchor_offset_days, row.anchor_offset_is_approximate = None, False
        row._history_user = case._history_user
        row._change_reason = getattr(case, "_change_reason", None)
        built.append(row)
    _check_unique_together(relation, built, paths)
    return built, follows, steps, anchors


def _sync_rows(
    case: Case,
    relation: str,
    rows: list[dict],
    interventions: list[Intervention],
    *,
    new_case: bool = False,
    episodes: list | None = None,
    paths: list[str] | None = None,
    delete_rest: bool = True,
) -> list:
    """Make the case's rows of one kind exactly `rows`: update by id, create without id, delete the rest.

    A row is replaced, not merged: a row sent with its id keeps the id (and its history) but gets exactly the
    fields sent, the others back to their defaults, as a new row would. Each row is validated as it will be
    stored (full_clean, its check constraints in memory: cases.constraints), and the final set against the unique
    constraints, before anything is written. The order of the rows does not matter: the rows left out are deleted
    first, then the kept rows updated, then new ones added (so a new row may take a code an existing row gives up in
    the same request); updates and inserts are one statement each per kind (_write_rows), without a savepoint.
    A mechanism row names its episode by position in `episodes` ("episode_position", default the first); `paths`
    name the rows in errors (a mechanism as episodes[i].mechanisms[j]); delete_rest=False leaves the rows not sent
    for the caller to delete (_delete_rows).
    """
    model = ROW_KINDS[relation]
    existing = {} if new_case else {row.pk: row for row in getattr(case, relation).all()}  # a new case has none
    built, follows, steps, anchors = _build_rows(case, relation, rows, interventions, existing, episodes, paths)
    kept = {row.pk for row in built if row.pk is not None}
    if delete_rest:
        _delete_rows(case, [row for row_id, row in existing.items() if row_id not in kept])
    _write_rows(model, case, [row for row in built if row.pk is not None], [row for row in built if row.pk is None])
    # A new case's rows are all written here: recorded for case_edit, which hands them over instead of reading them.
    created = case.__dict__.setdefault("_created_rows", {}) if new_case else {}
    created[relation] = built
    if relation == "labs":
        links = {(built[n].pk, i.pk) for n, followed in follows.items() for i in followed}
        created["follow_links"] = lab_links_write(case, links, new_case)
    if relation in ("metastases", "findings"):
        case._pending_anchors = [
            *getattr(case, "_pending_anchors", []),
            *((built[n], index) for n, index in anchors.items() if index is not None),
        ]
    if relation == "interventions":
        created["dose_steps"] = dose_steps_write(case, {built[n].pk: rows for n, rows in steps.items()}, new_case)
        timed = [built[n] for n, held in anchors.items() if held is not None]
        for n, held in anchors.items():
            if held is not None:  # now that every intervention of the document has an id
                index, offset, approximate = held
                built[n].anchor, built[n].anchor_offset_days, built[n].anchor_offset_is_approximate = (
                    built[index],
                    offset,
                    approximate,
                )
        if timed:
            history = {
                "default_user": case._history_user,
                "default_change_reason": getattr(case, "_change_reason", None),
            }
            fields = ["anchor", "anchor_offset_days", "anchor_offset_is_approximate"]
            bulk_update_with_history(timed, Intervention, fields, **history)
    return built


def _delete_rows(case: Case, rows: Iterable) -> None:
    """Delete rows one by one, so that the history records each, attributed to the edit."""
    for row in rows:
        row._history_user = case._history_user
        row._change_reason = getattr(case, "_change_reason", None)
        row.delete()


def dose_steps_write(case: Case, wanted: dict[int, list[dict]], new_case: bool = False) -> list[DoseStep]:
    """Make the case's dose steps exactly `wanted` ({intervention id: its steps in order, each a dict of
    DOSE_STEP_FIELDS but the position, which is the order}): steps that changed or went are deleted (one by one, so
    that the history records each), new and changed ones inserted with their history in one INSERT each."""
    history = {"default_user": case._history_user, "default_change_reason": getattr(case, "_change_reason", None)}
    rows = dose_step_rows(case, wanted)

    def key(step: DoseStep) -> tuple:
        return (step.intervention_id, *(getattr(step, name) for name in DOSE_STEP_FIELDS))

    existing = [] if new_case else list(DoseStep.objects.filter(case=case))
    have = {key(step) for step in existing}
    keep = {key(step) for step in rows}
    for step in existing:
        if key(step) not in keep:
            step._history_user = case._history_user
            step._change_reason = history["default_change_reason"]
            step.delete()
    new = [step for step in rows if key(step) not in have]
    if new:
        bulk_create_with_history(new, DoseStep, **history)
    return new


def dose_step_rows(case: Case, wanted: dict[int, list[dict]]) -> list[DoseStep]:
    """The dose steps `wanted` ({intervention id: its steps in order}) as rows, numbered from 1 per intervention."""
    fields = DOSE_STEP_FIELDS[1:]
    return [
        DoseStep(case=case, intervention_id=i, position=n, **{name: step.get(name) for name in fields if name in step})
        for i, steps in wanted.items()
        for n, step in enumerate(steps, start=1)
    ]


def lab_link_rows(case: Case, wanted: set[tuple[int, int]]) -> list[LabFollows]:
    """The links `wanted` ({(lab id, intervention id)}) as rows, in that order."""
    return [LabFollows(case=case, lab_id=lab, intervention_id=i) for lab, i in sorted(wanted)]


def lab_links_write(case: Case, wanted: set[tuple[int, int]], new_case: bool = False, labs=None) -> list[LabFollows]:
    """Make the case's lab -> intervention links exactly `wanted` ({(lab id, intervention id)}), for every lab of
    the case or only for those in `labs` (ids): the links no longer wanted deleted (one by one, so that the history
    records each), the new ones inserted with their history in one INSERT each. The interventions are the case's
    own (a document names them by position, the admin offers only the case's)."""
    history = {"default_user": case._history_user, "default_change_reason": getattr(case, "_change_reason", None)}
    existing = [] if new_case else list(LabFollows.objects.filter(case=case))
    have = {(link.lab_id, link.intervention_id) for link in existing}
    for link in existing:
        if (link.lab_id, link.intervention_id) not in wanted and (labs is None or link.lab_id in labs):
            link._history_user = case._history_user
            link._change_reason = history["default_change_reason"]
            link.delete()
    new = lab_link_rows(case, wanted - have)
    if new:
        bulk_create_with_history(new, LabFollows, **history)
    return new


def _write_rows(model, case: Case, kept: list, new: list) -> None:
    """Store the validated rows of one kind: one UPDATE for the kept rows, one INSERT for the new ones, each with
    its history rows in one INSERT (attributed to the edit's user and reason, as a save() would record them)."""
    history = {"default_user": case._history_user, "default_change_reason": getattr(case, "_change_reason", None)}
    fields = [f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key and f.name != "case"]
    for row in kept + new:
        if hasattr(row, "fill_defaults"):
            row.fill_defaults()  # what the model's save() fills in (bulk writes skip save())
    if kept:
        bulk_update_with_history(kept, model, fields, **history)
    if new:
        bulk_create_with_history(new, model, **history)


def case_save_document(
    *, data: dict, user, case: Case | None = None, expected_version: int | None = None, reason: str = ""
) -> Case:
    """Create or update a whole case from a validated document, through case_edit (atomic: all rows or none).

    Lists present in `data` replace the case's rows of that kind (rows keep their id when the document
    gives it, and get exactly the fields given); lists absent are left alone (a partial update). `confirm` in the
    document lists the warnings the client confirms (cases.warnings).
    """
    data = dict(data)
    confirm = data.pop("confirm", None) or ()
    children = {relation: data.pop(relation) for relation in WRITE_ORDER if relation in data}
    if "age_years" in data:
        data["age_years"] = deidentified_age(data["age_years"])

    def write(case: Case) -> None:
        for name, value in data.items():
            setattr(case, name, value)
        creating = case.pk is None
        case._episodes_written = True  # by _episodes_write, not by Case.save
        case.save()
        interventions = [] if creating else list(case.interventions.all())
        if "interventions" in children:
            _check_links_kept(case, children["interventions"], sent=children)
        episodes, paths, left_out = _episodes_write(case, children, creating)
        for relation in WRITE_ORDER:
            if relation in children:
                saved = _sync_rows(
                    case,
                    relation,
                    children[relation],
                    interventions,
                    new_case=creating,
                    episodes=episodes,
                    paths=paths if relation == "mechanisms" else None,
                )
                if relation == "interventions":
                    interventions = saved
        _delete_rows(case, left_out)  # after their mechanisms went or moved to a kept episode
        # Metastases and findings are written before the interventions: timed from one, they are linked now.
        pending = getattr(case, "_pending_anchors", [])
        history = {"default_user": case._history_user, "default_change_reason": getattr(case, "_change_reason", None)}
        for model in (Metastasis, Finding):
            rows = [row for row, index in pending if isinstance(row, model)]
            for row, (index, offset, approximate) in pending:
                if isinstance(row, model):
                    row.anchor, row.anchor_offset_days, row.anchor_offset_is_approximate = (
                        interventions[index],
                        offset,
                        approximate,
                    )
            if rows:
                fields = ["anchor", "anchor_offset_days", "anchor_offset_is_approximate"]
                bulk_update_with_history(rows, model, fields, **history)
        case._pending_anchors = []

    edit = case_edit(
        case=case or Case(), user=user, change=write, expected_version=expected_version, reason=reason, confirm=confirm
    )
    return edit.case


def _episodes_write(case: Case, children: dict, creating: bool) -> tuple[list, list[str] | None, list]:
    """Write the case's calcium-disorder episodes (issue 13) and leave its mechanisms in children["mechanisms"],
    each naming its episode by position. Returns (the episodes in order, the mechanisms' paths for errors, the
    episodes left out, to delete once the mechanisms are written).

    With `episodes` (the full form; cases.document checked it agrees with the case's disorder and outcome, which it
    set from the first) they replace the case's episodes and their mechanisms all of the case's. Without it, the case
    has one episode, the first: created from the case's disorder and calcium outcome on a new case, else kept equal
    to them, and top-level mechanisms are its mechanisms. A case of several episodes changes them only in the full
    form (the document refuses the short one), so a PUT's implicit empty mechanisms list leaves them alone.
    """
    if "episodes" in children:
        sent = [dict(e) for e in children.pop("episodes")]
        existing = [] if creating else list(case.episodes.all())
        mechanisms, paths = [], []
        for i, episode in enumerate(sent):
            for j, m in enumerate(episode.pop("mechanism_rows", None) or []):
                mechanisms.append({**m, "episode_position": i})
                paths.append(f"episodes[{i}].mechanisms[{j}]")
        episodes = _sync_rows(case, "episodes", sent, [], new_case=creating, delete_rest=False)
        children["mechanisms"] = mechanisms
        kept = {e.pk for e in episodes}
        return episodes, paths, [e for e in existing if e.pk not in kept]
    existing = [] if creating else list(case.episodes.all())
    if len(existing) > 1:
        children.pop("mechanisms", None)
        return existing, None, []
    if not existing:
        first = {"disorder": case.disorder, "calcium_outcome": case.calcium_outcome}
        return _sync_rows(case, "episodes", [first], [], new_case=True), None, []
    return existing, None, []  # its disorder and outcome follow the case's (first_episode_follows_case)


# SQLite names a broken check constraint in its message; PostgreSQL in the error's diagnostics.
SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")


def _constraint_message(name: str | None) -> str | None:
    """The curator-readable message of the named database constraint, from the model that declares it."""
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name:
                return str(constraint.get_violation_error_message()) or None
    return None


def database_refusal_reason(exc: DataError | IntegrityError) -> str:
    """What to tell a curator when the database refused a write that validation let through (a safety net).

    The write was atomic, so nothing of it was stored. The driver's own text is not echoed: on PostgreSQL it
    quotes the whole failing row.
    """
    if isinstance(exc, DataError):
        return (
            "The database refused a value: a number is too large (or too precise) for its field, or a text too "
            "long. Nothing was saved."
        )
    diag = getattr(exc.__cause__, "diag", None)
    match = SQLITE_CHECK.search(str(exc))
    name = getattr(diag, "constraint_name", None) or (match.group(1) if match else None)
    rule = _constraint_message(name)
    reason = "The database refused the change" + (f" ({name})" if name else "") + (f": {rule}" if rule else ".")
    return reason + " Nothing was saved."


class NotDeletable(Exception):
    """Published and retracted cases stay in the registry: retract instead of deleting."""


def case_delete(*, case: Case, user, expected_version: int) -> None:
    """Delete a draft or in-review case. Published and retracted cases stay: retract instead."""
    if not workflow.is_deletable(case.status):
        advice = "it stays in the registry as retracted" if case.status == CurationStatus.RETRACTED else "retract it"
        raise NotDeletable(f"A {case.get_status_display().lower()} case cannot be deleted; {advice}.")
    with transaction.atomic():
        case_claim_version(case=case, expected_version=expected_version)
        case._history_user = user
        case.delete()


# --- Reference data (sources and agents) ------------------------------------------------------------------


def reference_published_uses(obj: Source | Agent) -> int:
    """How many published cases show this source or agent (as an intervention's agent or a suspect agent)."""
    published = Case.objects.published()
    if isinstance(obj, Source):
        return published.filter(source=obj).count()
    return published.filter(Q(interventions__agent=obj) | Q(mechanisms__suspect_agent=obj)).distinct().count()


def reference_check_change(*, obj: Source | Agent, changes: dict, user) -> None:
    """Refuse a change of a source or agent that would alter published cases or break the rows using it.

    Policy: a source or agent shown by a published case is part of what a reviewer published, so only a reviewer
    (cases.publish_case) may change it; the change is recorded in its history. An agent's category cannot change
    while interventions use it (an intervention's category must be its agent's), nor its code while any row refers
    to it (the code is the agent's identifier in every case document). Call inside the write's transaction.
    """
    changed = {name: value for name, value in changes.items() if getattr(obj, name) != value}
    if not changed:
        return
    published = reference_published_uses(obj)
    if published and not user.has_perm("cases.publish_case"):
        kind = "source" if isinstance(obj, Source) else "agent"
        raise PermissionDenied(
            f"The {kind} {obj} appears in {published} published case{'s' if published != 1 else ''}; only a reviewer "
            "can change it."
        )
    if isinstance(obj, Agent):
        errors = {}
        interventions = Intervention.objects.filter(agent=obj).count()
        if "category" in changed and interventions:
            errors["category"] = (
                f"{interventions} intervention{'s use' if interventions != 1 else ' uses'} {obj.name} as a "
                f"{obj.get_category_display().lower()}; the category cannot change while they do. Give them another "
                "agent first, or add a new agent."
            )
        if "code" in changed and (interventions or Mechanism.objects.filter(suspect_agent=obj).exists()):
            errors["code"] = f"Cases refer to {obj.name} by its code {obj.code!r}; it cannot change while they do."
        if errors:
            raise ValidationError(errors)
