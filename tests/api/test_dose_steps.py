"""Issue 13, point 7: a dose given in steps (a titration) is ordered steps within one intervention — in the case
document (a nested list), the admin (a sub-form of the interventions on the case page), the history and the tidy
CSV (one row per step). Synthetic cases: the drug and its numbers are test values, not doses from a source."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from cases.models import Case, DoseStep
from tests.admin_pages import login, posted_form
from tests.api.documents import make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
STEPS = [
    {"dose_text": "10 units once daily", "value": 10, "unit": "unit", "day": 3, "timing_text": "on admission"},
    {"dose_text": "raised to 20 units", "value": 20, "unit": "unit", "timing_text": "a week later"},
    {"dose_text": "increased further", "timing_text": "after two weeks"},  # no number printed: none invented
]


def titrated(steps=STEPS) -> dict:
    doc = make_document()
    doc["interventions"][0] = {**doc["interventions"][0], "category": "drug", "agent_text": "test drug"}
    doc["interventions"][0]["dose_steps"] = steps
    return doc


def stored(case_id: str) -> list[tuple]:
    pk = int(case_id.removeprefix("CCR-"))
    return list(DoseStep.objects.filter(case_id=pk).values_list("position", "dose_text", "value", "unit", "day"))


def test_dose_steps_are_kept_in_order_and_come_back_as_sent(curator):
    response = curator.post(CASES, titrated(), format="json")
    assert response.status_code == 201, response.content
    doc = response.json()
    steps = doc["interventions"][0]["dose_steps"]
    assert [s["dose_text"] for s in steps] == [s["dose_text"] for s in STEPS]
    assert (steps[0]["value"], steps[0]["unit"], steps[0]["day"]) == (10.0, "unit", 3)
    assert (steps[2]["value"], steps[2]["unit"], steps[2]["day"]) == (None, "", None)
    assert [row[0] for row in stored(doc["id"])] == [1, 2, 3]
    # Sent back as read: nothing changes (same version).
    body = {**doc, "source_id": doc["source"]["id"]}
    again = curator.put(f"{CASES}{doc['id']}/", body, format="json", HTTP_IF_MATCH='"v1"')
    assert again.status_code == 200 and again.json()["version"] == 1


def test_changing_one_step_is_an_edit_recorded_in_the_history(curator):
    doc = curator.post(CASES, titrated(), format="json").json()
    interventions = doc["interventions"]
    interventions[0]["dose_steps"][1]["value"] = 25
    response = curator.patch(
        f"{CASES}{doc['id']}/", {"interventions": interventions}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2  # a change of a step alone is a change of the case
    assert [row[2] for row in stored(doc["id"])] == [10, 25, None]
    pk = int(doc["id"].removeprefix("CCR-"))
    # The old second step deleted, the new one created; the others untouched.
    assert sorted(DoseStep.history.filter(case_id=pk).values_list("position", "history_type")) == [
        (1, "+"),
        (2, "+"),
        (2, "+"),
        (2, "-"),
        (3, "+"),
    ]
    history = login("reviewer").get(f"/admin/cases/case/{pk}/full-history/").content.decode()
    assert "Dose step 2: raised to 20 units" in history


@pytest.mark.parametrize(
    "step, field",
    [
        ({"dose_text": "x", "dose_txt": "y"}, "dose_txt"),
        ({"dose_text": "x", "unit": "mg"}, "value"),
        ({"timing_text": "later"}, "dose_text"),
        ({"dose_text": "x", "value": 0, "unit": "mg"}, "value"),
        ({"dose_text": "x", "day_is_approximate": True}, "day_is_approximate"),
    ],
)
def test_a_bad_step_is_a_400_naming_it_and_nothing_is_written(curator, step, field):
    response = curator.post(CASES, titrated([STEPS[0], step]), format="json")
    assert response.status_code == 400, response.content
    fields = [e["field"] for e in response.json()["errors"]]
    assert f"interventions[0].dose_steps[1].{field}" in fields, fields
    assert not Case.objects.exists() and not DoseStep.objects.exists()


def test_the_tidy_table_has_one_row_per_step(curator):
    doc = curator.post(CASES, titrated(), format="json").json()
    Case.objects.update(status="published")
    response = curator.get("/api/v1/exports/dose_steps.csv")
    table = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
    assert list(table.columns) == [
        *("case_id", "intervention_id", "position", "dose_text", "value", "unit", "day", "day_is_approximate"),
        "timing_text",
    ]
    assert list(table["position"]) == [1, 2, 3]
    assert set(table["intervention_id"]) == {doc["interventions"][0]["id"]}
    assert list(table["dose_text"]) == [s["dose_text"] for s in STEPS]


def test_the_admin_adds_a_step_to_an_intervention_of_the_case(curator):
    doc = curator.post(CASES, titrated(STEPS[:1]), format="json").json()
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    admin = login("curator", "admin-curator")
    url = f"/admin/cases/case/{case.pk}/change/"
    data = posted_form(admin, url)
    assert data["dose_steps-TOTAL_FORMS"] == "1"
    data.update(
        {
            "dose_steps-TOTAL_FORMS": "2",
            "dose_steps-1-intervention": str(case.interventions.get().pk),
            "dose_steps-1-position": "2",
            "dose_steps-1-dose_text": "raised to 20 units",
            "dose_steps-1-value": "20",
            "dose_steps-1-unit": "unit",
        }
    )
    saved = admin.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert [row[:2] for row in stored(doc["id"])] == [(1, "10 units once daily"), (2, "raised to 20 units")]
    case.refresh_from_db()
    assert case.version == 2
