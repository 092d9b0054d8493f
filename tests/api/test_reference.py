"""Reference resources: sources, agents and vocabularies."""

import pytest
from rest_framework.test import APIClient

from cases.models import Agent, Mechanism, Source
from tests.api.documents import client_for
from tests.factories import make_agent, make_case, make_intervention, make_source

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
    assert analyst.get(f"/api/v1/sources/{source_id}/").status_code == 404  # no published case uses it yet
    make_case(source_id=source_id, status="published")
    assert analyst.get(f"/api/v1/sources/{source_id}/").json()["doi"] == "10.1000/xyz123"
    assert analyst.post("/api/v1/sources/", body, format="json").status_code == 403
    assert curator.delete(f"/api/v1/sources/{source_id}/").status_code == 405


def test_a_conference_abstract_keeps_its_authors_volume_issue_pages_and_pmcid_and_needs_no_journal_year_or_doi():
    """Issue 13, point 5: the fuller citation of a source, and a citation with no journal, year or DOI."""
    curator = client_for("curator")
    body = {
        "kind": "conference_abstract",
        "citation": "Roe R, Doe J. An abstract. Test Meeting 2021. J Test. 2021;12(3):e45-e46.",
        "title": "An abstract",
        "authors": "Roe R\nDoe J",
        "journal": "J Test",
        "year": 2021,
        "volume": "12",
        "issue": "3",
        "pages": "e45-e46",
        "pmcid": "PMC1234567",
    }
    created = curator.post("/api/v1/sources/", body, format="json")
    assert created.status_code == 201, created.content
    read = curator.get(f"/api/v1/sources/{created.json()['id']}/").json()
    assert {key: read[key] for key in body} == body
    bad = curator.post("/api/v1/sources/", {**body, "title": "Another", "pmcid": "1234567"}, format="json")
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["pmcid"]
    bare = {"kind": "case_report", "citation": "A case seen in a hospital newsletter.", "title": "A bare case"}
    assert curator.post("/api/v1/sources/", bare, format="json").status_code == 201


def test_a_source_with_a_bad_doi_is_a_400_and_a_duplicate_a_409():
    curator = client_for("curator")
    taken = Source.objects.create(kind="case_report", citation="c", title="t", doi="10.1000/taken")
    bad = curator.post(
        "/api/v1/sources/",
        {"kind": "case_report", "citation": "c", "title": "another paper", "doi": "https://doi.org/10.1/x"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "doi"
    duplicate = curator.post(
        "/api/v1/sources/",
        {"kind": "case_report", "citation": "c", "title": "another paper", "doi": "10.1000/taken"},
        format="json",
    )
    assert duplicate.status_code == 409  # the same DOI: the same paper (tests/api/test_duplicates.py)
    assert duplicate.json()["errors"][0]["field"] == "duplicate"
    assert f"source {taken.pk} (t)" in duplicate.json()["detail"]


def test_agents_are_read_by_code_and_extended_by_curators():
    curator = client_for("curator")
    created = curator.post(
        "/api/v1/agents/",
        {"code": "gallium_nitrate", "name": "Gallium nitrate", "category": "drug", "drug_class": "other"},
        format="json",
    )
    assert created.status_code == 201
    renamed = curator.patch("/api/v1/agents/gallium_nitrate/", {"synonyms": "Ganite"}, format="json")
    assert renamed.json()["synonyms"] == "Ganite"
    renamed = curator.patch("/api/v1/agents/gallium_nitrate/", {"synonyms": ""}, format="json")
    assert curator.get("/api/v1/agents/gallium_nitrate/").json() == {
        "code": "gallium_nitrate",
        "name": "Gallium nitrate",
        "category": "drug",
        "drug_class": "other",
        "atc_code": "",
        "synonyms": "",
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


# --- reference data shown by published cases ---------------------------------------------------------------


def source_of_case(status: str) -> Source:
    source = make_source(title="Shown")
    make_case(source=source, status=status)
    return source


def test_a_source_shown_by_a_published_case_is_changed_by_a_reviewer_only():
    source = source_of_case("published")
    path = f"/api/v1/sources/{source.pk}/"
    refused = client_for("curator").patch(path, {"title": "Renamed"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "The source Shown appears in 1 published case; only a reviewer can change it."
    assert client_for("curator", "c2").patch(path, {"title": "Shown"}, format="json").status_code == 200  # no change
    assert client_for("reviewer").patch(path, {"title": "Renamed"}, format="json").status_code == 200
    assert Source.objects.get().title == "Renamed"


def test_a_source_of_draft_cases_only_is_changed_by_a_curator():
    source = source_of_case("draft")
    response = client_for("curator").put(
        f"/api/v1/sources/{source.pk}/", {"kind": "case_report", "citation": "c", "title": "Renamed"}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("use", ["intervention", "suspect_agent"])
def test_an_agent_shown_by_a_published_case_is_changed_by_a_reviewer_only(use):
    agent = make_agent(code="denosumab", name="Denosumab", drug_class="RANKL inhibitor")
    case = make_case(status="published")
    if use == "intervention":
        make_intervention(case, agent=agent)
    else:
        Mechanism.objects.create(case=case, code="drug_related", certainty="probable", suspect_agent=agent)
    change = {"drug_class": "monoclonal antibody"}
    refused = client_for("curator").patch("/api/v1/agents/denosumab/", change, format="json")
    assert refused.status_code == 403
    assert "only a reviewer can change it" in refused.json()["detail"]
    assert client_for("reviewer").patch("/api/v1/agents/denosumab/", change, format="json").status_code == 200
    assert Agent.objects.get().drug_class == "monoclonal antibody"


def test_an_agents_category_cannot_change_while_interventions_use_it():
    agent = make_agent(code="parathyroidectomy", name="Parathyroidectomy", category="drug")
    for _ in range(2):
        make_intervention(make_case(), agent=agent)  # drafts: a curator may otherwise change the agent
    for role in ("curator", "reviewer"):
        response = client_for(role).patch("/api/v1/agents/parathyroidectomy/", {"category": "procedure"}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {
                "field": "category",
                "reason": "2 interventions use Parathyroidectomy as a drug; the category cannot change while they do. "
                "Give them another agent first, or add a new agent.",
            }
        ]
    assert Agent.objects.get().category == "drug"


def test_an_unused_agents_category_and_code_can_change():
    make_agent(code="excison", name="Excision", category="drug")
    response = client_for("curator").patch(
        "/api/v1/agents/excison/", {"code": "excision", "category": "procedure"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert Agent.objects.get().category == "procedure"


def test_an_agents_code_cannot_change_while_cases_refer_to_it():
    agent = make_agent(code="zoledronic_acid", name="Zoledronic acid")
    make_intervention(make_case(), agent=agent)
    response = client_for("reviewer").patch("/api/v1/agents/zoledronic_acid/", {"code": "zoledronate"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "code"


def test_an_analyst_sees_only_sources_that_a_published_case_uses():
    used, draft_only, unused = make_source(title="used"), make_source(title="draft only"), make_source(title="unused")
    make_case(source=used, status="published")
    make_case(source=used, status="draft")
    make_case(source=draft_only, status="draft")
    make_case(source=draft_only, status="in_review")

    analyst, curator = client_for("analyst"), client_for("curator")

    def titles(client):
        return sorted(s["title"] for s in client.get("/api/v1/sources/").json()["results"])

    assert titles(analyst) == ["used"]
    assert titles(curator) == ["draft only", "unused", "used"]
    assert analyst.get(f"/api/v1/sources/{draft_only.pk}/").status_code == 404
    assert analyst.get(f"/api/v1/sources/{unused.pk}/").status_code == 404
