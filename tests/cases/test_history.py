"""A case's history (cases.history): every change attributed, and revert as an edit like any other."""

from __future__ import annotations

import pytest

from cases.history import case_changes, case_revert
from cases.models import Case, LabResult
from cases.services import VersionConflict
from tests.api.documents import make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


@pytest.fixture
def edited(curator) -> Case:
    """A case created through the API, then its title changed and its second lab dropped (version 2)."""
    response = curator.post(CASES, make_document(), format="json")
    document = response.json()
    changed = curator.patch(
        f"{CASES}{document['id']}/",
        {"title": "Retitled", "labs": document["labs"][:1]},
        format="json",
        HTTP_IF_MATCH='"v1"',
    )
    assert changed.status_code == 200, changed.content
    return Case.objects.get(pk=int(document["id"].removeprefix("CCR-")))


def test_the_changes_are_listed_newest_first_with_user_and_reason(edited, curator):
    changes = case_changes(edited)
    case_records = [c for c in changes if c.is_case_record]
    assert [(c.action, c.reason, c.user) for c in case_records] == [
        ("changed", "Changed through the API", curator.user),
        ("created", "Created through the API", curator.user),
    ]
    assert ("title", "PTHrP-mediated hypercalcemia, test case", "Retitled") in case_records[0].changes
    dropped = [c for c in changes if c.kind == "lab result" and c.action == "deleted"]
    assert [(c.user, c.reason) for c in dropped] == [(curator.user, "Changed through the API")]


def test_a_revert_is_an_attributed_edit_that_sends_a_published_case_back_to_review(edited, reviewer):
    Case.objects.filter(pk=edited.pk).update(status="published")
    edited.refresh_from_db()
    first = edited.history.order_by("history_id").first()
    reverted = case_revert(case=edited, history_id=first.history_id, user=reviewer.user, expected_version=2)
    assert (reverted.title, reverted.status, reverted.version) == (first.title, "in_review", 3)
    assert reverted.labs.count() == 2
    latest = edited.history.latest()
    assert latest.history_user == reviewer.user
    assert latest.history_change_reason.startswith("Reverted to the state of ")
    restored = LabResult.history.filter(case_id=edited.pk, history_type="+").latest("history_id")
    assert (restored.history_user, restored.history_change_reason) == (reviewer.user, latest.history_change_reason)
    assert reverted.peak_calcium_mg_dl == 14  # derived measures stored for the restored labs


def test_a_revert_from_a_stale_version_is_refused_and_changes_nothing(edited, reviewer):
    first = edited.history.order_by("history_id").first()
    with pytest.raises(VersionConflict):
        case_revert(case=edited, history_id=first.history_id, user=reviewer.user, expected_version=1)
    edited.refresh_from_db()
    assert (edited.title, edited.version, edited.labs.count()) == ("Retitled", 2, 1)
