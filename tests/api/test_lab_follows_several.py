"""Issue 13, point 7: a lab can follow one or more interventions (a two-drug combination the source reports one
result after). Synthetic cases; the links are LabFollows rows (a many-to-many), the document gives them as
follows_intervention_indexes and keeps follows_intervention_index (the first) for older clients."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import Case, LabFollows
from tests.admin_pages import login, posted_form
from tests.api.documents import make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def drug(text: str, sequence: int, day: int) -> dict:
    return {
        "category": "drug",
        "agent_text": text,
        "intent": "calcium_directed",
        "status": "administered",
        "sequence": sequence,
        "day": day,
    }


def calcium(value: float, sequence: int, day: int, **fields) -> dict:
    return {
        "analyte": "calcium_total",
        "value": value,
        "unit": "mg/dL",
        "ref_low": 8.9,
        "ref_high": 10.1,
        "sequence": sequence,
        "day": day,
        **fields,
    }


def combination_document(**lab_fields) -> dict:
    """Drug A on day 0, drug B added on day 2, one calcium on day 9 the source reports after both."""
    return make_document(
        interventions=[drug("drug A", 3, 0), drug("drug B", 4, 2)],
        labs=[calcium(14.0, 2, 0), calcium(9.5, 5, 9, **lab_fields)],
    )


def test_a_lab_following_a_combination_is_the_after_value_of_each_of_its_drugs(curator):
    response = curator.post(CASES, combination_document(follows_intervention_indexes=[0, 1]), format="json")
    assert response.status_code == 201, response.content
    doc = response.json()
    lab = doc["labs"][1]
    assert (lab["follows_intervention_indexes"], lab["follows_intervention_index"]) == ([0, 1], 0)
    around = {a["intervention_index"]: a for a in doc["derived"]["interventions"]}
    # Drug B was started before the value: without the link to both, it would not count as "after" drug A.
    assert around[0]["calcium_after"]["lab_index"] == 1
    assert around[1]["calcium_after"]["lab_index"] == 1
    assert around[0]["calcium_normal_after"] is around[1]["calcium_normal_after"] is True
    # The normal value is credited to the latest started of the drugs it follows.
    assert doc["derived"]["normalisation"]["intervention_index"] == 1
    assert LabFollows.objects.count() == 2


def test_without_the_second_link_a_later_drug_still_closes_the_first_drugs_window(curator):
    response = curator.post(CASES, combination_document(follows_intervention_index=0), format="json")
    assert response.status_code == 201, response.content
    around = {a["intervention_index"]: a for a in response.json()["derived"]["interventions"]}
    assert around[0]["calcium_after"] is None  # measured after drug B too: it is B's, not A's (point 10)
    assert around[1]["calcium_after"]["lab_index"] == 1


def test_the_single_index_of_older_clients_still_reads_and_writes(curator):
    response = curator.post(CASES, combination_document(follows_intervention_index=1), format="json")
    assert response.status_code == 201
    doc = response.json()
    assert (doc["labs"][1]["follows_intervention_index"], doc["labs"][1]["follows_intervention_indexes"]) == (1, [1])
    # A document read from the API goes back as it is (both fields, agreeing).
    body = {**doc, "source_id": doc["source"]["id"]}
    again = curator.put(f"{CASES}{doc['id']}/", body, format="json", HTTP_IF_MATCH='"v1"')
    assert again.status_code == 200, again.content
    assert again.json()["version"] == 1  # nothing changed


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"follows_intervention_indexes": [0, 1], "follows_intervention_index": 1}, "follows_intervention_index"),
        ({"follows_intervention_indexes": [], "follows_intervention_index": 0}, "follows_intervention_index"),
        ({"follows_intervention_indexes": [0, 2]}, "follows_intervention_indexes"),
        ({"follows_intervention_indexes": [1, 1]}, "follows_intervention_indexes"),
        ({"follows_intervention_indexes": [-1]}, "follows_intervention_indexes"),
        ({"follows_intervention_indexes": 0}, "follows_intervention_indexes"),
    ],
)
def test_links_that_disagree_or_name_no_intervention_are_a_400_naming_the_field(curator, fields, field):
    response = curator.post(CASES, combination_document(**fields), format="json")
    assert response.status_code == 400, response.content
    assert any(e["field"].startswith(f"labs[1].{field}") for e in response.json()["errors"]), response.json()
    assert not Case.objects.exists()


def test_the_admin_lets_the_curator_choose_several_and_the_history_names_them(curator):
    response = curator.post(CASES, combination_document(follows_intervention_index=0), format="json")
    case = Case.objects.get(pk=int(response.json()["id"].removeprefix("CCR-")))
    a, b = case.interventions.order_by("sequence")
    lab = case.labs.get(sequence=5)
    admin = login("curator", "admin-curator")
    url = f"/admin/cases/case/{case.pk}/change/"
    page = admin.get(url).content.decode()
    assert 'name="labs-1-follows"' in page and "multiple" in page
    data = posted_form(admin, url)
    row = next(n for n in range(2) if data[f"labs-{n}-id"] == str(lab.pk))
    data[f"labs-{row}-follows"] = [str(a.pk), str(b.pk)]
    saved = admin.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert sorted(lab.follows_interventions.values_list("pk", flat=True)) == sorted([a.pk, b.pk])
    history = login("reviewer").get(f"/admin/cases/case/{case.pk}/full-history/").content.decode()
    assert f"{lab} after {b}" in history  # the new link, by label


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_each_existing_link():
    executor = MigrationExecutor(connection)
    executor.migrate([("cases", "0010_case_status_index")])
    old = executor.loader.project_state([("cases", "0010_case_status_index")]).apps
    source = old.get_model("cases", "Source").objects.create(kind="case_report", citation="c", title="t")
    case = old.get_model("cases", "Case").objects.create(source=source, title="t", disorder="hypercalcemia")
    given = old.get_model("cases", "Intervention").objects.create(
        case=case, category="drug", agent_text="x", intent="calcium_directed"
    )
    Lab = old.get_model("cases", "LabResult")
    linked = Lab.objects.create(case=case, analyte="calcium_total", qualitative="normal", follows_intervention=given)
    Lab.objects.create(case=case, analyte="calcium_total", qualitative="high")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert list(LabFollows.objects.values_list("case_id", "lab_id", "intervention_id")) == [
        (case.pk, linked.pk, given.pk)
    ]
    assert LabFollows.history.filter(lab_id=linked.pk, history_type="+").count() == 1
