"""Curation workflow: who may move a case where, optimistic locking, and the history it leaves."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from cases.models import Case
from cases.services import NotDeletable, VersionConflict, case_claim_version, case_delete, case_transition
from cases.vocabularies import CurationStatus
from cases.workflow import is_deletable, status_after_edit
from tests.factories import make_case, make_user

pytestmark = pytest.mark.django_db


def test_a_curator_submits_and_a_reviewer_publishes():
    curator, reviewer = make_user("cura", "curator"), make_user("revi", "reviewer")
    case = make_case()
    case_transition(case=case, name="submit", user=curator)
    case_transition(case=case, name="publish", user=reviewer)
    case.refresh_from_db()
    assert (case.status, case.version, case.updated_by) == ("published", 3, reviewer)


def test_a_curator_cannot_publish():
    curator = make_user("cura", "curator")
    case = make_case(status="in_review")
    with pytest.raises(PermissionDenied, match="Only a reviewer can publish"):
        case_transition(case=case, name="publish", user=curator)
    assert Case.objects.get(pk=case.pk).status == "in_review"


def test_an_analyst_cannot_submit():
    with pytest.raises(PermissionDenied, match="Only a curator can submit for review"):
        case_transition(case=make_case(), name="submit", user=make_user("ana", "analyst"))


@pytest.mark.parametrize(
    ("status", "name"),
    [("draft", "publish"), ("published", "submit"), ("draft", "retract"), ("retracted", "publish")],
)
def test_transitions_only_start_from_their_source_status(status, name):
    reviewer = make_user("revi", "reviewer")
    with pytest.raises(ValidationError, match="Cannot"):
        case_transition(case=make_case(status=status), name=name, user=reviewer)


def test_a_reviewer_can_send_back_retract_and_reopen():
    reviewer = make_user("revi", "reviewer")
    case = make_case(status="in_review")
    for name, expected in [
        ("send_back", "draft"),
        ("submit", "in_review"),
        ("publish", "published"),
        ("retract", "retracted"),
        ("reopen", "draft"),
    ]:
        case_transition(case=case, name=name, user=reviewer)
        assert Case.objects.get(pk=case.pk).status == expected


def test_editing_a_published_case_sends_it_back_to_review():
    assert status_after_edit("published") == "in_review"
    assert status_after_edit("draft") == "draft"


@pytest.mark.parametrize("status", CurationStatus.values)
def test_what_the_admin_offers_to_delete_is_what_case_delete_deletes(status):
    case = make_case(status=status)
    try:
        case_delete(case=case, user=make_user("cura", "curator"), expected_version=case.version)
        deleted = True
    except NotDeletable:
        deleted = False
    assert deleted == is_deletable(status) == (status in ("draft", "in_review"))
    assert Case.objects.filter(pk=case.pk).exists() is not deleted


def test_a_stale_version_is_refused():
    case = make_case()
    case_claim_version(case=case, expected_version=1)
    stale = Case.objects.get(pk=case.pk)
    stale.version = 1
    with pytest.raises(VersionConflict, match="you edited version 1, it is now version 2"):
        case_claim_version(case=stale, expected_version=1)


def test_transitions_are_recorded_in_the_history_with_their_user():
    curator = make_user("cura", "curator")
    case = make_case()
    case_transition(case=case, name="submit", user=curator)
    latest = case.history.latest()
    assert (latest.status, latest.history_user, latest.history_change_reason) == (
        "in_review",
        curator,
        "Submit for review",
    )
    assert set(latest.diff_against(latest.prev_record).changed_fields) == {"status", "updated_by", "version"}


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_editors_exactly_one_wins():
    if connection.vendor == "sqlite":
        pytest.skip("needs two real connections writing at once: PostgreSQL only (SQLite serialises writers)")
    case = make_case()
    results, barrier = [], threading.Barrier(2)

    def edit():
        from django.db import connections, transaction

        try:
            barrier.wait()
            with transaction.atomic():
                case_claim_version(case=Case.objects.get(pk=case.pk), expected_version=1)
            results.append("ok")
        except VersionConflict:
            results.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=edit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    assert Case.objects.get(pk=case.pk).version == 2
