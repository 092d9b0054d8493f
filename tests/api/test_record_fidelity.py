"""Issue 13, points 6 and 7 (in part): tumor site not reported vs unknown primary, size as printed, metastatic
without named sites; a parenteral route and an intervention given before presentation."""

import pytest

from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def test_a_primary_not_reported_a_size_as_printed_and_metastases_without_sites_are_stored():
    doc = make_document(
        tumors=[{"site": "not_reported", "size_mm": 32, "size_text": "3.2 cm", "sequence": 1}],
        metastases=[{"site": "unspecified", "present": True, "detail": "metastatic disease", "sequence": 1}],
    )
    response = client_for("curator").post(CASES, doc, format="json")
    assert response.status_code == 201, response.json()
    tumor, metastasis = response.json()["tumors"][0], response.json()["metastases"][0]
    assert (tumor["site"], tumor["icdo3_topography"], tumor["size_mm"], tumor["size_text"]) == (
        "not_reported",
        "",  # no topography is claimed for a site the report does not give
        32.0,
        "3.2 cm",
    )
    assert metastasis["site"] == "unspecified"
    vocabularies = client_for("analyst", "analyst-v").get("/api/v1/vocabularies/").json()
    sites = {t["code"]: t["label"] for t in vocabularies["tumor_site"]}
    assert sites["not_reported"] == "Primary site not reported"
    assert sites["unknown"].startswith("Unknown primary")
    assert next(t for t in vocabularies["tumor_site"] if t["code"] == "pancreas")["external_code"] is None


def test_a_tumor_size_beyond_two_metres_is_a_400():
    doc = make_document(tumors=[{"site": "breast", "size_mm": 25000, "sequence": 1}])
    response = client_for("curator").post(CASES, doc, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["tumors[0].size_mm"]


def test_a_parenteral_treatment_given_before_presentation_elsewhere_is_stored():
    doc = make_document()
    doc["interventions"][0].update(route="parenteral", given_before_presentation=True, day=-3, sequence=1)
    doc["labs"][1]["follows_intervention_index"] = None
    response = client_for("curator").post(CASES, doc, format="json")
    assert response.status_code == 201, response.json()
    intervention = response.json()["interventions"][0]
    assert (intervention["route"], intervention["given_before_presentation"]) == ("parenteral", True)
