"""The OpenAPI contract: the schema is valid, real responses match it strictly, and Swagger UI is served locally."""

from __future__ import annotations

import functools
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.views import serve
from django.core.cache import cache
from django.core.management import call_command
from django.test import RequestFactory
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from openapi_spec_validator import validate as validate_spec
from rest_framework.test import APIClient

from cases import tables
from cases.models import Case, HpoTerm, Source
from cases.services import cases_refresh_derived
from tests.api.documents import make_document
from tests.factories import make_agent, make_source, make_user

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/?format=json"
CASES = "/api/v1/cases/"
CASE = "/api/v1/cases/{id}/"
TRANSITION = "/api/v1/cases/{id}/transition/"
JSON = "application/json"


# The OpenAPI formats, with "uri" asserted too (jsonschema checks it only when rfc3987 is installed): a URL
# field may be blank, documented as oneOf [uri, empty string], and without the check "" would match both.
FORMATS = FormatChecker(formats=())
FORMATS.checkers = dict(OAS30ReadValidator.FORMAT_CHECKER.checkers)


@FORMATS.checks("uri", raises=ValueError)
def is_uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@pytest.fixture(autouse=True)
def no_throttling_left_over():
    cache.clear()


@functools.cache
def openapi() -> dict:
    """The schema as the API serves it (fetched once; generating it is slow)."""
    response = APIClient().get(SCHEMA)
    assert response.status_code == 200
    return response.json()


def strict(node):
    """A copy of a schema in which every object with declared properties refuses undeclared ones."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@functools.cache
def strict_components() -> dict:
    return strict(openapi()["components"])


def operation(path: str, method: str) -> dict:
    return openapi()["paths"][path][method.lower()]


def response_schema(path: str, method: str, status: int) -> dict:
    responses = operation(path, method)["responses"]
    assert str(status) in responses, f"{method.upper()} {path} documents {sorted(responses)}, not {status}"
    content = responses[str(status)].get("content", {})
    assert JSON in content, f"{method.upper()} {path} {status} documents no {JSON} body"
    return content[JSON]["schema"]


def errors(validator_class, schema: dict, instance) -> list[str]:
    """Every way the instance breaks the schema; $refs resolve against the (strict) components."""
    validator = validator_class({"components": strict_components(), **schema}, format_checker=FORMATS)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]


def assert_matches_schema(response, path: str, method: str) -> dict:
    """The real response is what the schema documents for this operation and status: nothing more, less or else."""
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    problems = errors(OAS30ReadValidator, response_schema(path, method, response.status_code), body)
    assert not problems, f"{method.upper()} {path} {response.status_code}:\n" + "\n".join(problems)
    return body


def component(name: str) -> dict:
    return openapi()["components"]["schemas"][name]


def assert_has_every_required_case_field(body: dict):
    missing = set(component("Case")["required"]) - set(body)
    assert not missing, f"the case lacks required fields {sorted(missing)}"


def create(client) -> dict:
    response = client.post(CASES, make_document(), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def load_source_cases() -> list[Case]:
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases_refresh_derived(Case.objects.all())
    return list(Case.objects.order_by("pk"))


# --- the document itself ---------------------------------------------------------------------------------


def test_the_schema_is_served_without_logging_in_and_is_valid_openapi():
    response = APIClient().get(SCHEMA)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    spec = response.json()
    assert spec["openapi"].startswith("3.0.")
    validate_spec(spec)


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_schema_documents_every_endpoint_of_the_api():
    assert set(openapi()["paths"]) == {
        "/api/v1/agents/",
        "/api/v1/agents/{code}/",
        "/api/v1/analytics/interventions/",
        "/api/v1/analytics/summary/",
        "/api/v1/analytics/trajectories/",
        "/api/v1/auth/token/",
        CASES,
        CASE,
        TRANSITION,
        "/api/v1/cases/{id}/phenopacket/",
        "/api/v1/cases/{id}/fhir/",
        *(f"/api/v1/exports/{name}.csv" for name in tables.TABLES),
        "/api/v1/exports/tables.zip",
        "/api/v1/codebook.csv",
        "/api/v1/codebook.json",
        "/api/v1/releases/",
        "/api/v1/releases/{version}/",
        "/api/v1/releases/{version}/download/",
        "/api/v1/exports/phenopackets.jsonl",
        "/api/v1/exports/phenopackets.zip",
        "/api/v1/extract/",
        "/api/v1/sources/",
        "/api/v1/sources/import/",
        "/api/v1/sources/{id}/",
        "/api/v1/vocabularies/",
    }


# --- the validator is strict -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda case: case.update(title=None), id="null in a non-nullable field"),
        pytest.param(lambda case: case["patient"].update(sex="alien"), id="code outside the enum"),
        pytest.param(lambda case: case["labs"][0].update(specimen="saliva"), id="specimen outside the enum"),
        pytest.param(lambda case: case["derived"]["peak_calcium"].update(mg_dl=None), id="null in a nested object"),
        pytest.param(lambda case: case["labs"][0]["si"].update(mmol=1), id="undeclared nested field"),
        pytest.param(lambda case: case.update(secret="x"), id="undeclared top-level field"),
        pytest.param(lambda case: case.pop("version"), id="missing required field"),
        pytest.param(lambda case: case.update(updated_at="yesterday"), id="not a date-time"),
        pytest.param(lambda case: case["source"].update(url="doi.org/10.1/x"), id="not a URI"),
    ],
)
def test_the_response_check_refuses_a_spoiled_case(curator, spoil):
    case = create(curator)
    assert not errors(OAS30ReadValidator, response_schema(CASE, "get", 200), case)
    spoil(case)
    assert errors(OAS30ReadValidator, response_schema(CASE, "get", 200), case)


# --- real responses against the schema -------------------------------------------------------------------


def test_the_case_document_the_tests_send_is_a_valid_create_request():
    schema = operation(CASES, "post")["requestBody"]["content"][JSON]["schema"]
    assert not errors(OAS30WriteValidator, schema, make_document())


def test_a_created_case_matches_the_schema(curator):
    response = curator.post(CASES, make_document(), format="json")
    assert response.status_code == 201
    assert_has_every_required_case_field(assert_matches_schema(response, CASES, "post"))


def test_a_retrieved_case_matches_the_schema(curator):
    case = create(curator)
    response = curator.get(f"{CASES}{case['id']}/")
    assert response.status_code == 200
    assert_has_every_required_case_field(assert_matches_schema(response, CASE, "get"))


def test_the_source_cases_with_qualitative_labs_ranges_and_nulls_match_the_schema(curator):
    cases = load_source_cases()
    assert len(cases) == 3
    for case in cases:
        response = curator.get(f"{CASES}{case.registry_id}/")
        assert response.status_code == 200
        assert_has_every_required_case_field(assert_matches_schema(response, CASE, "get"))


def test_the_source_cases_exercise_qualitative_labs_ranges_and_nulls(curator):
    """Guards the test above: these cases really contain the awkward shapes it is meant to check."""
    load_source_cases()
    cases = curator.get(CASES).json()["results"]
    labs = [lab for case in cases for lab in case["labs"]]
    assert any(lab["value"] is None and lab["qualitative"] and lab["unit"] == "" for lab in labs)
    assert any(lab["value_high"] is not None for lab in labs)
    assert any(lab["si"] is None and lab["conventional"] is None for lab in labs)
    assert any(case["derived"]["peak_calcium"] is None and case["derived"]["normalisation"] is None for case in cases)
    assert any(case["derived"]["nadir_ctcae"]["grade"] is None for case in cases if case["derived"]["nadir_ctcae"])
    assert any(course["calcium_before"] is None for case in cases for course in case["derived"]["interventions"])
    assert all(case["created_by"] is None and case["source"]["url"] == "" for case in cases[:1])


def test_a_case_with_coded_drugs_censored_and_unranged_labs_matches_the_schema(curator):
    call_command("loaddata", "agents", verbosity=0)
    document = make_document(
        mechanisms=[
            {
                "rank": 1,
                "code": "drug_related",
                "certainty": "probable",
                "suspect_agent": "calcitriol",
                "action_taken": "drug_withdrawn",
                "dechallenge": "positive",
                "rechallenge": "not_done",
            }
        ],
        interventions=[
            {
                "category": "drug",
                "agent": "zoledronic_acid",
                "agent_text": "zoledronic acid",
                "intent": "calcium_directed",
                "status": "administered",
                "dose_value": 4,
                "dose_unit": "mg",
                "route": "intravenous",
                "sequence": 3,
                "day": 1,
            }
        ],
        labs=[
            {"analyte": "calcium_total", "value": 12, "value_high": 13.5, "unit": "mg/dL", "sequence": 1, "day": 0},
            {"analyte": "pthrp", "comparator": "<", "value": 0.5, "unit": "pmol/L", "sequence": 1, "day": 0},
            {"analyte": "phosphate", "qualitative": "low", "sequence": 1, "day": 0},
            {"analyte": "calcium_ionized", "specimen": "blood", "value": 1.2, "unit": "mmol/L", "sequence": 4},
        ],
    )
    response = curator.post(CASES, document, format="json")
    assert response.status_code == 201, response.json()
    case = assert_matches_schema(response, CASES, "post")
    assert case["interventions"][0]["atc"] == "M05BA08"
    assert case["mechanisms"][0]["suspect_agent_atc"] == "A11CC04"
    assert [lab["interpretation"]["flag"] for lab in case["labs"]][1] is None


def test_a_case_list_page_matches_the_schema(curator):
    load_source_cases()
    create(curator)
    response = curator.get(f"{CASES}?page_size=2")
    assert response.status_code == 200
    page = assert_matches_schema(response, CASES, "get")
    assert page["count"] == 4
    assert page["next"] is not None and page["previous"] is None
    for case in page["results"]:
        assert_has_every_required_case_field(case)
    last = curator.get(page["next"])
    assert last.status_code == 200
    assert assert_matches_schema(last, CASES, "get")["previous"] is not None


def test_a_partial_update_matches_the_schema(curator):
    case = create(curator)
    read = curator.get(f"{CASES}{case['id']}/")
    response = curator.patch(
        f"{CASES}{case['id']}/",
        {"title": "Renamed", "patient": {"sex": "male"}},
        format="json",
        HTTP_IF_MATCH=read["ETag"],
    )
    assert response.status_code == 200, response.json()
    assert_has_every_required_case_field(assert_matches_schema(response, CASE, "patch"))


def test_a_transition_matches_the_schema(curator):
    case = create(curator)
    read = curator.get(f"{CASES}{case['id']}/")
    response = curator.post(
        f"{CASES}{case['id']}/transition/", {"name": "submit"}, format="json", HTTP_IF_MATCH=read["ETag"]
    )
    assert response.status_code == 200, response.json()
    body = assert_matches_schema(response, TRANSITION, "post")
    assert body["status"] == "in_review"
    assert_has_every_required_case_field(body)


def test_the_source_list_matches_the_schema(curator):
    load_source_cases()
    make_source(doi="10.1000/xyz", pmid="12345", url="https://example.org/a", year=2020)
    response = curator.get("/api/v1/sources/")
    assert response.status_code == 200
    assert assert_matches_schema(response, "/api/v1/sources/", "get")["count"] == Source.objects.count()


def test_the_agent_list_matches_the_schema(curator):
    load_source_cases()
    make_agent()
    response = curator.get("/api/v1/agents/")
    assert response.status_code == 200
    assert len(assert_matches_schema(response, "/api/v1/agents/", "get")) > 1


def test_the_vocabularies_match_the_schema(curator):
    response = curator.get("/api/v1/vocabularies/")
    assert response.status_code == 200
    vocabularies = assert_matches_schema(response, "/api/v1/vocabularies/", "get")
    assert set(component("Vocabularies")["required"]) == set(vocabularies)


def test_a_token_is_issued_as_documented_without_logging_in():
    make_user("ana", "analyst")
    response = APIClient().post("/api/v1/auth/token/", {"username": "ana", "password": "pw-ana"}, format="json")
    assert response.status_code == 200
    assert_matches_schema(response, "/api/v1/auth/token/", "post")
    assert {} in operation("/api/v1/auth/token/", "post")["security"]


# --- Swagger UI ------------------------------------------------------------------------------------------


class AssetLinks(HTMLParser):
    """The URLs of every <script src> and <link href> in a page."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def swagger_assets() -> list[str]:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    parser = AssetLinks()
    parser.feed(response.content.decode())
    return parser.urls


def test_swagger_ui_loads_nothing_from_other_hosts():
    urls = swagger_assets()
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    assert any(url.endswith("swagger-ui.css") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert "http://" not in url and "https://" not in url, url


def test_swagger_ui_assets_are_served_by_the_project():
    urls = swagger_assets()
    assert urls
    for url in urls:
        assert url.startswith(settings.STATIC_URL), url
        relative = url.removeprefix(settings.STATIC_URL)
        assert finders.find(relative), f"{url} is not among the static files"
        # What runserver (bin/serve) does for a static URL.
        response = serve(RequestFactory().get(url), relative, insecure=True)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content), url
        response.close()


# --- error bodies --------------------------------------------------------------------------------------------


def test_a_validation_error_matches_the_schema(curator):
    body = make_document(labs=[{"analyte": "calcium_total", "value": 12, "unit": "pg/mL"}])
    response = curator.post(CASES, body, format="json")
    assert response.status_code == 400
    errors_ = assert_matches_schema(response, CASES, "post")["errors"]
    assert errors_ == [
        {"field": "labs[0].unit", "reason": "pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L."}
    ]


def test_precondition_errors_match_the_schema(curator):
    doc = create(curator)
    path = f"{CASES}{doc['id']}/"
    missing = curator.patch(path, {"title": "x"}, format="json")
    assert missing.status_code == 428
    assert_matches_schema(missing, CASE, "patch")
    curator.patch(path, {"title": "x"}, format="json", HTTP_IF_MATCH='"v1"')
    stale = curator.patch(path, {"title": "y"}, format="json", HTTP_IF_MATCH='"v1"')
    assert stale.status_code == 412
    assert_matches_schema(stale, CASE, "patch")


def test_a_missing_case_matches_the_schema(curator):
    response = curator.get(f"{CASES}CCR-999999/")
    assert response.status_code == 404
    assert_matches_schema(response, CASE, "get")


def test_the_schema_documents_each_csv_tables_columns():
    paths = openapi()["paths"]
    for name, table in tables.TABLES.items():
        operation = paths[f"/api/v1/exports/{name}.csv"]["get"]
        assert [c["name"] for c in operation["x-columns"]] == table.column_names
        description = operation["responses"]["200"]["description"]
        assert all(f"| `{column}` |" in description for column in table.column_names), name


def test_the_extract_endpoint_is_documented_with_an_example_that_the_real_endpoint_answers(curator):
    """Issue 12: POST /api/v1/extract/ is in the schema with a request and a response example; the example's text,
    sent for real, is answered in the documented shape with the proposals the example shows."""
    call_command("loaddata", "agents", verbosity=0)
    HpoTerm.objects.create(id="HP:0001254", label="Lethargy", phenotypic_abnormality=True)  # as load_hpo stores it
    post = operation("/api/v1/extract/", "post")
    request_examples = post["requestBody"]["content"][JSON]["examples"]
    (request_example,) = request_examples.values()
    (response_example,) = post["responses"]["200"]["content"][JSON]["examples"].values()
    response = curator.post("/api/v1/extract/", request_example["value"], format="json")
    assert response.status_code == 200
    body = assert_matches_schema(response, "/api/v1/extract/", "post")
    shown = [(p["kind"], p["fields"], p["span"], p["quote"]) for p in response_example["value"]["proposals"]]
    assert [(p["kind"], p["fields"], p["span"], p["quote"]) for p in body["proposals"]] == shown
    assert body["counts"] == response_example["value"]["counts"]
