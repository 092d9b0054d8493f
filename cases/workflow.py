"""Curation workflow: draft -> in review -> published, send back, retract; who may do what.

Roles are Django groups created by migration 0002: curator (enter and edit, submit for review),
reviewer (also publish, send back, retract), analyst (read published cases only).
Policy for published cases: any change to a published case sends it back to review, whoever makes it;
only a reviewer can publish it again. Nothing published changes silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from .vocabularies import CurationStatus as S

CURATOR, REVIEWER, ANALYST = "curator", "reviewer", "analyst"


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    source: tuple[str, ...]
    target: str
    permission: str


TRANSITIONS = {
    t.name: t
    for t in (
        Transition("submit", "Submit for review", (S.DRAFT,), S.IN_REVIEW, "cases.submit_case"),
        Transition("publish", "Publish", (S.IN_REVIEW,), S.PUBLISHED, "cases.publish_case"),
        Transition("send_back", "Send back to draft", (S.IN_REVIEW, S.PUBLISHED), S.DRAFT, "cases.publish_case"),
        Transition("retract", "Retract", (S.PUBLISHED,), S.RETRACTED, "cases.publish_case"),
        Transition("reopen", "Reopen as draft", (S.RETRACTED,), S.DRAFT, "cases.publish_case"),
    )
}


def can_see_unpublished(user) -> bool:
    return user.is_superuser or user.has_perm("cases.change_case")


def check_transition(user, status: str, name: str) -> Transition:
    """The transition, or an error a curator understands (PermissionDenied / ValidationError)."""
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise ValidationError(f"Unknown transition {name!r}; use one of {', '.join(TRANSITIONS)}.")
    if not user.has_perm(transition.permission):
        raise PermissionDenied(
            f"Only a {'reviewer' if 'publish' in transition.permission else 'curator'} can {transition.label.lower()}."
        )
    if status not in transition.source:
        raise ValidationError(
            f"Cannot {transition.label.lower()} a case that is {S(status).label.lower()}; "
            f"it must be {' or '.join(S(s).label.lower() for s in transition.source)}."
        )
    return transition


def four_eyes_refusal(user, case, name: str) -> str | None:
    """Why this user may not run this transition on this case under the four-eyes rule, or None.

    Policy (REGISTRY_FOUR_EYES, on by default): a reviewer cannot publish a case whose content they created or last
    edited (Case.created_by, Case.content_edited_by: set by the edit service only, so transitions do not count).
    """
    if name != "publish" or not settings.REGISTRY_FOUR_EYES or user.pk is None:
        return None
    if user.pk == case.created_by_id:
        role = "created"
    elif user.pk == case.content_edited_by_id:
        role = "last edited"
    else:
        return None
    return f"You {role} the content of {case.registry_id}; another reviewer must publish it (four-eyes rule)."


DELETABLE = (S.DRAFT, S.IN_REVIEW)


def is_deletable(status: str) -> bool:
    """Drafts and cases in review may be deleted; published and retracted cases stay (retract instead).

    services.case_delete enforces this on every write path; the admin asks here what to offer.
    """
    return status in DELETABLE


def status_after_edit(status: str) -> str:
    """A content change to a published case sends it back to review."""
    return S.IN_REVIEW if status == S.PUBLISHED else status
