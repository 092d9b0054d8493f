"""The case endpoints: authentication, roles, optimistic concurrency, atomic nested writes, errors, speed."""

import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import DataError, connection
from rest_framework.test import APIClient

from cases.document import DecimalNumberField, ModelValidationMixin
from cases.models import Case, Intervention, LabResult, Source, Tumor
from cases.rows import ROW_KINDS
from cases.services import DocumentError, case_save_document
from tests.api.documents import client_for, make_document
from tests.factories import make_case, make_lab, make_user
from tests.queries import count_queries

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def url(case) -> str:
    return f"{CASES}{case.registry_id if isinstance(case, Case) else case}/"


def create(client, **overrides) -> dict:
    response = client.post(CASES, make_document(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def fields(response) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


# --- authentication --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CASES, f"{CASES}1/", "/api/v1/vocabularies/", "/api/v1/exports/cases.csv"])
def test_anonymous_users_get_no_case_data(path):
    make_case(status="published")
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_is_issued_used_and_revoked():
    make_user("ana", "analyst")
    client = APIClient()
    assert (
        client.post("/api/v1/auth/token/", {"username": "ana", "password": "wrong"}, format="json").status_code == 400
    )
    token = client.post("/api/v1/auth/token/", {"username": "ana", "password": "pw-ana"}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(CASES).status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get(CASES).status_code == 401


def test_a_user_without_a_role_cannot_read_cases():
    assert client_for(None).get(CASES).status_code == 403


# --- roles -----------------------------------------------------------------------------------------------


def test_analysts_see_published_cases_only_and_a_draft_is_a_404(analyst):
    draft, published = make_case(), make_case(status="published")
    ids = [c["id"] for c in analyst.get(CASES).json()["results"]]
    assert ids == [published.registry_id]
    assert analyst.get(url(draft)).status_code == 404
    assert analyst.get(url(published)).status_code == 200


@pytest.mark.parametrize("role", ["curator", "reviewer"])
def test_curators_and_reviewers_see_every_case(role):
    make_case(), make_case(status="in_review"), make_case(status="published")
    assert client_for(role).get(CASES).json()["count"] == 3


def test_analysts_cannot_write(analyst):
    case = make_case(status="published")
    assert analyst.post(CASES, make_document(), format="json").status_code == 403
    assert analyst.patch(url(case), {"title": "x"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 403
    assert analyst.delete(url(case), HTTP_IF_MATCH='"v1"').status_code == 403
    assert (
        analyst.post(url(case) + "transition/", {"name": "retract"}, format="json", HTTP_IF_MATCH='"v1"').status_code
        == 403
    )


def test_a_curator_submits_but_only_a_reviewer_publishes(curator, reviewer):
    doc = create(curator)
    submitted = curator.post(url(doc["id"]) + "transition/", {"name": "submit"}, format="json", HTTP_IF_MATCH='"v1"')
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "in_review"
    refused = curator.post(url(doc["id"]) + "transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v2"')
    assert refused.status_code == 403
    assert "Only a reviewer can publish" in refused.json()["detail"]
    published = reviewer.post(url(doc["id"]) + "transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v2"')
    assert (published.status_code, published.json()["status"], published["ETag"]) == (200, "published", '"v3"')


def test_an_impossible_transition_is_a_400_naming_the_rule(reviewer):
    case = make_case()
    response = reviewer.post(url(case) + "transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert "Cannot publish a case that is draft" in response.json()["errors"][0]["reason"]


def test_editing_a_published_case_sends_it_back_to_review(curator):
    case = make_case(status="published")
    response = curator.patch(url(case), {"title": "Corrected title"}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.json()["status"] == "in_review"


# --- server-owned fields ---------------------------------------------------------------------------------


def test_server_owned_fields_cannot_be_set_through_the_payload(curator):
    other = make_user("someone-else", "reviewer")
    doc = create(
        curator,
        id="CCR-999999",
        status="published",
        version=42,
        created_by=other.username,
        created_at="2001-01-01T00:00:00Z",
        derived={"peak_calcium": {"mg_dl": 99}},
    )
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    assert (case.status, case.version, case.created_by, case.updated_by) == ("draft", 1, curator.user, curator.user)
    assert case.created_at.year > 2001
    assert doc["derived"]["peak_calcium"]["mg_dl"] == 14.0  # computed from the labs, not taken from the payload


def test_ages_over_89_come_back_as_90_plus(curator):
    doc = create(curator, patient={"age_years": 97, "sex": "male"})
    assert doc["patient"] == {
        "age_years": 90,
        "age_90_or_over": True,
        "sex": "male",
        "menopausal_status": "not_reported",
    }


# --- the document ----------------------------------------------------------------------------------------


def test_a_created_case_comes_back_whole_with_codes_units_and_derived_measures(curator):
    doc = create(curator)
    assert doc["disorder_hpo"] == "HP:0003072"
    assert doc["labs"][0]["loinc"] == "17861-6"
    assert doc["labs"][0]["si"] == {
        "value": 3.49,
        "value_high": None,
        "ref_low": 2.22,
        "ref_high": 2.52,
        "unit": "mmol/L",
    }  # 14 x 0.2495 = 3.493; 8.9 x 0.2495 = 2.2206; 10.1 -> 2.51995
    assert doc["labs"][1]["follows_intervention_index"] == 0
    assert doc["derived"]["peak_ctcae"]["grade"] == 4  # 14 > 13.5
    assert doc["derived"]["normalisation"] == {
        "normalised": True,
        "days": 5,
        "intervention_index": 0,
        "lab_index": 1,
        "first_intervention_index": 0,
        "first_intervention_normalised": True,
    }  # 9.5 within 8.9-10.1 on day 5, fluids day 0
    assert [m["site"] for m in doc["metastases"] if not m["present"]] == ["bone"]


def test_a_partial_update_keeps_absent_lists_and_updates_rows_by_id(curator):
    doc = create(curator)
    first_lab = doc["labs"][0]
    response = curator.patch(
        url(doc["id"]),
        {
            "labs": [
                {**first_lab, "value": 15.0},
                {"analyte": "albumin", "value": 3.0, "unit": "g/dL", "sequence": 2, "day": 0},
            ]
        },
        format="json",
        HTTP_IF_MATCH='"v1"',
    )
    assert response.status_code == 200, response.json()
    labs = response.json()["labs"]
    assert labs[0]["id"] == first_lab["id"] and labs[0]["value"] == 15.0
    assert len(labs) == 2  # the 9.5 lab, absent from the list, is gone; the albumin is new
    assert len(response.json()["interventions"]) == 1  # interventions absent from the payload: kept
    # Payne: 15.0 + 0.8 x (4.0 - 3.0) = 15.8 mg/dL, on the same day as the albumin
    assert response.json()["derived"]["peak_calcium"] == {
        "mg_dl": 15.8,
        "mmol_l": 3.94,
        "comparator": "",
        "basis": "calcium_corrected",
        "day": 0,
        "lab_index": 0,
    }  # 15.8 x 0.2495 = 3.9421


def test_interventions_replaced_without_the_labs_cannot_silently_unlink_a_lab(curator):
    doc = create(curator)  # lab 1 follows intervention 0
    without_ids = [{k: v for k, v in i.items() if k != "id"} for i in doc["interventions"]]
    response = curator.patch(url(doc["id"]), {"interventions": without_ids}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert "labs[1].follows_intervention_indexes" in fields(response)
    assert LabResult.objects.get(pk=doc["labs"][1]["id"]).followed_ids() == (doc["interventions"][0]["id"],)
    # with the id kept, or with the labs sent too, the write goes through and the link survives
    kept = curator.patch(url(doc["id"]), {"interventions": doc["interventions"]}, format="json", HTTP_IF_MATCH='"v1"')
    assert kept.status_code == 200
    labs = [{k: v for k, v in lab.items() if k != "id"} for lab in doc["labs"]]
    both = curator.patch(
        url(doc["id"]), {"interventions": without_ids, "labs": labs}, format="json", HTTP_IF_MATCH=kept["ETag"]
    )
    assert both.status_code == 200, both.json()
    assert both.json()["labs"][1]["follows_intervention_index"] == 0


def test_a_full_update_replaces_every_list(curator):
    doc = create(curator)
    body = make_document(labs=[], interventions=[])
    body["source_id"] = doc["source"]["id"]
    response = curator.put(url(doc["id"]), body, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 200
    assert response.json()["labs"] == [] and response.json()["interventions"] == []
    assert response.json()["derived"]["peak_calcium"] is None


def test_a_row_id_from_another_case_is_refused(curator):
    other = create(curator)
    doc = create(curator)
    response = curator.patch(url(doc["id"]), {"labs": [other["labs"][0]]}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert fields(response) == {"labs[0].id": f"No lab result {other['labs'][0]['id']} in this case."}


# --- rows sent with their id -----------------------------------------------------------------------------


def put_document(client, doc: dict, etag: str = '"v1"', **changes):
    """PUT the document as read back, with top-level changes."""
    body = {**doc, "source_id": doc["source"]["id"], **changes}
    return client.put(url(doc["id"]), body, format="json", HTTP_IF_MATCH=etag)


def test_a_row_sent_with_its_id_gets_exactly_the_fields_sent(curator):
    doc = create(curator)
    first = doc["labs"][0]  # with a reference range and a quote
    sent = {"id": first["id"], "analyte": "calcium_total", "value": 14.0, "unit": "mg/dL", "sequence": 2, "day": 0}
    response = put_document(curator, doc, labs=[sent, doc["labs"][1]])
    assert response.status_code == 200, response.json()
    lab = response.json()["labs"][0]
    assert lab["id"] == first["id"]
    assert (lab["ref_low"], lab["ref_high"], lab["quote"]) == (None, None, "")  # reset, not left as they were


def test_a_row_with_its_id_is_stored_as_validated_not_merged_with_the_old_row(curator):
    range_lab = {"analyte": "calcium_total", "value": 12, "value_high": 16, "unit": "mg/dL", "sequence": 1}
    tumor = {"site": "breast", "er": "positive", "hormone_receptor": "positive"}
    doc = create(curator, labs=[range_lab], tumors=[tumor])
    # Valid as sent; merged with the stored row it would be a range 17-16 and an ER-positive, HR-negative tumor.
    response = curator.patch(
        url(doc["id"]),
        {
            "labs": [{"id": doc["labs"][0]["id"], "analyte": "calcium_total", "value": 17, "unit": "mg/dL"}],
            "tumors": [{"id": doc["tumors"][0]["id"], "site": "breast", "hormone_receptor": "negative"}],
        },
        format="json",
        HTTP_IF_MATCH='"v1"',
    )
    assert response.status_code == 200, response.json()
    lab, tumor = LabResult.objects.get(), Tumor.objects.get()
    assert (lab.value, lab.value_high, tumor.er, tumor.hormone_receptor) == (17, None, "unknown", "negative")


def test_an_id_twice_in_one_list_is_refused_and_nothing_changes(curator):
    doc = create(curator)
    labs = [*doc["labs"], {**doc["labs"][0], "value": 20.0}]
    response = curator.patch(url(doc["id"]), {"title": "new", "labs": labs}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert fields(response) == {"labs[2].id": f"id {doc['labs'][0]['id']} appears twice."}
    case = Case.objects.get()
    assert (case.title, case.version, sorted(float(lab.value) for lab in case.labs.all())) == (
        doc["title"],
        1,
        [9.5, 14.0],
    )


def test_each_row_is_validated_as_stored_with_its_path_in_the_error(curator):
    # The service validates every row itself (full_clean), whatever the caller checked before.
    doc = create(curator)
    case = Case.objects.get()
    good = {"analyte": "calcium_total", "value": Decimal("11"), "unit": "mg/dL"}
    bad = {"analyte": "calcium_total", "value": Decimal("12"), "value_high": Decimal("10"), "unit": "mg/dL"}
    with pytest.raises(DocumentError) as raised:
        case_save_document(data={"title": "new", "labs": [good, good, bad]}, user=curator.user, case=case)
    assert raised.value.errors == {"labs[2].value_high": "The high end of a range must not be below its low end."}
    case = Case.objects.get()
    assert (case.title, case.version, case.labs.count()) == (doc["title"], 1, 2)


# --- edits of published cases ----------------------------------------------------------------------------


def published_document(client) -> dict:
    doc = create(client)
    Case.objects.update(status="published")
    return client.get(url(doc["id"])).json()


def test_an_unchanged_put_of_a_published_case_keeps_it_published_at_its_version(curator):
    doc = published_document(curator)
    history = (Case.history.count(), LabResult.history.count(), Tumor.history.count())
    response = put_document(curator, doc)
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response["ETag"]) == ("published", '"v1"')
    assert response.json()["labs"] == doc["labs"]  # the same rows, ids included
    # The same content without row ids, and a PATCH that sets what is there, change nothing either.
    no_ids = {rel: [{k: v for k, v in row.items() if k != "id"} for row in doc[rel]] for rel in ROW_KINDS}
    assert put_document(curator, doc, **no_ids).json()["status"] == "published"
    patched = curator.patch(url(doc["id"]), {"title": doc["title"]}, format="json", HTTP_IF_MATCH='"v1"')
    assert (patched.json()["status"], patched["ETag"]) == ("published", '"v1"')
    assert (Case.history.count(), LabResult.history.count(), Tumor.history.count()) == history  # nothing recorded
    assert [lab["id"] for lab in curator.get(url(doc["id"])).json()["labs"]] == [lab["id"] for lab in doc["labs"]]


def test_a_changed_value_sends_a_published_case_back_to_review(curator):
    doc = published_document(curator)
    labs = [{**doc["labs"][0], "value": 14.5}, doc["labs"][1]]
    response = put_document(curator, doc, labs=labs)
    assert (response.json()["status"], response["ETag"]) == ("in_review", '"v2"')


def test_an_unchanged_put_with_a_stale_version_is_still_refused(curator):
    doc = published_document(curator)
    Case.objects.update(version=2)
    assert put_document(curator, doc).status_code == 412


# --- atomicity -------------------------------------------------------------------------------------------


def test_a_nested_write_whose_fifth_lab_is_invalid_leaves_nothing_behind(curator):
    labs = [{"analyte": "calcium_total", "value": 10 + n, "unit": "mg/dL", "sequence": n} for n in range(4)]
    labs.append({"analyte": "calcium_total", "value": 12, "unit": "pg/mL", "sequence": 5})
    response = curator.post(CASES, make_document(labs=labs), format="json")
    assert response.status_code == 400
    assert fields(response) == {"labs[4].unit": "pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L."}
    assert (Case.objects.count(), LabResult.objects.count(), Intervention.objects.count()) == (0, 0, 0)


def test_a_failed_update_changes_nothing(curator):
    doc = create(curator)
    labs = [*doc["labs"], {"analyte": "pth_intact", "value": -3, "unit": "pg/mL", "sequence": 9}]
    response = curator.patch(url(doc["id"]), {"title": "new", "labs": labs}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert fields(response) == {"labs[2].value": "Concentrations cannot be negative."}
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    assert (case.title, case.version, case.labs.count()) == (doc["title"], 1, 2)


def test_a_database_failure_midway_rolls_back_the_whole_write(curator, monkeypatch):
    doc = create(curator)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Case, "refresh_derived", fail)  # the last step of case_save_document
    with pytest.raises(RuntimeError):
        curator.patch(url(doc["id"]), {"title": "new", "labs": []}, format="json", HTTP_IF_MATCH='"v1"')
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    assert (case.title, case.version, case.labs.count()) == (doc["title"], 1, 2)


# --- the database as a safety net ------------------------------------------------------------------------


def test_a_database_refusal_during_a_write_is_a_400_and_nothing_is_written(curator, monkeypatch):
    doc = create(curator)

    def overflow(*args, **kwargs):
        raise DataError("numeric field overflow")

    monkeypatch.setattr(Case, "refresh_derived", overflow)  # the last step of case_save_document
    response = curator.patch(url(doc["id"]), {"title": "new", "labs": []}, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 400
    assert "a number is too large" in fields(response)[None]
    case = Case.objects.get()
    assert (case.title, case.version, case.labs.count()) == (doc["title"], 1, 2)


@pytest.fixture
def without_validation(monkeypatch):
    """Lets values reach the database unchecked, as a rule validation missed would."""
    monkeypatch.setattr(ModelValidationMixin, "validate", lambda self, attrs: attrs)
    monkeypatch.setattr(DecimalNumberField, "to_internal_value", lambda self, data: Decimal(str(data)))
    monkeypatch.setattr(LabResult, "full_clean", lambda self, *args, **kwargs: None)


def test_a_check_constraint_refused_by_the_database_is_a_400_with_its_rule(curator, without_validation):
    labs = [{"analyte": "calcium_total", "value": 12, "value_high": 10, "unit": "mg/dL"}]
    response = curator.post(CASES, make_document(labs=labs), format="json")
    assert response.status_code == 400
    assert fields(response) == {
        None: "The database refused the change (labresult_value_high_not_below_value): The high end of a range must "
        "not be below its low end. Nothing was saved."
    }
    assert Case.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no column limits to overflow")
def test_a_number_that_overflows_its_column_is_a_400_not_a_500(curator, without_validation):
    labs = [{"analyte": "calcium_total", "value": 1e12, "unit": "mg/dL"}]  # numeric(12, 4): at most 10^8
    response = curator.post(CASES, make_document(labs=labs), format="json")
    assert response.status_code == 400
    assert "a number is too large" in fields(response)[None]
    assert (Case.objects.count(), LabResult.objects.count()) == (0, 0)


def test_a_lab_value_beyond_its_column_is_a_400_on_both_databases(curator):
    labs = [{"analyte": "calcium_total", "value": 1e12, "unit": "mg/dL"}]
    response = curator.post(CASES, make_document(labs=labs), format="json")
    assert response.status_code == 400
    assert "labs[0].value" in fields(response)
    assert Case.objects.count() == 0


# --- optimistic concurrency ------------------------------------------------------------------------------


def test_responses_carry_an_etag_from_the_version(curator):
    doc = create(curator)
    assert curator.get(url(doc["id"]))["ETag"] == '"v1"'


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_without_if_match_get_428(curator, method):
    doc = create(curator)
    response = getattr(curator, method)(url(doc["id"]), make_document(), format="json")
    assert response.status_code == 428
    response = getattr(curator, method)(url(doc["id"]), make_document(), format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 428


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_with_a_stale_if_match_get_412(curator, method):
    doc = create(curator)
    assert curator.patch(url(doc["id"]), {"title": "first"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 200
    body = make_document(source=Source.objects.get(pk=doc["source"]["id"]))
    response = getattr(curator, method)(url(doc["id"]), body, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == 412
    assert Case.objects.get(title="first").version == 2


def test_the_second_of_two_editors_of_the_same_version_is_refused(curator, reviewer):
    doc = create(curator)
    etag = curator.get(url(doc["id"]))["ETag"]
    assert curator.patch(url(doc["id"]), {"title": "curator's"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    late = reviewer.patch(url(doc["id"]), {"title": "reviewer's"}, format="json", HTTP_IF_MATCH=etag)
    assert late.status_code == 412
    assert Case.objects.get().title == "curator's"


def test_a_draft_is_deleted_but_a_published_case_must_be_retracted(curator):
    draft, published = make_case(), make_case(status="published")
    assert curator.delete(url(draft), HTTP_IF_MATCH='"v1"').status_code == 204
    response = curator.delete(url(published), HTTP_IF_MATCH='"v1"')
    assert response.status_code == 409
    assert Case.objects.filter(pk=published.pk).exists()


# --- history ---------------------------------------------------------------------------------------------


def test_api_changes_are_in_the_history_with_their_user(curator):
    doc = create(curator)
    curator.patch(url(doc["id"]), {"title": "changed"}, format="json", HTTP_IF_MATCH='"v1"')
    case = Case.objects.get()
    assert [(h.history_type, h.history_user) for h in case.history.order_by("history_id")] == [
        ("+", curator.user),
        ("~", curator.user),
    ]
    assert LabResult.history.filter(case_id=case.pk, history_user=curator.user).count() == 2


# --- errors ----------------------------------------------------------------------------------------------


def test_an_unknown_case_is_404_and_both_id_forms_work(curator):
    case = make_case()
    assert curator.get(url("CCR-999999")).status_code == 404
    assert curator.get(f"{CASES}{case.pk}/").json()["id"] == case.registry_id


def test_a_method_the_resource_does_not_have_is_405(curator):
    assert curator.delete(CASES).status_code == 405
    assert curator.put("/api/v1/vocabularies/", {}, format="json").status_code == 405


def test_a_body_that_is_not_json_is_415(curator):
    response = curator.post(CASES, "title=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_an_oversized_body_is_413(curator, settings):
    settings.REGISTRY_API_MAX_BODY_BYTES = 1000
    body = make_document(summary="x" * 2000)
    response = curator.post(CASES, body, format="json")
    assert response.status_code == 413
    assert Case.objects.count() == 0


def test_too_many_requests_are_throttled_with_429(curator, settings):
    cache.clear()
    settings.REGISTRY_API_RATES = {"user": "3/minute", "anon": "3/minute"}
    try:
        statuses = [curator.get(CASES).status_code for _ in range(4)]
    finally:
        cache.clear()
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], None),  # not an object
        ({"title": "x"}, "disorder"),
        ({"title": "x", "disorder": "hyper", "source_id": 999}, "source_id"),
    ],
)
def test_malformed_documents_are_400_not_500(curator, body, field):
    response = curator.post(CASES, body, format="json")
    assert response.status_code == 400
    assert field is None or field in fields(response)


def test_bad_json_is_400(curator):
    response = curator.post(CASES, "{not json", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"labs": [{"analyte": "calcium_total", "value": "high", "unit": "mg/dL"}]},
            "labs[0].value",
            "A valid number is required.",
        ),
        (
            {"labs": [{"analyte": "calcium_total", "value": 12, "value_high": 10, "unit": "mg/dL"}]},
            "labs[0].value_high",
            "The high end of a range must not be below its low end.",
        ),
        (
            {"labs": [{"analyte": "calcium_total", "value": 12, "unit": "mg/dL", "follows_intervention_index": 3}]},
            "labs[0].follows_intervention_index",
            "There is no intervention at position 3; this case has 1.",
        ),
        (
            {"mechanisms": [{"code": "drug_related", "certainty": "probable"}]},
            "mechanisms[0].suspect_agent",
            "A drug-related mechanism must name the suspect agent.",
        ),
        (
            {
                "interventions": [
                    {"category": "drug", "agent": "no_such_agent", "agent_text": "x", "intent": "calcium_directed"}
                ]
            },
            "interventions[0].agent",
            "Object with code=no_such_agent does not exist.",
        ),
        ({"patient": {"age_years": 150}}, "patient.age_years", "Ensure this value is less than or equal to 120."),
        (
            {"tumors": [{"site": "breast", "er": "positive", "hormone_receptor": "negative"}]},
            "tumors[0].hormone_receptor",
            "ER or PR is positive, so the hormone-receptor status must be positive.",
        ),
    ],
)
def test_invalid_fields_are_named_with_their_path_and_reason(curator, change, field, reason):
    response = curator.post(CASES, make_document(**change), format="json")
    assert response.status_code == 400
    assert fields(response).get(field) == reason, response.json()


# --- speed -----------------------------------------------------------------------------------------------


def test_a_case_list_page_costs_the_same_queries_at_page_size_1_and_100(curator):
    for n in range(30):
        case = make_case(title=f"case {n}")
        make_lab(case)
    # Expected, whatever the page size (12): the user's own and group permissions for the role check (2), the
    # ETag's aggregate (count, max id, sum of versions, latest changes), whose count is also the pagination's
    # (no second COUNT), the cases with source and users (select_related), then one query each for the episodes
    # (issue 13, point 1: 11 -> 12), tumors, metastases, mechanisms (+agents), findings, labs, interventions
    # (+agents), and the labs' links to the interventions they follow (issue 13). Issue 16: the permissions in one
    # query (registry.auth_backends): 11. Then the page's stored documents (cases.stored_documents): the page is cut
    # from the cases' ids, versions and stored documents (1), the cases without a current one are rendered as before
    # (their rows 1, the eight kinds 8) and stored (savepoint, upsert, release 3): 15. A page whose documents are all
    # stored: permissions, the ETag's aggregate and the page (3).
    small = count_queries(curator, f"{CASES}?page_size=1")
    large = count_queries(curator, f"{CASES}?page_size=100")
    assert small == large == 15
    assert count_queries(curator, f"{CASES}?page_size=1") == count_queries(curator, f"{CASES}?page_size=100") == 3


def test_cursor_pages_scan_every_case_once_in_id_order_at_constant_queries(curator):
    cases = [make_case(title=f"case {n}") for n in range(7)]
    seen, counts, path = [], [], f"{CASES}?cursor=0&page_size=3&fields=id"
    while path:
        counts.append(count_queries(curator, path))
        body = curator.get(path).json()
        assert (body["count"], body["previous"]) == (7, None)
        seen.extend(document["id"] for document in body["results"])
        path = body["next"]
    assert seen == [case.registry_id for case in cases]
    # the same as a numbered page: the cursor's page is the cases after it (WHERE id > cursor), not an OFFSET. 3
    # (was 10): permissions (1, registry.auth_backends), the ETag's aggregate, the page; `fields=id` needs no rows
    # (cases.reading, issue 16).
    assert counts == [3, 3, 3]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("cursor=abc", "A cursor is a case's number: 0 to start, then `next`."),
        ("cursor=0&page=2", "Give page or cursor, not both."),
        ("cursor=0&ordering=-id", "Cursor pages go in id order: leave out ordering."),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(curator, query, reason):
    response = curator.get(f"{CASES}?{query}")
    assert response.status_code == 400
    assert fields(response) == {"cursor": reason}


def test_a_case_retrieve_costs_the_same_queries_whatever_its_rows(curator):
    small, large = (
        create(curator),
        create(
            curator,
            labs=[{"analyte": "calcium_total", "value": 10 + n % 5, "unit": "mg/dL", "sequence": n} for n in range(40)],
            interventions=[
                {"category": "drug", "agent_text": f"drug {n}", "intent": "calcium_directed", "sequence": n}
                for n in range(20)
            ],
        ),
    )
    # Expected (11): permissions (2), the case with source and users, eight prefetches (as for the list: the six
    # kinds, the labs' links to interventions and the interventions' dose steps, issue 13), no COUNT. (A nested
    # prefetch runs only when there are rows to nest in: the list test's cases have no interventions.) Plus the
    # episodes' prefetch (issue 13, point 1): 11 -> 12. The first read also looks for the case's stored document
    # (1) and stores the one it rendered (3: savepoint, upsert, release): 16. Every later read is permissions (2)
    # and the case's row with its stored document (1), served as stored (cases.stored_documents, issue 16). Then the
    # permissions in one query (registry.auth_backends): 15 and 2.
    assert count_queries(curator, url(small["id"])) == count_queries(curator, url(large["id"])) == 15
    assert count_queries(curator, url(small["id"])) == count_queries(curator, url(large["id"])) == 2


def test_responses_are_json_by_default(curator):
    response = curator.get(CASES)
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["count"] == 0


# --- the role x method matrix ----------------------------------------------------------------------------

# Expected status per role for each request on a draft (D) and a published (P) case. Writes send the right
# If-Match; a PUT/PATCH of a published case is allowed for curators and reviewers (it goes back to review);
# DELETE of a published case is 409 (retract instead). Analysts get 404 when reading a draft (it does not exist for
# them); their writes are refused by role (403) before any lookup, so a write reveals nothing either.
MATRIX = {
    #                        analyst  curator  reviewer  no role
    ("GET", "list"): (200, 200, 200, 403),
    ("GET", "D"): (404, 200, 200, 403),
    ("GET", "P"): (200, 200, 200, 403),
    ("POST", "list"): (403, 201, 201, 403),
    ("PUT", "D"): (403, 200, 200, 403),
    ("PUT", "P"): (403, 200, 200, 403),
    ("PATCH", "D"): (403, 200, 200, 403),
    ("PATCH", "P"): (403, 200, 200, 403),
    ("DELETE", "D"): (403, 204, 204, 403),
    ("DELETE", "P"): (403, 409, 409, 403),
}
ROLES = ("analyst", "curator", "reviewer", None)


@pytest.mark.parametrize("role_index", range(4), ids=[r or "no-role" for r in ROLES])
@pytest.mark.parametrize(("method", "target"), list(MATRIX), ids=[f"{m}-{t}" for m, t in MATRIX])
def test_each_role_and_method(role_index, method, target):
    client = client_for(ROLES[role_index])
    source = Source.objects.create(kind="case_report", citation="c", title="t")
    case = make_case(source=source, status="published" if target == "P" else "draft")
    path = CASES if target == "list" else url(case)
    body = make_document(source=source) if method != "GET" else None  # a GET's data would be query parameters
    response = getattr(client, method.lower())(path, body, format="json", HTTP_IF_MATCH='"v1"')
    assert response.status_code == MATRIX[(method, target)][role_index], response.content[:300]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"outcome": {"follow_up_days": 10**12}}, "outcome.follow_up_days"),
        ({"labs": [{"analyte": "calcium_total", "value": 12, "unit": "mg/dL", "day": 10**7}]}, "labs[0].day"),
        (
            {"labs": [{"analyte": "calcium_total", "value": 12, "unit": "mg/dL", "sequence": 10**12}]},
            "labs[0].sequence",
        ),
        (
            {"interventions": [{"category": "drug", "agent_text": "x", "intent": "calcium_directed", "cycles": 10**9}]},
            "interventions[0].cycles",
        ),
        (
            {
                "interventions": [
                    {"category": "drug", "agent_text": "x", "intent": "calcium_directed", "duration_days": 10**6}
                ]
            },
            "interventions[0].duration_days",
        ),
    ],
)
def test_numbers_beyond_a_lifetime_or_a_column_are_a_400_on_both_databases(curator, change, field):
    # Day offsets and durations are bounded by a 120-year lifetime (43,920 days), counts by their column.
    response = curator.post(CASES, make_document(**change), format="json")
    assert response.status_code == 400
    assert field in fields(response)
    assert Case.objects.count() == 0
