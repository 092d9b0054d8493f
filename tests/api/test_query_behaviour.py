"""What analysts expect of the read endpoints: unknown query parameters are refused (400 naming them), lists and
details carry ETags and answer If-None-Match with 304, and `fields=` trims the case documents."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import Case, StoredDocument
from tests.api.documents import client_for
from tests.factories import make_case, make_lab

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"

# Every read endpoint, with a query it must accept (its own filters, pagination, options).
ENDPOINTS = {
    CASES: "disorder=hypercalcemia&ordering=-updated_at&page=1&page_size=5&fields=id,title&format=json",
    "/api/v1/cases/{id}/": "fields=id,status",
    "/api/v1/cases/{id}/phenopacket/": "",
    "/api/v1/cases/{id}/fhir/": "",
    "/api/v1/sources/": "page=1&page_size=10",
    "/api/v1/agents/": "",
    "/api/v1/vocabularies/": "",
    "/api/v1/exports/cases.csv": "tumor_site=breast&calcium_unit=mmol/L&peak_calcium_min=1",
    "/api/v1/exports/labs.csv": "disorder=hypercalcemia",
    "/api/v1/exports/phenopackets.jsonl": "disorder=hypercalcemia",
    "/api/v1/exports/phenopackets.zip": "mechanism=humoral_pthrp",
    "/api/v1/analytics/summary/": "tumor_site=breast",
    "/api/v1/analytics/interventions/": "by=mechanism&agent=zoledronic_acid",
    "/api/v1/analytics/trajectories/": "align=first_calcium_directed&sex=female",
}


@pytest.fixture
def analyst():
    return client_for("analyst")


@pytest.fixture
def curator():
    return client_for("curator")


def named(response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


# --- unknown query parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_an_unknown_query_parameter_is_a_400_naming_it(analyst, path):
    url = path.format(id=make_case(status="published").registry_id)
    accepted = analyst.get(f"{url}?{ENDPOINTS[path]}")
    assert accepted.status_code == 200, accepted.content[:300]
    response = analyst.get(f"{url}?{ENDPOINTS[path]}&bogus_filter=1&Disorder=x")
    assert response.status_code == 400
    assert named(response) == {"bogus_filter", "Disorder"}
    assert "Unknown query parameter" in response.json()["errors"][0]["reason"]


@pytest.mark.parametrize(
    "path, query",
    [
        ("/api/v1/cases/{id}/", "disorder=hypercalcemia"),  # a filter of the list means nothing on one case
        ("/api/v1/cases/{id}/", "page=2"),
        ("/api/v1/cases/{id}/phenopacket/", "fields=id"),
        ("/api/v1/agents/", "page=2"),  # agents are not paginated
        ("/api/v1/analytics/summary/", "align=first_calcium_directed"),  # a parameter of another endpoint
        ("/api/v1/analytics/summary/", "fields=id"),
        ("/api/v1/exports/cases.csv", "by=mechanism"),
    ],
)
def test_a_parameter_the_endpoint_does_not_use_is_unknown_there(analyst, path, query):
    url = path.format(id=make_case(status="published").registry_id)
    response = analyst.get(f"{url}?{query}")
    assert response.status_code == 400
    assert named(response) == {query.split("=")[0]}


def test_an_anonymous_request_with_an_unknown_parameter_is_still_a_401():
    assert APIClient().get(f"{CASES}?bogus_filter=1").status_code == 401


def test_an_invalid_value_of_a_known_filter_is_a_400_too(analyst):
    response = analyst.get(f"{CASES}?disorder=hypercalcaemia")
    assert response.status_code == 400
    assert named(response) == {"disorder"}


# --- sparse fieldsets ------------------------------------------------------------------------------------------


def test_fields_trims_each_case_of_the_list_to_the_named_keys(analyst):
    for n in range(3):
        make_case(status="published", title=f"case {n}")
    response = analyst.get(CASES, {"fields": "id,title", "page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"]  # pagination is untouched
    assert [set(case) for case in body["results"]] == [{"id", "title"}, {"id", "title"}]
    repeated = analyst.get(f"{CASES}?fields=id&fields=patient,derived").json()["results"][0]
    assert list(repeated) == ["id", "patient", "derived"]


def test_fields_on_one_case(analyst):
    case = make_case(status="published")
    response = analyst.get(f"{CASES}{case.registry_id}/", {"fields": "status,version"})
    assert response.json() == {"status": "published", "version": case.version}
    assert response["ETag"] == f'"v{case.version}"'


@pytest.mark.parametrize(
    "fields, reason",
    [("id,bogus,title", "Unknown field(s): bogus."), ("", "Name at least one field"), (",,", "Name at least one")],
)
def test_an_unknown_or_empty_fields_is_a_400(analyst, fields, reason):
    case = make_case(status="published")
    for path in (CASES, f"{CASES}{case.registry_id}/"):
        response = analyst.get(path, {"fields": fields})
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["field"] == "fields" and reason in error["reason"]


# --- ETag and If-None-Match ------------------------------------------------------------------------------------


def test_a_case_answers_if_none_match_with_304(analyst):
    case = make_case(status="published")
    path = f"{CASES}{case.registry_id}/"
    first = analyst.get(path)
    tag = first["ETag"]
    assert tag == f'"v{case.version}"'
    for header in (tag, f"W/{tag}", f'"v999", {tag}', "*"):  # weak comparison; a list of tags; any
        response = analyst.get(path, HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response.content == b""
        assert response["ETag"] == tag
    assert analyst.get(path, HTTP_IF_NONE_MATCH='"v999"').status_code == 200


def test_the_list_etag_answers_if_none_match_with_304_until_a_visible_case_changes(analyst, curator):
    published = make_case(status="published")
    draft = make_case(status="draft")
    tag = analyst.get(CASES)["ETag"]
    assert tag.startswith('W/"')
    not_modified = analyst.get(CASES, HTTP_IF_NONE_MATCH=tag)
    assert not_modified.status_code == 304 and not_modified.content == b""

    # A draft the analyst cannot see changes: the analyst's list has not changed.
    response = curator.patch(f"{CASES}{draft.registry_id}/", {"title": "new"}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 200
    assert analyst.get(CASES, HTTP_IF_NONE_MATCH=tag).status_code == 304

    # The published case's source is corrected: its document changes, so the list does.
    published.source.citation = "Corrected citation."
    published.source.save()
    changed = analyst.get(CASES, HTTP_IF_NONE_MATCH=tag)
    assert changed.status_code == 200 and changed["ETag"] != tag
    tag = changed["ETag"]

    # A curator's list sees the draft; editing it changes the curator's list ETag.
    curator_tag = curator.get(CASES)["ETag"]
    assert curator_tag != tag  # two cases, not one
    response = curator.patch(f"{CASES}{draft.registry_id}/", {"title": "newer"}, format="json", HTTP_IF_MATCH='"v2"')
    assert response.status_code == 200
    assert curator.get(CASES, HTTP_IF_NONE_MATCH=curator_tag).status_code == 200

    # Editing the published case sends it back to review: it leaves the analyst's list.
    version = Case.objects.get(pk=published.pk).version
    response = curator.patch(
        f"{CASES}{published.registry_id}/", {"title": "edited"}, format="json", HTTP_IF_MATCH=f'"v{version}"'
    )
    assert response.status_code == 200
    after = analyst.get(CASES, HTTP_IF_NONE_MATCH=tag)
    assert after.status_code == 200 and after.json()["count"] == 0


def test_the_list_etag_depends_on_the_filters(analyst):
    make_case(status="published", disorder="hypercalcemia")
    make_case(status="published", disorder="hypocalcemia")
    hyper = analyst.get(CASES, {"disorder": "hypercalcemia"})["ETag"]
    hypo = analyst.get(CASES, {"disorder": "hypocalcemia"})["ETag"]
    assert hyper != hypo
    assert analyst.get(CASES, {"disorder": "hypercalcemia"}, HTTP_IF_NONE_MATCH=hypo).status_code == 200


def queries(client, path: str, **headers) -> tuple[int, int]:
    client.force_authenticate(type(client.user).objects.get(pk=client.user.pk))  # a fresh user, as per request
    with CaptureQueriesContext(connection) as ctx:
        status = client.get(path, **headers).status_code
    return status, len(ctx.captured_queries)


def test_a_304_costs_a_fixed_number_of_queries_whatever_the_cohort(analyst):
    def cohort(n: int) -> None:
        for _ in range(n):
            make_lab(make_case(status="published"))

    cohort(1)
    small = analyst.get(CASES)["ETag"]
    # Expected (2): the user's permissions (1, its own and its groups': registry.auth_backends; Django's backend
    # reads them in 2) and the ETag's aggregate; nothing is serialised.
    assert queries(analyst, CASES, HTTP_IF_NONE_MATCH=small) == (304, 2)
    cohort(30)
    large = analyst.get(CASES)["ETag"]
    assert large != small
    assert queries(analyst, CASES, HTTP_IF_NONE_MATCH=large) == (304, 2)
    # A 200 with fields=id (3; was 11, the full list's, see test_cases): permissions (1), the ETag's aggregate and
    # the page: cases.reading fetches no rows the fields do not name (issue 16).
    assert queries(analyst, f"{CASES}?page_size=100&fields=id") == (200, 3)
    case = Case.objects.first()
    # One case's 304 (2; was 10, the whole document's): permissions (1) and the case's row, whose version is the
    # ETag; its rows are fetched only for a 200 (cases.reading, issue 16).
    assert queries(analyst, f"{CASES}{case.registry_id}/", HTTP_IF_NONE_MATCH=f'"v{case.version}"') == (304, 2)
    # Its first 200 (14; was 11), once the document the list stored is gone: permissions (1), the case's row with
    # its stored document (none yet), the case with source and users, eight kinds of row (the six kinds, the
    # episodes and the labs' links to interventions, issue 13), and storing the document it rendered (3:
    # savepoint, upsert, release; cases.stored_documents).
    StoredDocument.objects.all().delete()  # the lists above stored the documents of the cases they listed
    assert queries(analyst, f"{CASES}{case.registry_id}/") == (200, 14)
    # Every later 200 (2): permissions (1) and the case's row with its stored document, served as stored (issue 16).
    assert queries(analyst, f"{CASES}{case.registry_id}/") == (200, 2)


def test_following_next_as_the_readme_does_collects_every_case_with_the_fields_asked_for(analyst):
    for n in range(5):
        make_case(status="published", title=f"case {n}")
    documents, url, params = [], CASES, {"page_size": 2, "fields": "id,patient,derived"}
    while url:
        page = analyst.get(url, params).json()
        documents += page["results"]
        url, params = page["next"], None  # `next` carries the query (fields, page_size)
    assert len(documents) == 5 and len({d["id"] for d in documents}) == 5
    assert all(list(d) == ["id", "patient", "derived"] for d in documents)
