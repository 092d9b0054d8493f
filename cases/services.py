"""Writes that touch several rows: versioned (optimistic-locking) saves and workflow transitions."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from . import workflow
from .models import Case


class VersionConflict(Exception):
    """The case changed since the caller read it."""

    def __init__(self, case_id: int, expected: int, current: int | None) -> None:
        self.case_id, self.expected, self.current = case_id, expected, current
        super().__init__(
            f"Case CCR-{case_id:06d} was changed by someone else (you edited version {expected}, it is now "
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
