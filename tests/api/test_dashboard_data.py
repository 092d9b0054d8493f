"""The numbers behind the dashboard's charts (api/dashboard.py), without a browser."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import dashboard
from api.templatetags import dashboard_numbers
from tests.api.documents import client_for
from tests.api.test_analytics import make_agents, post_cases
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_kaplan_meier_steps_down_at_events_and_drops_censored_cases_from_the_risk_set():
    # days 2 (normal), 3 (censored), 3 (normal), 5 (normal): at risk 4, 3, -, 2 (the event on day 3 counts before
    # the censoring on the same day), 1.
    estimate = dashboard.kaplan_meier([(2, True, 1, "a"), (3, False, 2, "b"), (3, True, 3, "c"), (5, True, 4, "d")])
    assert estimate["steps"] == [[0, 1.0], [2, 0.75], [3, 0.5], [5, 0.0], [5, 0.0]]
    assert [m["case"] for m in estimate["normalised"]] == ["CCR-000001", "CCR-000003", "CCR-000004"]
    assert estimate["censored"] == [
        {"case": "CCR-000002", "what": "b", "url": "/admin/cases/case/2/change/", "value": [3, 0.5]}
    ]
    assert (estimate["n"], estimate["events"]) == (4, 3)


def test_kaplan_meier_of_censored_cases_only_stays_at_one():
    estimate = dashboard.kaplan_meier([(0, False, 1, "a"), (4, False, 2, "b")])
    assert estimate["steps"] == [[0, 1.0], [4, 1.0]] and estimate["events"] == 0


def test_the_trajectory_sample_is_even_and_capped():
    assert dashboard._sample(list(range(10)), 40) == list(range(10))
    sample = dashboard._sample(list(range(1000)), 40)
    assert len(sample) == 40 and sample[0] == 0 and sample[-1] == 999


def dashboard_page(username: str, query: str = "") -> tuple[dict, int]:
    client = Client()
    client.force_login(User.objects.get(username=username))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/dashboard/{query}")
    assert response.status_code == 200
    script = response.content.decode().split('id="dashboard-data" type="application/json">')[1]
    payload = json.loads(script.split("</script>")[0])
    return payload, len(ctx.captured_queries)


def test_the_dashboard_payload_uses_labels_and_costs_the_same_queries_for_a_larger_cohort():
    make_agents()
    make_user("analyst-d", "analyst")
    curator = client_for("curator", "curator-d")
    post_cases(curator, "AB")
    small, small_queries = dashboard_page("analyst-d")
    post_cases(curator, "CDEFGHIK")
    large, large_queries = dashboard_page("analyst-d")
    assert small_queries == large_queries
    assert len(large["peaks"]["points"]) == 10
    assert "Humoral (PTHrP)" in large["crosstab"]["rows"]
    assert all("_" not in label for label in large["crosstab"]["rows"] + large["crosstab"]["columns"])
    assert {s["name"] for s in large["response_by_agent"]["series"]} == {"Normalised", "Partial", "Transient", "None"}
    assert large["mmol_per_mg_dl"] == pytest.approx(0.2495)


def test_the_agent_filter_takes_a_name():
    make_agents()
    make_user("analyst-e", "analyst")
    post_cases(client_for("curator", "curator-e"), "ABCDEFGHIK")
    by_name, _ = dashboard_page("analyst-e", "?agent=Pamidronate")
    by_code, _ = dashboard_page("analyst-e", "?agent=pamidronate")
    assert by_name == by_code and by_name["peaks"]["points"]


def test_kaplan_meier_from_counts_is_the_same_estimate():
    observations = [(2, True, 1, "a"), (3, False, 2, "b"), (3, True, 3, "c"), (5, True, 4, "d"), (5, True, 5, "e")]
    single = dashboard.kaplan_meier(observations)
    counted = dashboard.kaplan_meier_counted([(2, True, 1), (3, False, 1), (3, True, 1), (5, True, 2)])
    assert (counted["n"], counted["events"]) == (single["n"], single["events"]) == (5, 4)
    # One step per day with events: the last of kaplan_meier's steps of that day.
    last_of_day = {day: value for day, value in single["steps"]}
    assert counted["steps"] == [[0, 1.0], [2, 0.8], [3, 0.6], [5, 0.0], [5, 0.0]]
    assert all(last_of_day[day] == value for day, value in counted["steps"])


def test_a_cohort_beyond_the_caps_is_drawn_from_counts_with_the_same_numbers_and_queries(monkeypatch):
    """What the page shows of a big registry, on a small one: with every cap lowered below the cohort, the charts'
    numbers are the same as when every case is drawn, the per-case marks are bounded, and so are the queries."""
    make_agents()
    make_user("analyst-f", "analyst")
    post_cases(client_for("curator", "curator-f"), "ABCDEFGHIK")
    full, full_queries = dashboard_page("analyst-f")
    assert full["administered"]["marks"] and not full["response_by_agent"].get("counted")
    monkeypatch.setattr(dashboard, "CELL_CASES", 1)
    monkeypatch.setattr(dashboard, "PEAK_POINTS", 3)
    monkeypatch.setattr(dashboard, "MARKS", 2)
    monkeypatch.setattr(dashboard, "TRAJECTORY_CASES", 2)
    capped, capped_queries = dashboard_page("analyst-f")
    assert capped_queries == full_queries

    # Crosstab: the same cells and counts; a cell of one case lists and links it, a bigger one only counts them.
    assert capped["crosstab"]["rows"] == full["crosstab"]["rows"]
    assert [c["value"] for c in capped["crosstab"]["cells"]] == [c["value"] for c in full["crosstab"]["cells"]]
    assert {len(c["cases"]) for c in full["crosstab"]["cells"]} == {1, 2}
    for small, cell in zip(capped["crosstab"]["cells"], full["crosstab"]["cells"], strict=True):
        if len(cell["cases"]) == 1:
            assert (small["cases"], small["more"], small["url"]) == (cell["cases"], 0, cell["url"])
        else:
            assert (small["cases"], small["more"]) == ([], 2) and "main_mechanism=" in small["url"]
    # Peaks: three dots, the first and last case's among them, of the ten; the same categories.
    assert capped["peaks"]["n"] == full["peaks"]["n"] == 10 and len(capped["peaks"]["points"]) == 3
    assert capped["peaks"]["categories"] == full["peaks"]["categories"]
    assert capped["peaks"]["points"][0] == full["peaks"]["points"][0]
    assert capped["peaks"]["points"][-1] == full["peaks"]["points"][-1]
    # Responses: bars of the counts of the squares drawn before.
    for key in ("response_by_agent", "response_by_mechanism"):
        bars, squares = capped[key], full[key]
        assert bars["counted"] and bars["categories"] == squares["categories"]
        for bar, square in zip(bars["series"], squares["series"], strict=True):
            drawn = [sum(1 for p in square["points"] if p["value"][1] == i) for i in range(len(squares["categories"]))]
            assert (bar["name"], bar["counts"], bar["points"]) == (square["name"], drawn, [])
    # Kaplan-Meier: the same curves (one step a day) and counts, without the marks.
    for curve, marked in zip(capped["time_to_normal"], full["time_to_normal"], strict=True):
        assert (curve["agent"], curve["n"], curve["events"]) == (marked["agent"], marked["n"], marked["events"])
        assert curve["normalised"] == curve["censored"] == []
        last_of_day = {day: value for day, value in marked["steps"]}
        assert [day for day, _ in curve["steps"][1:-1]] == sorted({day for day, _ in marked["steps"][1:-1]})
        assert all(last_of_day[day] == value for day, value in curve["steps"])
    assert len(capped["trajectories"]["drawn"]) <= 2
    # The page says what it shows of how many.
    client = Client()
    client.force_login(User.objects.get(username="analyst-f"))
    page = client.get("/dashboard/").content.decode()
    assert "Showing 3 of the 10 cases with a peak" in page
    n = capped["administered"]["n"]
    assert n > 2 and sum(c["n"] for c in capped["time_to_normal"]) <= n
    assert f"counted: {n} administered interventions are too many to draw one square each (more than 2)" in page
    assert "the curves are drawn without their dots and crosses" in page
    assert dashboard_numbers.thousands(100000) == "100,000"


def test_a_big_crosstab_cell_opens_the_case_list_of_its_mechanism_and_site(monkeypatch):
    make_agents()
    make_user("curator-g", "curator")
    post_cases(client_for("curator", "curator-g2"), "ABCDEFGHIK")
    monkeypatch.setattr(dashboard, "CELL_CASES", 1)
    payload, _ = dashboard_page("curator-g", "?status=published")
    client = Client()
    client.force_login(User.objects.get(username="curator-g"))
    big = [c for c in payload["crosstab"]["cells"] if c["more"]]
    assert big
    for cell in big:
        assert "status__in=published" in cell["url"]
        response = client.get(cell["url"])
        assert response.status_code == 200, cell["url"]
        shown = {case.registry_id for case in response.context["cl"].result_list}
        assert len(shown) == cell["value"][2] and cell["cases"] == []
