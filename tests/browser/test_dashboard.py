"""An analyst opens the cohort dashboard from the admin, reads its four charts and narrows the cohort."""

import pytest
from django.core.cache import cache

from tests.api.documents import client_for
from tests.api.test_analytics import make_agents, post_cases
from tests.browser.conftest import log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_analyst_reads_and_filters_the_cohort_dashboard(page, live_server, roles, shoot):
    cache.clear()  # API rate limits live in the cache
    make_agents()
    # The ten published cases A-I, K of tests/api/test_analytics.py (entered through the API) and the draft J.
    post_cases(client_for("curator", "curator-dash"), "ABCDEFGHIKJ")
    make_user("analyst1", "analyst")

    log_in(page, live_server, "analyst1")
    page.goto(f"{live_server.url}/admin/")
    page.click("#dashboard-link a:text('Cohort dashboard')")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    page.wait_for_selector("#cohort-size")
    # An analyst sees the published cases only: 10, not the draft.
    assert page.inner_text("#cohort-size").startswith("10 cases in this cohort")

    charts = page.locator("svg.dashboard-chart")
    assert charts.count() == 4
    crosstab, peaks, responses, trajectories = (charts.nth(n) for n in range(4))
    # Main mechanism (humoral_pthrp, local_osteolytic, drug_related, dystrophic_calcification, none = 5 rows) x
    # tumor site (breast, kidney, lung, lymph_nodes, prostate = 5 columns) = 25 cells; the counts written in the
    # non-empty ones: humoral x breast A C = 2, x lung B = 1; osteolytic x breast D F = 2, x kidney E = 1,
    # x prostate E = 1; drug_related x breast G H = 2; dystrophic x breast K = 1; none x lymph nodes I = 1.
    assert crosstab.locator("rect.cell").count() == 25
    assert sorted(int(t) for t in crosstab.locator("text[font-size='13']").all_text_contents()) == [
        1,
        1,
        1,
        1,
        1,
        2,
        2,
        2,
    ]
    # One dot per case with a peak calcium: all ten.
    assert peaks.locator("circle.dot").count() == 10
    # Agents with an assessed response, one bar segment per response present among administered rows:
    # calcium gluconate (normalised) 1, denosumab (normalised, not_assessed) 2, hydration (normalised, partial,
    # transient) 3, pamidronate (none) 1, zoledronic acid (normalised, partial, not_assessed) 3, free-text
    # prednisone (partial) 1 = 11; tamoxifen (not assessed only) is left out.
    assert responses.locator("rect.bar").count() == 11
    assert "Tamoxifen" not in responses.inner_html()
    # Aligned on a dated calcium-directed intervention: A B C D E G H; F and I have an undated one, K none.
    assert trajectories.locator("polyline.trajectory").count() == 7
    shoot(page, "dashboard-01-cohort")

    # Narrow to breast primaries: A C D F G H K.
    page.select_option("#id_tumor_site", "breast")
    page.click("input[type=submit][value=Apply]")
    page.wait_for_url("**/dashboard/?*tumor_site=breast*")  # the new page, not the one the click left
    page.wait_for_selector("#cohort-size")
    assert page.inner_text("#cohort-size").startswith("7 cases in this cohort")
    charts = page.locator("svg.dashboard-chart")
    assert charts.count() == 4
    # 4 mechanisms (humoral A C, osteolytic D F, drug_related G H, dystrophic K) x 1 site; 7 dots; trajectories of
    # A C D G H (F undated, K none).
    assert charts.nth(0).locator("rect.cell").count() == 4
    assert charts.nth(1).locator("circle.dot").count() == 7
    assert charts.nth(3).locator("polyline.trajectory").count() == 5
    shoot(page, "dashboard-02-breast")


def test_an_invalid_filter_shows_the_error_and_no_cohort_size(page, live_server, roles, shoot):
    make_user("analyst1", "analyst")
    log_in(page, live_server, "analyst1")
    # The CTCAE field is a number input, so a browser will not type letters into it: follow a hand-made link.
    response = page.goto(f"{live_server.url}/dashboard/?ctcae_grade_min=abc")
    assert response.status == 400
    assert page.locator(".dashboard-filters .errornote").inner_text() == "Enter a number."
    shoot(page, "dashboard-03-invalid-filter")
    assert page.locator("#cohort-size").count() == 0
