"""A curator enters a case through the admin, a reviewer publishes it, the history shows both."""

import pytest

from cases.models import Case, Source
from tests.browser.conftest import log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def choose_autocomplete(page, field_id: str, text: str) -> None:
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.wait_for_selector(".select2-results__option--highlighted", state="visible")
    page.keyboard.press("Enter")


def run_action(page, live_server, case: Case, action_label: str) -> None:
    page.goto(f"{live_server.url}/admin/cases/case/")
    page.check(f"input[name=_selected_action][value='{case.pk}']")
    page.select_option("select[name=action]", label=action_label)
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")


def test_a_case_goes_from_entry_to_publication(page, live_server, roles, shoot):
    make_user("curator1", "curator")
    make_user("reviewer1", "reviewer")
    Source.objects.create(
        kind="case_report",
        citation="Doe J. Hypercalcemia case. J Test. 2021.",
        title="Hypercalcemia in squamous cell lung cancer",
        year=2021,
    )

    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/add/")
    choose_autocomplete(page, "id_source", "squamous")
    page.fill("#id_title", "Browser-entered hypercalcemia case")
    page.fill("#id_age_years", "61")
    page.select_option("#id_sex", "male")
    page.select_option("#id_disorder", "hypercalcemia")

    # Two labs and an intervention between them.
    page.click("#labs-group .add-row a")
    page.click("#labs-group .add-row a")
    page.select_option("#id_labs-0-analyte", "calcium_total")
    assert page.input_value("#id_labs-0-unit") == "mg/dL"  # the analyte's conventional unit, preselected
    page.fill("#id_labs-0-value", "13.2")
    page.select_option("#id_labs-0-unit", "pg/mL")  # the mistake
    page.fill("#id_labs-0-ref_low", "8.5")
    page.fill("#id_labs-0-ref_high", "10.2")
    page.fill("#id_labs-0-day", "0")
    page.fill("#id_labs-0-sequence", "1")
    page.select_option("#id_labs-1-analyte", "calcium_total")
    page.fill("#id_labs-1-value", "9.9")
    page.fill("#id_labs-1-ref_low", "8.5")
    page.fill("#id_labs-1-ref_high", "10.2")
    page.fill("#id_labs-1-day", "3")
    page.fill("#id_labs-1-sequence", "3")
    page.click("#interventions-group .add-row a")
    page.fill("#id_interventions-0-sequence", "2")
    page.fill("#id_interventions-0-day", "0")
    page.select_option("#id_interventions-0-category", "supportive_care")
    page.fill("#id_interventions-0-agent_text", "IV isotonic saline")
    page.select_option("#id_interventions-0-intent", "calcium_directed")
    page.click("input[name=_continue]")

    error = page.locator(".errornote, .errorlist").first
    error.wait_for()
    assert page.get_by_text(
        "Lab result 1 (calcium_total), Unit: pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L."
    ).is_visible()
    shoot(page, "01-unit-error")
    assert Case.objects.count() == 0

    page.select_option("#id_labs-0-unit", "mg/dL")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    case = Case.objects.get()
    assert (case.labs.count(), case.interventions.count(), case.created_by.username) == (2, 1, "curator1")

    chart = page.locator("svg.calcium-chart")
    assert chart.is_visible()
    assert chart.locator("circle.point").count() == 2
    assert "13.2 mg/dL = 3.29 mmol/L" in page.content()  # 13.2 x 0.2495 = 3.2934
    shoot(page, "02-case-page-with-chart")

    page.goto(f"{live_server.url}/admin/cases/case/")
    row = page.locator("#result_list tr", has_text="Browser-entered hypercalcemia case")
    assert "13.2" in row.inner_text() and "Draft" in row.inner_text()
    shoot(page, "03-changelist")
    run_action(page, live_server, case, "Submit for review (selected cases)")
    assert Case.objects.get().status == "in_review"
    assert page.locator("select[name=action] option", has_text="Publish").count() == 0  # not a curator's action

    log_in(page, live_server, "reviewer1")
    run_action(page, live_server, case, "Publish (selected cases)")
    assert Case.objects.get().status == "published"
    shoot(page, "04-published")

    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/full-history/")
    history = page.locator("#change-history").inner_text()
    assert "curator1" in history and "reviewer1" in history
    assert "Submit for review" in history and "Publish" in history
    assert "status: draft → in_review" in history and "status: in_review → published" in history
    assert "Lab result created" in history
    shoot(page, "05-history")
