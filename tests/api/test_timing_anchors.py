"""Issue 13, point 4: a row's time given relative to an intervention ("one month after denosumab" when
denosumab's own day is unknown): anchor + offset + the phrase as printed, resolved to a day when the anchor's day is
known (stored, so the chart and the derived measures use it), the anchor kept. Synthetic cases."""

from __future__ import annotations

import pytest

from cases.models import Case, Finding, LabResult
from tests.admin_pages import login, posted_form
from tests.api.documents import make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def drug(text: str, sequence: int, day: int | None = None, **fields) -> dict:
    return {
        "category": "drug",
        "agent_text": text,
        "intent": "calcium_directed",
        "status": "administered",
        "sequence": sequence,
        **({"day": day} if day is not None else {}),
        **fields,
    }


ONE_MONTH_AFTER = {"anchor_intervention_index": 1, "anchor_offset_days": 30, "anchor_offset_is_approximate": True}


def document(interventions=None, lab_timing=ONE_MONTH_AFTER, **overrides) -> dict:
    """Calcium 14 on day 0; drug A on day 0; drug B later, its day not given; calcium 9.5 one month after B."""
    labs = [
        {"analyte": "calcium_total", "value": 14.0, "unit": "mg/dL", "ref_low": 8.9, "ref_high": 10.1, "sequence": 2,
         "day": 0},
        {"analyte": "calcium_total", "value": 9.5, "unit": "mg/dL", "ref_low": 8.9, "ref_high": 10.1, "sequence": 5,
         "timing_text": "one month after denosumab", **lab_timing},
    ]  # fmt: skip
    return make_document(
        interventions=interventions or [drug("drug A", 3, 0), drug("denosumab", 4)], labs=labs, **overrides
    )


def post(client, doc) -> dict:
    response = client.post(CASES, doc, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_row_timed_from_an_intervention_without_a_day_has_no_day_until_the_intervention_gets_one(curator):
    doc = post(curator, document())
    lab = doc["labs"][1]
    assert (lab["day"], lab["anchor_intervention_index"], lab["anchor_offset_days"]) == (None, 1, 30)
    assert lab["timing_text"] == "one month after denosumab"
    assert doc["derived"]["normalisation"]["days"] is None
    # The curator learns denosumab's day: the lab's day follows, approximate as its offset is.
    interventions = doc["interventions"]
    interventions[1]["day"] = 10
    response = curator.patch(
        f"{CASES}{doc['id']}/", {"interventions": interventions}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 200, response.content
    after = response.json()
    assert (after["labs"][1]["day"], after["labs"][1]["day_is_approximate"]) == (40, True)
    assert after["labs"][1]["anchor_intervention_index"] == 1  # the anchor is kept
    assert LabResult.objects.get(pk=lab["id"]).day == 40  # stored: filters, chart and measures read it
    assert after["derived"]["normalisation"]["days"] == 40  # from drug A's start (day 0)
    assert after["derived"]["interventions"][1]["calcium_after"]["day"] == 40


def test_anchors_chain_and_other_kinds_of_row_can_be_timed_too(curator):
    interventions = [drug("drug A", 3, 2), drug("drug B", 4, anchor_intervention_index=0, anchor_offset_days=7)]
    findings = [{"label": "Tetany", "sequence": 6, "anchor_intervention_index": 1, "anchor_offset_days": 3}]
    metastases = [{"site": "bone", "sequence": 1, "anchor_intervention_index": 0, "anchor_offset_days": -14}]
    doc = post(curator, document(interventions, findings=findings, metastases=metastases))
    assert doc["interventions"][1]["day"] == 9  # 2 + 7
    assert (doc["labs"][1]["day"], doc["labs"][1]["day_is_approximate"]) == (39, True)  # 9 + about 30
    assert doc["findings"][0]["day"] == 12  # 9 + 3
    assert (doc["metastases"][0]["day"], doc["metastases"][0]["anchor_intervention_index"]) == (-12, 0)
    # Moving drug A moves every row timed from it, along the chain, with the rows not sent.
    interventions = doc["interventions"]
    interventions[0]["day"] = 5
    interventions[1]["day"] = None
    response = curator.patch(
        f"{CASES}{doc['id']}/", {"interventions": interventions}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 200, response.content
    moved = response.json()
    assert [moved["interventions"][1]["day"], moved["labs"][1]["day"], moved["findings"][0]["day"]] == [12, 42, 15]
    assert Finding.objects.get(pk=doc["findings"][0]["id"]).history.latest().history_user == curator.user


@pytest.mark.parametrize(
    "interventions, lab_timing, field",
    [
        (  # A from B, B from A
            [drug("A", 3, anchor_intervention_index=1, anchor_offset_days=1), drug("B", 4, anchor_intervention_index=0,
             anchor_offset_days=1)],
            {},
            "interventions[0].anchor_intervention_index",
        ),
        ([drug("A", 3, anchor_intervention_index=0, anchor_offset_days=1), drug("B", 4)], {},
         "interventions[0].anchor_intervention_index"),  # from itself
        (None, {"anchor_intervention_index": 2, "anchor_offset_days": 30}, "labs[1].anchor_intervention_index"),
        (None, {"anchor_intervention_index": 1}, "labs[1].anchor_offset_days"),
        (None, {"anchor_offset_days": 30}, "labs[1].anchor"),
        (None, {**ONE_MONTH_AFTER, "day": 30}, "labs[1].day"),  # B has no day, so neither has the lab
        (None, {"anchor_offset_days": 30, "anchor_intervention_index": 0, "day": 31}, "labs[1].day"),  # A: day 0
    ],
)  # fmt: skip
def test_bad_anchors_are_a_400_naming_the_field_and_nothing_is_written(curator, interventions, lab_timing, field):
    response = curator.post(CASES, document(interventions, lab_timing), format="json")
    assert response.status_code == 400, response.content
    fields = [e["field"] for e in response.json()["errors"]]
    assert field in fields, fields
    assert not Case.objects.exists()


def test_a_day_sent_as_the_anchor_gives_it_is_accepted(curator):
    doc = post(curator, document(lab_timing={"anchor_intervention_index": 0, "anchor_offset_days": 30, "day": 30}))
    assert (doc["labs"][1]["day"], doc["labs"][1]["day_is_approximate"]) == (30, False)


def test_the_admin_times_a_row_from_an_intervention_and_refuses_a_circle(curator):
    doc = post(curator, document(lab_timing={}))
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    a, b = case.interventions.order_by("sequence")
    admin = login("curator", "admin-curator")
    url = f"/admin/cases/case/{case.pk}/change/"
    data = posted_form(admin, url)
    row = next(n for n in range(2) if data[f"labs-{n}-id"] == str(doc["labs"][1]["id"]))
    data.update({f"labs-{row}-anchor": str(a.pk), f"labs-{row}-anchor_offset_days": "21"})
    saved = admin.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert LabResult.objects.get(pk=doc["labs"][1]["id"]).day == 21  # drug A's day 0 + 21
    # A circle of interventions is refused on the form, naming the rows; nothing saved.
    data = posted_form(admin, url)
    ia, ib = (next(n for n in range(2) if data[f"interventions-{n}-id"] == str(i.pk)) for i in (a, b))
    data.update(
        {
            f"interventions-{ia}-anchor": str(b.pk),
            f"interventions-{ia}-anchor_offset_days": "1",
            f"interventions-{ib}-anchor": str(a.pk),
            f"interventions-{ib}-anchor_offset_days": "1",
        }
    )
    refused = admin.post(url, data)
    assert refused.status_code == 200
    assert "These interventions are timed from each other in a circle." in refused.content.decode()
    assert Case.objects.get(pk=case.pk).version == 2


def test_replacing_the_interventions_without_the_rows_timed_from_them_is_refused(curator):
    findings = [{"label": "Tetany", "sequence": 6, "anchor_intervention_index": 0, "anchor_offset_days": 3}]
    doc = post(curator, document(findings=findings))
    without_ids = [{k: v for k, v in i.items() if k != "id"} for i in doc["interventions"]]
    response = curator.patch(
        f"{CASES}{doc['id']}/", {"interventions": without_ids}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 400
    assert "findings[0].anchor_intervention_index" in [e["field"] for e in response.json()["errors"]]
    assert Finding.objects.get(pk=doc["findings"][0]["id"]).anchor_id == doc["interventions"][0]["id"]


def test_deleting_the_intervention_a_row_is_timed_from_in_the_admin_leaves_the_row_its_day(curator):
    doc = post(curator, document(lab_timing={"anchor_intervention_index": 0, "anchor_offset_days": 21}))
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    a = case.interventions.get(agent_text="drug A")
    admin = login("curator", "admin-curator")
    url = f"/admin/cases/case/{case.pk}/change/"
    data = posted_form(admin, url)
    ia = next(n for n in range(2) if data[f"interventions-{n}-id"] == str(a.pk))
    data[f"interventions-{ia}-DELETE"] = "on"
    saved = admin.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    lab = LabResult.objects.get(pk=doc["labs"][1]["id"])
    assert (lab.anchor_id, lab.anchor_offset_days, lab.day, lab.timing_text) == (
        None,
        None,
        21,
        "one month after denosumab",
    )
