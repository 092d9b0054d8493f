"""The numbers behind the dashboard's charts (api/dashboard.py), without a browser."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import dashboard
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
