"""Reference resources: sources, agents and vocabularies."""

import pytest
from rest_framework.test import APIClient

from cases.models import Agent, Source
from tests.api.documents import client_for

pytestmark = pytest.mark.django_db


def test_a_curator_adds_and_corrects_a_source_an_analyst_only_reads():
    curator, analyst = client_for("curator"), client_for("analyst")
    body = {
        "kind": "case_report",
        "citation": "Roe R. A case. J Test. 2019;1:1.",
        "title": "A case",
        "year": 2019,
        "doi": "10.1000/xyz123",
        "pmid": "12345678",
    }
    created = curator.post("/api/v1/sources/", body, format="json")
    assert created.status_code == 201
    source_id = created.json()["id"]
    assert curator.patch(f"/api/v1/sources/{source_id}/", {"year": 2020}, format="json").json()["year"] == 2020
    assert analyst.get(f"/api/v1/sources/{source_id}/").json()["doi"] == "10.1000/xyz123"
    assert analyst.post("/api/v1/sources/", body, format="json").status_code == 403
    assert curator.delete(f"/api/v1/sources/{source_id}/").status_code == 405


def test_a_source_with_a_bad_doi_or_a_duplicate_is_a_400():
    curator = client_for("curator")
    Source.objects.create(kind="case_report", citation="c", title="t", doi="10.1000/taken")
    bad = curator.post(
        "/api/v1/sources/",
        {"kind": "case_report", "citation": "c", "title": "t", "doi": "https://doi.org/10.1/x"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "doi"
    duplicate = curator.post(
        "/api/v1/sources/",
        {"kind": "case_report", "citation": "c", "title": "t", "doi": "10.1000/taken"},
        format="json",
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0]["field"] == "doi"


def test_agents_are_read_by_code_and_extended_by_curators():
    curator = client_for("curator")
    created = curator.post(
        "/api/v1/agents/",
        {"code": "gallium_nitrate", "name": "Gallium nitrate", "category": "drug", "drug_class": "other"},
        format="json",
    )
    assert created.status_code == 201
    assert curator.get("/api/v1/agents/gallium_nitrate/").json() == {
        "code": "gallium_nitrate",
        "name": "Gallium nitrate",
        "category": "drug",
        "drug_class": "other",
        "atc_code": "",
        "notes": "",
    }
    assert (
        client_for("analyst", "ana")
        .post("/api/v1/agents/", {"code": "x", "name": "X", "category": "drug"}, format="json")
        .status_code
        == 403
    )
    assert Agent.objects.count() == 1


def test_a_procedure_with_an_atc_code_is_refused():
    response = client_for("curator").post(
        "/api/v1/agents/",
        {"code": "excision", "name": "Excision", "category": "procedure", "atc_code": "M05BA08"},
        format="json",
    )
    assert response.status_code == 400
    assert "Only drugs carry an ATC code" in response.json()["errors"][0]["reason"]


def test_vocabularies_list_codes_labels_and_external_codes():
    vocabularies = client_for("analyst").get("/api/v1/vocabularies/").json()
    assert {
        "code": "hypercalcemia",
        "label": "Hypercalcemia",
        "system": "HPO",
        "external_code": "HP:0003072",
    } in vocabularies["disorder"]
    calcium = next(a for a in vocabularies["analyte"] if a["code"] == "calcium_total")
    assert (calcium["external_code"], calcium["units"], calcium["si_factor"]) == (
        "17861-6",
        ["mg/dL", "mmol/L"],
        0.2495,
    )
    assert {
        "code": "breast",
        "label": "Breast",
        "system": "ICD-O-3 topography",
        "external_code": "C50.9",
    } in vocabularies["tumor_site"]
    assert {"code": "er", "label": "ER", "system": "LOINC", "external_code": "85337-4"} in vocabularies["receptor"]
    assert [c["code"] for c in vocabularies["curation_status"]] == ["draft", "in_review", "published", "retracted"]
    assert APIClient().get("/api/v1/vocabularies/").status_code == 401
