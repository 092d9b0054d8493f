"""POST /api/v1/extract/: proposals from a text for every role; bad input is a clear 400 or 413; nothing is
written; the schema documents it with an example and real responses match it."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import Case, HpoTerm, Source
from tests.api.documents import client_for
from tests.api.test_schema import assert_matches_schema, openapi

pytestmark = pytest.mark.django_db

URL = "/api/v1/extract/"
PATH = "/api/v1/extract/"
TEXT = (
    "A 67-year-old woman presented with lethargy. Serum calcium was 12.4 mg/dL (normal range, 8.9–10.1 mg/dL). "
    "She received zoledronic acid 4 mg intravenously. Evidence of osseous metastasis was absent."
)


@pytest.fixture(autouse=True)
def vocabularies():
    cache.clear()  # throttling counts
    call_command("loaddata", "agents", verbosity=0)
    HpoTerm.objects.create(id="HP:0001254", label="Lethargy", phenotypic_abnormality=True)


@pytest.mark.parametrize("role", ["curator", "reviewer", "analyst"])
def test_every_role_gets_proposals_with_spans(role):
    response = client_for(role).post(URL, {"text": TEXT}, format="json")
    assert response.status_code == 200
    body = assert_matches_schema(response, PATH, "post")
    by_kind = {p["kind"]: p for p in body["proposals"]}
    assert by_kind["patient"]["fields"] == {"age_years": 67, "sex": "female"}
    assert by_kind["lab"]["fields"] == {
        "analyte": "calcium_total", "specimen": "serum", "value": 12.4, "unit": "mg/dL", "ref_low": 8.9,
        "ref_high": 10.1,
    }  # fmt: skip
    assert by_kind["intervention"]["fields"]["agent"] == "zoledronic_acid"
    assert by_kind["intervention"]["fields"]["dose_value"] == 4
    assert by_kind["metastasis"]["fields"] == {"site": "bone", "detail": "osseous", "present": False}
    assert by_kind["finding"]["fields"]["hpo_id"] == "HP:0001254"
    for p in body["proposals"]:
        start, end = p["span"]
        assert TEXT[start:end] == p["quote"]
    assert body["counts"]["lab"] == 1 and body["messages"] == []


def test_anonymous_and_roleless_users_are_refused():
    assert APIClient().post(URL, {"text": TEXT}, format="json").status_code == 401
    assert client_for(None).post(URL, {"text": TEXT}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"text": ""}, "text", "may not be blank"),
        ({"text": "   \n  "}, "text", "The text is empty"),
        ({}, "text", "required"),
        ({"text": TEXT, "language": "en"}, "language", "Unknown field"),
        ({"text": "患者は67歳の女性で、高カルシウム血症を呈した。" * 5}, "text", "does not look like English"),
        ({"text": ["a list"]}, "text", "Not a valid string"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body, field, reason):
    response = client_for("curator").post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["field"] == field and reason in errors[0]["reason"], errors
    assert_matches_schema(response, PATH, "post")


def test_a_json_list_is_a_400_and_a_form_post_a_415():
    curator = client_for("curator")
    assert curator.post(URL, [TEXT], format="json").status_code == 400
    assert curator.post(URL, {"text": TEXT}).status_code == 415


def test_a_5_mb_paste_is_a_413_before_it_is_read():
    response = client_for("curator").post(URL, {"text": "calcium " * 650_000}, format="json")
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_a_text_without_numbers_says_so():
    response = client_for("curator").post(URL, {"text": "She was treated with zoledronic acid."}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [p["fields"]["agent"] for p in body["proposals"]] == ["zoledronic_acid"]
    assert "no numbers" in body["messages"][0]
    nothing = client_for("reviewer").post(URL, {"text": "The weather was fine that day."}, format="json").json()
    assert nothing["proposals"] == [] and "Nothing in the text matched" in nothing["messages"][-1]


def test_nothing_is_written_and_queries_are_constant():
    curator = client_for("curator")
    cases, sources = Case.objects.count(), Source.objects.count()
    curator.post(URL, {"text": TEXT}, format="json")  # builds the vocabulary once
    with CaptureQueriesContext(connection) as first:
        curator.post(URL, {"text": TEXT}, format="json")
    with CaptureQueriesContext(connection) as second:
        curator.post(URL, {"text": TEXT * 20}, format="json")
    # the agent count, the agents' last history entry, the HPO release, the HPO term count (the user's permissions
    # are cached on the test client's user); no write, and no more for a longer text
    assert len(first) == len(second) == 4, [q["sql"] for q in second]
    assert not any(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for q in second)
    assert (Case.objects.count(), Source.objects.count()) == (cases, sources)


def test_the_schema_documents_the_endpoint_with_an_example():
    post = openapi()["paths"][PATH]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert any("year-old" in e["value"]["text"] for e in examples.values())
    assert {"200", "400", "401", "403", "413"} <= set(post["responses"])


# --- POST /api/v1/sources/import/ ----------------------------------------------------------------------------

IMPORT = "/api/v1/sources/import/"


def test_a_curator_imports_a_citation_file_and_a_second_import_offers_the_duplicate():
    from tests.cases.test_citations import ABSTRACT, MEDLINE, RIS, TITLE

    curator = client_for("curator")
    created = curator.post(IMPORT, {"content": RIS}, format="json")
    assert created.status_code == 201
    body = assert_matches_schema(created, IMPORT, "post")
    (source,) = body["created"]
    assert (source["title"], source["text"], source["doi"]) == (TITLE, ABSTRACT, "10.1155/2013/871917")
    again = curator.post(IMPORT, {"content": MEDLINE}, format="json")
    assert again.status_code == 200
    assert assert_matches_schema(again, IMPORT, "post") == {
        "created": [],
        "duplicates": [{"title": TITLE, "existing": [source["id"]]}],
    }
    assert Source.objects.count() == 1


def test_a_bad_citation_file_is_a_400_and_an_analyst_a_403():
    curator = client_for("curator")
    bad = curator.post(IMPORT, {"content": "Just some words."}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "content"
    assert "not a RIS, BibTeX" in bad.json()["errors"][0]["reason"]
    assert curator.post(IMPORT, {"content": "x", "format": "ris"}, format="json").json()["errors"][0]["field"] == (
        "format"
    )
    assert client_for("analyst").post(IMPORT, {"content": "TY  - JOUR"}, format="json").status_code == 403
    assert not Source.objects.exists()
