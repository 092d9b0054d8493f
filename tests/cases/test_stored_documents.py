"""A case's stored document (cases.stored_documents, issue 16) is served only while it is the document rendered now:
each input it shows is changed here (the case through the API, the admin and a transition; its source, agent,
users' names and analytes; a bulk change followed by refresh_derived), and the next read must show the change and
equal a fresh rendering, byte for byte. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import update_last_login
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from cases import reading, stored_documents
from cases.analytes import Analyte
from cases.models import Agent, Case, LabResult, ReferenceChanges, Source, StoredDocument
from cases.services import cases_refresh_derived
from tests.admin_pages import case_form_data, login
from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def fresh(case: Case) -> bytes:
    """The case's document rendered now, as the API's JSON."""
    rows = list(reading.case_rows(Case.objects.filter(pk=case.pk)))
    return JSONRenderer().render(reading.render(rows)[0])


def stored(client, case: Case) -> dict:
    """Read the case twice: the second read is served from the store (one query after the permissions), and its
    bytes are what rendering it now gives."""
    url = f"{CASES}{case.registry_id}/"
    first = client.get(url)
    assert first.status_code == 200, first.content[:300]
    client.force_authenticate(type(client.user).objects.get(pk=client.user.pk))  # a fresh user, as per request
    with CaptureQueriesContext(connection) as queries:
        second = client.get(url)
    assert len(queries.captured_queries) == 2  # permissions (1), the case's row with its stored document
    assert second.content == first.content == fresh(case)
    assert bytes(StoredDocument.objects.get(case=case).body) == second.content
    return second.json()


def make(curator, **overrides) -> Case:
    agent = Agent.objects.create(code="test_drug", name="Test drug", category="drug", drug_class="test", atc_code="")
    document = make_document(
        interventions=[
            {
                "category": "drug",
                "agent": agent.code,
                "agent_text": "test drug",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 0,
            }
        ],
        **overrides,
    )
    made = curator.post(CASES, document, format="json")
    assert made.status_code == 201, made.content[:2000]
    return Case.objects.get()


def test_the_stored_bytes_are_the_json_the_api_renders_for_the_document(curator):
    case = make(curator)
    url = f"{CASES}{case.registry_id}/"
    first = curator.get(url)  # rendered and stored
    served = curator.get(url)  # as stored
    every_key = curator.get(url, {"fields": ",".join(reading.readable_keys())})  # rendered (fields=), never stored
    assert served.content == every_key.content == first.content
    for header in ("Content-Type", "ETag", "Vary", "Allow"):
        assert served[header] == every_key[header], header
    assert served["Content-Type"] == "application/json" and served["ETag"] == f'"v{case.version}"'
    # Indented JSON and the browsable API are rendered as before.
    indented = curator.get(url, HTTP_ACCEPT="application/json; indent=2")
    assert indented.content.decode().startswith('{\n  "id"') and json.loads(indented.content) == served.json()
    assert b"<html" in curator.get(url, HTTP_ACCEPT="text/html").content


def test_a_stored_document_answers_if_none_match_with_304(curator):
    case = make(curator)
    url = f"{CASES}{case.registry_id}/"
    stored(curator, case)
    assert curator.get(url, HTTP_IF_NONE_MATCH=f'"v{case.version}"').status_code == 304
    assert curator.get(url, HTTP_IF_NONE_MATCH='"v0"').status_code == 200


def test_an_analyst_never_gets_a_draft_whose_document_is_stored(curator):
    case = make(curator)
    stored(curator, case)  # the curator's read stored it
    assert client_for("analyst").get(f"{CASES}{case.registry_id}/").status_code == 404


def test_a_deleted_case_takes_its_stored_document_with_it(curator):
    case = make(curator)
    stored(curator, case)
    deleted = curator.delete(f"{CASES}{case.registry_id}/", HTTP_IF_MATCH=f'"v{case.version}"')
    assert deleted.status_code == 204
    assert not StoredDocument.objects.exists()
    assert curator.get(f"{CASES}{case.registry_id}/").status_code == 404


def test_an_edit_through_the_api_is_read_at_once(curator):
    case = make(curator)
    stored(curator, case)
    url = f"{CASES}{case.registry_id}/"
    assert curator.patch(url, {"title": "Edited"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 200
    assert stored(curator, case)["title"] == "Edited"


def test_an_edit_in_the_admin_is_read_at_once(curator):
    case = make(curator)
    stored(curator, case)
    admin = login("curator", "admin-curator")
    saved = admin.post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="Edited in the admin"))
    assert saved.status_code == 302
    assert stored(curator, case)["title"] == "Edited in the admin"


def test_a_transition_is_read_at_once(curator):
    case = make(curator)
    stored(curator, case)
    url = f"{CASES}{case.registry_id}/transition/"
    assert curator.post(url, {"name": "submit"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 200
    assert stored(curator, case)["status"] == "in_review"


def test_a_corrected_source_is_read_at_once(curator, reviewer):
    case = make(curator)
    stored(curator, case)
    patched = reviewer.patch(f"/api/v1/sources/{case.source_id}/", {"title": "Corrected title"}, format="json")
    assert patched.status_code == 200, patched.content[:300]
    assert stored(curator, case)["source"]["title"] == "Corrected title"
    source = Source.objects.get()
    source.journal = "Saved in the admin"
    source.save()
    assert stored(curator, case)["source"]["journal"] == "Saved in the admin"


def test_a_renamed_agent_is_read_at_once(curator, reviewer):
    case = make(curator)
    stored(curator, case)
    patched = reviewer.patch("/api/v1/agents/test_drug/", {"name": "Renamed drug"}, format="json")
    assert patched.status_code == 200, patched.content[:300]
    assert stored(curator, case)["interventions"][0]["agent_name"] == "Renamed drug"


def test_a_corrected_analyte_factor_is_read_at_once(curator):
    case = make(curator)
    before = stored(curator, case)["labs"][0]["si"]["value"]
    calcium = Analyte.objects.get(code="calcium_total")
    calcium.si_factor *= 2  # a test value: the document must follow whatever the curators store
    calcium.save()
    assert stored(curator, case)["labs"][0]["si"]["value"] == pytest.approx(2 * before, rel=0.01)


def test_a_renamed_user_is_read_at_once_and_a_login_changes_nothing(curator):
    case = make(curator)
    stored(curator, case)
    counted = ReferenceChanges.objects.get().changes
    update_last_login(None, curator.user)  # every login saves last_login: not shown, no new rendering
    assert ReferenceChanges.objects.get().changes == counted
    curator.user.username = "renamed-curator"
    curator.user.save()
    assert stored(curator, case)["created_by"] == "renamed-curator"


def test_a_bulk_change_followed_by_refresh_derived_is_read_at_once(curator):
    case = make(curator)
    stored(curator, case)
    LabResult.objects.filter(case=case, value=14).update(value=Decimal("16"))  # as a data fix in bulk would
    cases_refresh_derived(Case.objects.filter(pk=case.pk))
    document = stored(curator, case)
    assert document["labs"][0]["value"] == 16
    assert document["derived"] == Case.objects.get().derived_json


def test_without_the_counter_nothing_is_stored_until_a_reference_write_creates_it(curator):
    case = make(curator)
    ReferenceChanges.objects.all().delete()  # as `manage.py flush` leaves it
    url = f"{CASES}{case.registry_id}/"
    assert curator.get(url).content == curator.get(url).content == fresh(case)
    assert not StoredDocument.objects.exists()
    stored_documents.reference_changed()
    assert ReferenceChanges.objects.get().changes == 1
    stored(curator, case)


def test_every_table_a_document_reads_across_a_foreign_key_is_a_reference_model():
    """A serializer field over a new foreign key (a column like `agent__name`) must be counted as a reference change
    (REFERENCE_MODELS), or its edits would leave stored documents old."""
    from django.apps import apps

    named = {m if isinstance(m, str) else m._meta.label for m in stored_documents.REFERENCE_MODELS}
    reached = set()

    def walk(plan):
        for column in plan.columns:
            model = plan.model
            for part in column.split("__")[:-1]:
                model = model._meta.get_field(part).related_model
                reached.add(model._meta.label)
        for child, _ in plan.many.values():
            walk(child)

    walk(reading.case_plan())
    assert reached == {"cases.Source", "cases.Agent", "auth.User"}
    assert reached <= named
    assert {"cases.Analyte", "cases.AnalyteLoinc"} <= named  # a lab's LOINC, conversions and interpretation
    assert all(apps.get_model(label) for label in named)


def test_a_migration_counts_as_a_reference_change():
    from django.core.management.sql import emit_post_migrate_signal

    counted = ReferenceChanges.objects.get().changes
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what every `migrate` ends with
    assert ReferenceChanges.objects.get().changes == counted + 1


def results_bytes(response) -> bytes:
    assert response.status_code == 200, response.content[:300]
    return response.content.split(b'"results":', 1)[1]


def test_a_page_of_stored_documents_is_the_json_the_api_renders_for_the_page(curator):
    """A list page of whole documents is served from the stored documents, spliced into the envelope: the same bytes
    as the page rendered (fields= every key renders and never stores), for numbered and cursor pages, another order
    and a filter; a page with one document out of date renders that one again, in its place."""
    make(curator)
    for title, age in (("Second", 40), ("Third", 70), ("Fourth", 50)):
        document = make_document(title=title, patient={"age_years": age, "sex": "female"})
        assert curator.post(CASES, document, format="json").status_code == 201, title
    every_key = ",".join(reading.readable_keys())
    for query in ("page_size=2", "page_size=2&page=2", "cursor=0&page_size=3", "ordering=-id", "age_min=60"):
        first = curator.get(f"{CASES}?{query}")  # the documents not stored yet rendered and stored
        served = curator.get(f"{CASES}?{query}")  # as stored
        rendered = curator.get(f"{CASES}?{query}&fields={every_key}")
        assert results_bytes(served) == results_bytes(first) == results_bytes(rendered), query
        assert {k: v for k, v in served.json().items() if k != "results"} == {
            k: v for k, v in first.json().items() if k != "results"
        }
        assert served["ETag"] == rendered["ETag"] and served["Content-Type"] == "application/json"
    assert StoredDocument.objects.count() == 4
    third = Case.objects.get(title="Third")
    url = f"{CASES}{third.registry_id}/"
    assert curator.patch(url, {"title": "Third, edited"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 200
    with CaptureQueriesContext(connection) as queries:
        served = curator.get(f"{CASES}?page_size=10")
    sql = [q["sql"] for q in queries.captured_queries]  # now: the next request empties the log
    assert [d["title"] for d in served.json()["results"]][2] == "Third, edited"
    assert results_bytes(served) == results_bytes(curator.get(f"{CASES}?page_size=10&fields={every_key}"))
    assert len([q for q in sql if "ON CONFLICT" in q]) == 1  # the one out of date stored again
    assert json.loads(results_bytes(served)[:-1])[2] == json.loads(fresh(third))
