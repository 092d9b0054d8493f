"""The unfiltered case list's count and ETag come from the state PostgreSQL keeps by triggers (CaseListState,
issue 16): it must agree with the cases however they are written, and the ETag must move on every visible write."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count

from api.conditional import state_etag
from cases.models import Case, CaseListState
from tests.factories import make_case

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's (SQLite counts)"),
]

CASES = "/api/v1/cases/"


def kept() -> dict[str, int]:
    return {s.status: s.cases for s in CaseListState.objects.all() if s.cases}


def counted() -> dict[str, int]:
    return dict(Case.objects.order_by().values_list("status").annotate(n=Count("pk")))


def test_the_state_agrees_with_the_cases_however_they_are_written():
    cases = [make_case(status="published") for _ in range(3)] + [make_case() for _ in range(2)]
    assert kept() == counted() == {"published": 3, "draft": 2}
    tags = {state_etag(None), state_etag(["published"])}
    cases[0].title = "saved"
    cases[0].save()  # an update that keeps the status
    Case.objects.filter(pk=cases[1].pk).update(status="in_review")  # a queryset update, as a transition
    Case.objects.filter(status="draft").update(title="bulk")  # several rows in one statement
    cases[4].delete()
    with connection.cursor() as cursor:  # and raw SQL, which no Django signal sees
        cursor.execute("UPDATE cases_case SET status = 'retracted' WHERE id = %s", [cases[2].pk])
    assert kept() == counted() == {"published": 1, "in_review": 1, "draft": 1, "retracted": 1}
    tags |= {state_etag(None), state_etag(["published"])}
    assert len(tags) == 4


def test_the_unfiltered_list_counts_from_the_state_and_its_etag_moves_with_every_visible_write(analyst, curator):
    published, draft = make_case(status="published"), make_case()
    body = analyst.get(CASES)
    assert body.json()["count"] == 1 and curator.get(CASES).json()["count"] == 2
    tag = body["ETag"]
    Case.objects.filter(pk=draft.pk).update(title="unseen")  # a draft changes: not the analyst's list
    assert analyst.get(CASES, HTTP_IF_NONE_MATCH=tag).status_code == 304
    Case.objects.filter(pk=published.pk).update(version=published.version)  # written, even to the same value
    assert analyst.get(CASES, HTTP_IF_NONE_MATCH=tag).status_code == 200
    tag = analyst.get(CASES)["ETag"]
    published.delete()
    after = analyst.get(CASES, HTTP_IF_NONE_MATCH=tag)
    assert after.status_code == 200 and after.json()["count"] == 0
