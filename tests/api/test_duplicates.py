"""Duplicates: a likely duplicate case is refused on create and import (409 in the API, naming the existing case)
unless "duplicate" is confirmed; sources go through one finder (cases.citations.source_duplicates) on create
(API and admin) and on every import, so two sources of the same paper do not silently coexist."""

from __future__ import annotations

import json
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.interop.phenopacket import phenopacket_import
from cases.document import ImportFailed, export_documents, import_cases
from cases.models import Case, Source
from cases.services import NeedsConfirmation
from tests.admin_pages import case_form_data, login
from tests.api.documents import make_document
from tests.factories import make_source

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
SOURCES = "/api/v1/sources/"
TITLE = "Humoral hypercalcemia of malignancy in a patient with squamous cell carcinoma of the lung"


def test_a_second_create_of_the_same_case_is_a_409_naming_the_first(curator):
    document = make_document()
    first = curator.post(CASES, document, format="json")
    assert first.status_code == 201
    again = curator.post(CASES, document, format="json")
    assert again.status_code == 409
    body = again.json()
    assert body["detail"].startswith(f"Likely a duplicate of {first.json()['id']}: the same paper and the same patient")
    assert [e["field"] for e in body["errors"]] == ["duplicate"]
    assert 'send the case again with "duplicate" in its "confirm" list' in body["errors"][0]["reason"]
    assert Case.objects.count() == 1
    confirmed = curator.post(CASES, {**document, "confirm": ["duplicate"]}, format="json")
    assert confirmed.status_code == 201
    assert Case.objects.count() == 2


def test_another_patient_or_disorder_of_the_same_source_is_not_a_duplicate(curator):
    document = make_document()
    assert curator.post(CASES, document, format="json").status_code == 201
    older = {**document, "patient": {"age_years": 71, "sex": "female"}}
    assert curator.post(CASES, older, format="json").status_code == 201
    other_disorder = {**document, "disorder": "hypocalcemia", "mechanisms": [], "labs": []}
    assert curator.post(CASES, other_disorder, format="json").status_code == 201
    assert Case.objects.count() == 3


def test_the_same_doi_and_patient_is_a_duplicate_whatever_the_disorder(curator):
    first = make_source(title="First record of the paper", doi="10.1000/ABC")
    second = make_source(title="A differently named record", doi="10.1000/abc")  # the same DOI in other case
    created = curator.post(CASES, make_document(first), format="json").json()
    document = make_document(second, disorder="hypocalcemia", mechanisms=[], labs=[])
    response = curator.post(CASES, document, format="json")
    assert response.status_code == 409
    assert f"Likely a duplicate of {created['id']}:" in response.json()["detail"]


def test_an_edit_of_a_case_is_not_asked_about_duplicates(curator):
    document = make_document()
    first = curator.post(CASES, document, format="json").json()
    curator.post(CASES, {**document, "confirm": ["duplicate"]}, format="json")
    response = curator.patch(f"{CASES}{first['id']}/", {"summary": "tidied"}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 200


def test_other_warnings_stay_400_and_a_duplicate_makes_the_whole_answer_409(curator):
    from cases.warnings import CaseWarning, registered

    def implausible(case):
        return [CaseWarning("labs[0].value", "Implausible.")]

    document = make_document()
    assert curator.post(CASES, {**document, "confirm": ["labs[0].value"]}, format="json").status_code == 201
    with registered(implausible):
        fresh = curator.post(CASES, make_document(), format="json")
        assert fresh.status_code == 400  # another warning, no duplicate: stays a 400
        both = curator.post(CASES, document, format="json")
        assert both.status_code == 409
        assert sorted(e["field"] for e in both.json()["errors"]) == ["duplicate", "labs[0].value"]


def test_the_openapi_schema_documents_the_409s(curator):
    schema = curator.get("/api/schema/?format=json").json()
    create = schema["paths"]["/api/v1/cases/"]["post"]["responses"]["409"]
    assert "duplicate" in create["description"]
    assert create["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationError")
    assert "duplicate" in schema["paths"]["/api/v1/sources/"]["post"]["responses"]["409"]["description"]


# --- imports ---------------------------------------------------------------------------------------------------


def test_importing_the_same_json_twice_needs_confirmation(curator):
    source = make_source(title=TITLE, doi="10.1000/abc")
    [original] = import_cases([make_document(source)], user=curator.user)
    exported = json.loads(json.dumps(export_documents(Case.objects.filter(pk=original.pk))))
    with pytest.raises(ImportFailed) as refused:
        import_cases(exported, user=curator.user)
    [error] = refused.value.errors
    assert error.startswith(f"case 1 (PTHrP-mediated hypercalcemia, test case): duplicate: Likely a duplicate of "
                            f"{original.registry_id}")  # fmt: skip
    assert Case.objects.count() == 1
    [copy] = import_cases([{**exported[0], "confirm": ["duplicate"]}], user=curator.user)
    assert copy.source_id == source.pk
    assert Source.objects.count() == 1


def test_an_imported_source_nearly_equal_to_an_existing_one_is_that_source(curator):
    existing = make_source(title=TITLE)
    document = make_document(existing)
    document.pop("source_id")
    document["source"] = {"kind": "case_report", "citation": "Roe R. Elsewhere. 2021.", "title": TITLE.upper() + "."}
    [case] = import_cases([document], user=curator.user)
    assert case.source_id == existing.pk
    assert Source.objects.count() == 1


def test_the_admin_import_refuses_duplicates_unless_the_box_is_ticked(curator):
    original = curator.post(CASES, make_document(), format="json").json()
    admin = login("curator", "admin-curator")
    body = json.dumps([original]).encode()
    page = admin.post("/admin/cases/case/import/", {"file": SimpleUploadedFile("c.json", body)})
    assert page.status_code == 200
    assert f"duplicate: Likely a duplicate of {original['id']}" in page.content.decode()
    assert 'name="confirm_duplicate"' in page.content.decode()
    assert Case.objects.count() == 1
    ticked = admin.post(
        "/admin/cases/case/import/", {"file": SimpleUploadedFile("c.json", body), "confirm_duplicate": "1"}
    )
    assert ticked.status_code == 302
    assert Case.objects.count() == 2


def test_reimporting_the_same_phenopacket_needs_confirmation(curator):
    created = curator.post(CASES, make_document(make_source(title=TITLE, pmid="12345678")), format="json").json()
    packet = curator.get(f"{CASES}{created['id']}/phenopacket/").json()
    with pytest.raises(NeedsConfirmation, match=f"Likely a duplicate of {created['id']}"):
        phenopacket_import(packet, user=curator.user)
    assert Case.objects.count() == 1
    copy = phenopacket_import(packet, user=curator.user, confirm=["duplicate"])
    assert copy.source.pmid == "12345678"
    assert (Case.objects.count(), Source.objects.count()) == (2, 1)


# --- sources ---------------------------------------------------------------------------------------------------


def test_a_source_with_a_nearly_equal_title_is_a_409_unless_confirmed(curator):
    existing = make_source(title=TITLE)
    body = {"kind": "case_report", "citation": "Roe R. 2021.", "title": TITLE.replace("lung", "Lung") + "."}
    response = curator.post(SOURCES, body, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "duplicate"
    assert f"source {existing.pk} ({TITLE[:80]})" in response.json()["detail"]
    assert curator.post(SOURCES, {**body, "confirm": ["duplicate"]}, format="json").status_code == 201
    assert Source.objects.count() == 2


def test_a_source_with_the_same_doi_is_a_409(curator):
    existing = make_source(title="One paper", doi="10.1000/xyz")
    body = {"kind": "case_report", "citation": "c", "title": "Another title", "doi": "10.1000/XYZ"}
    for doi in ("10.1000/XYZ", "10.1000/xyz"):
        response = curator.post(SOURCES, {**body, "doi": doi}, format="json")
        assert response.status_code == 409, response.content
        assert f"source {existing.pk}" in response.json()["detail"]


def test_renaming_a_source_to_another_ones_title_is_a_409(curator):
    make_source(title=TITLE)
    other = make_source(title="Calcitriol-mediated hypercalcemia in lymphoma")
    response = curator.patch(f"{SOURCES}{other.pk}/", {"title": TITLE}, format="json")
    assert response.status_code == 409
    assert curator.patch(f"{SOURCES}{other.pk}/", {"notes": "checked"}, format="json").status_code == 200


def test_the_admin_offers_the_existing_source_and_a_box_to_add_it_anyway():
    existing = make_source(title=TITLE)
    admin = login("curator", "admin-curator")
    assert 'name="confirm_duplicate"' not in admin.get("/admin/cases/source/add/").content.decode()
    form = {"kind": "case_report", "citation": "Roe R. 2021.", "title": TITLE + ".", "authors": "", "text": ""}
    page = admin.post("/admin/cases/source/add/", form)
    assert page.status_code == 200
    text = page.content.decode()
    assert f"The registry already has this paper: {existing} (id {existing.pk})" in text
    assert 'name="confirm_duplicate"' in text
    assert Source.objects.count() == 1
    assert admin.post("/admin/cases/source/add/", {**form, "confirm_duplicate": "on"}).status_code == 302
    assert Source.objects.count() == 2


def test_the_admin_case_page_asks_to_confirm_a_duplicate():
    admin = login("curator", "admin-curator")
    existing = Case.objects.create(source=make_source(), title="First", disorder="hypercalcemia", age_years=60)
    data = case_form_data(existing, title="Second")
    data.pop("edited_version")
    page = admin.post("/admin/cases/case/add/", data)
    assert page.status_code == 200
    text = page.content.decode()
    assert f"Likely a duplicate of {existing.registry_id}" in text
    assert 'name="confirm" value="duplicate"' in text
    assert Case.objects.count() == 1
    assert admin.post("/admin/cases/case/add/", {**data, "confirm": "duplicate"}).status_code == 302
    assert Case.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_identical_cases_created_at_the_same_moment_are_one_case_and_409s():
    """The check is a lock (cases.duplicates.hold_duplicate_lock): of eight identical creations released together,
    one is saved and the others are told of it. Without the lock, two of fifty were both saved (PostgreSQL)."""
    from django.db import connection, connections
    from rest_framework.test import APIClient

    if connection.vendor == "sqlite":
        pytest.skip("needs connections writing at once: PostgreSQL only (the in-memory SQLite test database locks)")

    from tests.factories import make_user

    user = make_user("curator1", "curator")
    document = make_document()
    barrier, statuses = threading.Barrier(8), []

    def create():
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait()
            statuses.append(client.post(CASES, document, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    assert Case.objects.count() == 1
