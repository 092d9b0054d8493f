"""Writes that touch several rows: versioned (optimistic-locking) saves and workflow transitions."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q

from . import workflow
from .models import (
    Agent,
    Case,
    Finding,
    Intervention,
    LabResult,
    Mechanism,
    Metastasis,
    Source,
    Tumor,
    deidentified_age,
    registry_id,
)
from .vocabularies import CurationStatus


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
    with transaction.atomic():
        case_claim_version(case=case, expected_version=case.version if expected_version is None else expected_version)
        case.status = transition.target
        case.updated_by = user
        case._change_reason = transition.label  # recorded in the history, with the user below
        case._history_user = user
        case.save(update_fields=["status", "version", "updated_by", "updated_at"])
    return case


def cases_refresh_derived(cases) -> int:
    """Recompute the cached derived measures of these cases (after a fixture load or a bulk change)."""
    count = 0
    for case in cases.prefetch_related("labs", "interventions", "mechanisms", "metastases", "findings", "tumors"):
        case.refresh_derived()
        count += 1
    return count


# --- Whole-case writes (the API's create/update and the admin's JSON import) ---------------------------

CHILD_RELATIONS = {
    "tumors": Tumor,
    "metastases": Metastasis,
    "mechanisms": Mechanism,
    "findings": Finding,
    "labs": LabResult,
    "interventions": Intervention,
}
# Interventions first: labs refer to them by position.
WRITE_ORDER = ["tumors", "metastases", "mechanisms", "findings", "interventions", "labs"]


class DocumentError(Exception):
    """A problem found while writing a case document, with the field path it concerns."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _check_ids(relation: str, rows: list[dict], existing: dict) -> None:
    model = CHILD_RELATIONS[relation]
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


def _check_links_kept(case: Case, interventions: list[dict]) -> None:
    """Replacing the interventions without sending the labs must not silently unlink a lab from the
    intervention it follows (the link would be cleared when that intervention is deleted)."""
    kept = {data["id"] for data in interventions if data.get("id") is not None}
    labs = list(case.labs.all())
    errors = {
        f"labs[{n}].follows_intervention_index": (
            f"This lab follows intervention {lab.follows_intervention_id}, which the new interventions list leaves "
            "out. Send that intervention with its id, or send the labs too."
        )
        for n, lab in enumerate(labs)
        if lab.follows_intervention_id is not None and lab.follows_intervention_id not in kept
    }
    if errors:
        raise DocumentError(errors)


def _sync_rows(case: Case, relation: str, rows: list[dict], interventions: list[Intervention]) -> list:
    """Make the case's rows of one kind exactly `rows`: update by id, create without id, delete the rest.

    A row is replaced, not merged: a row sent with its id keeps the id (and its history) but gets exactly the
    fields sent, the others back to their defaults, as a new row would. Each row is validated as it will be
    stored (full_clean), so what is saved obeys the same rules as what the serializer checked.
    """
    model = CHILD_RELATIONS[relation]
    existing = {row.pk: row for row in getattr(case, relation).all()}
    _check_ids(relation, rows, existing)
    # Delete first, so that a re-sent row without its id does not collide with the row it replaces.
    kept = {data["id"] for data in rows if data.get("id") is not None}
    for row_id, row in existing.items():
        if row_id not in kept:
            row.delete()
    blank = model(case=case)
    editable = [f for f in model._meta.concrete_fields if f.editable and not f.primary_key and f.name != "case"]
    saved = []
    for n, data in enumerate(rows):
        data = dict(data)
        row_id = data.pop("id", None)
        follows = data.pop("follows_intervention_index", None) if relation == "labs" else None
        row = existing[row_id] if row_id is not None else model(case=case)
        for field in editable:
            setattr(row, field.attname, getattr(blank, field.attname))
        for name, value in data.items():
            setattr(row, name, value)
        if relation == "labs":
            row.follows_intervention = interventions[follows] if follows is not None else None
        try:
            row.full_clean(exclude=["case"], validate_unique=False)
        except ValidationError as exc:
            raise DocumentError(
                {
                    f"{relation}[{n}]" + (f".{field}" if field != NON_FIELD_ERRORS else ""): " ".join(messages)
                    for field, messages in exc.message_dict.items()
                }
            ) from exc
        row.save()
        saved.append(row)
    return saved


# What a curator enters on the case itself; the rest is the server's (id, status, version, who and when) or derived.
CASE_SERVER_FIELDS = {"id", "status", "version", "created_by", "updated_by"}


def case_content(case_pk: int) -> tuple:
    """The case's content as stored: its editable fields and its rows' field values, without ids, timestamps,
    curation status, version or derived measures. Two equal contents are the same case to a reader of the
    document (a lab's link to an intervention is compared by the intervention's position)."""
    case = Case.objects.filter(pk=case_pk).values(
        *(f.attname for f in Case._meta.concrete_fields if f.editable and f.name not in CASE_SERVER_FIELDS)
    )
    content: list = [tuple(case.get().items())]
    intervention_position: dict = {}
    for relation in WRITE_ORDER:  # interventions before labs
        model = CHILD_RELATIONS[relation]
        names = [f.attname for f in model._meta.concrete_fields if f.editable and f.name != "case"]
        rows = list(model.objects.filter(case_id=case_pk).order_by(*model._meta.ordering).values(*names))
        if relation == "interventions":
            intervention_position = {row["id"]: n for n, row in enumerate(rows)}
        for row in rows:
            row.pop("id")
            if relation == "labs":
                row["follows_intervention_id"] = intervention_position.get(row["follows_intervention_id"])
        content.append((relation, [tuple(row.items()) for row in rows]))
    return tuple(content)


class _Unchanged(Exception):
    """Raised inside case_save_document to roll back a write that changed nothing."""


def case_save_document(*, data: dict, user, case: Case | None = None, expected_version: int | None = None) -> Case:
    """Create or update a whole case from a validated document, atomically: all rows or none.

    Lists present in `data` replace the case's rows of that kind (rows keep their id when the document
    gives it, and get exactly the fields given); lists absent are left alone (a partial update). A change to a
    published case sends it back to review (cases.workflow). An update that changes nothing is not a change:
    the case keeps its status and version, and no history is recorded (the write is rolled back).
    """
    data = dict(data)
    children = {relation: data.pop(relation) for relation in WRITE_ORDER if relation in data}
    if "age_years" in data:
        data["age_years"] = deidentified_age(data["age_years"])
    if case is None:
        with transaction.atomic():
            case = Case(created_by=user)
            return _write_document(case, data, children, user)
    try:
        with transaction.atomic():
            # The conditional UPDATE of the version is the lock (see case_claim_version): claim it first, so that
            # the content compared below cannot change under us, and a stale version is refused even for a no-op.
            case_claim_version(case=case, expected_version=expected_version or case.version)
            before = case_content(case.pk)
            case.status = workflow.status_after_edit(case.status)
            saved = _write_document(case, data, children, user)
            if case_content(case.pk) == before:
                raise _Unchanged
            return saved
    except _Unchanged:
        return Case.objects.with_children().get(pk=case.pk)


def _write_document(case: Case, data: dict, children: dict, user) -> Case:
    for name, value in data.items():
        setattr(case, name, value)
    case.updated_by = user
    case._history_user = user
    case.save()
    interventions = list(case.interventions.all())
    if "interventions" in children and "labs" not in children:
        _check_links_kept(case, children["interventions"])
    for relation in WRITE_ORDER:
        if relation in children:
            saved = _sync_rows(case, relation, children[relation], interventions)
            if relation == "interventions":
                interventions = saved
    case = Case.objects.with_children().get(pk=case.pk)
    case.refresh_derived()
    return case


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
