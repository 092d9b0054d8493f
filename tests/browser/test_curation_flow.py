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

    # Two labs and an intervention between them. Positions on the timeline are not typed: each new row goes
    # to the end, and the up/down buttons move it.
    page.click("#labs-group .add-row a")
    page.click("#labs-group .add-row a")
    page.select_option("#id_labs-0-analyte", "calcium_total")
    assert page.input_value("#id_labs-0-unit") == "mg/dL"  # the analyte's conventional unit, preselected
    page.fill("#id_labs-0-value", "13.2")
    page.select_option("#id_labs-0-unit", "pg/mL")  # the mistake
    page.fill("#id_labs-0-ref_low", "8.5")
    page.fill("#id_labs-0-ref_high", "10.2")
    page.fill("#id_labs-0-day", "0")
    page.select_option("#id_labs-1-analyte", "calcium_total")
    page.fill("#id_labs-1-value", "9.9")
    page.fill("#id_labs-1-ref_low", "8.5")
    page.fill("#id_labs-1-ref_high", "10.2")
    page.fill("#id_labs-1-day", "3")
    page.click("#interventions-group .add-row a")
    assert [page.input_value(f"#id_{row}-sequence") for row in ("labs-0", "labs-1", "interventions-0")] == [
        "1",
        "2",
        "3",
    ]
    page.click("#interventions-0 .row-up")  # the saline came between the two calcium values
    page.click("#labs-1 .row-down")
    assert page.locator("#labs-1 .row-position").inner_text() == "3"
    page.fill("#id_interventions-0-day", "0")
    page.select_option("#id_interventions-0-category", "supportive_care")
    page.fill("#id_interventions-0-agent_text", "IV isotonic saline")
    page.click("#interventions-0 .row-details summary")
    page.select_option("#id_interventions-0-intent", "calcium_directed")
    page.click("input[name=_continue]")

    summary = page.locator("#error-summary")
    summary.wait_for()
    message = (
        "Lab result 1 (Serum total calcium), Unit: pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L."
    )
    link = summary.get_by_role("link", name=message)
    assert link.is_visible() and link.get_attribute("href") == "#labs-0"
    assert "row-has-errors" in page.get_attribute("#labs-0", "class")
    shoot(page, "01-unit-error")
    assert Case.objects.count() == 0

    page.select_option("#id_labs-0-unit", "mg/dL")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    case = Case.objects.get()
    assert (case.labs.count(), case.interventions.count(), case.created_by.username) == (2, 1, "curator1")
    assert [(r.sequence, str(r)) for r in case.labs.all()] == [
        (1, "Serum total calcium 13.2 mg/dL"),
        (3, "Serum total calcium 9.9 mg/dL"),
    ]
    assert case.interventions.get().sequence == 2

    page.wait_for_function("document.querySelector('#calcium-course canvas') !== null")
    drawn = page.evaluate(
        "(() => { const o = echarts.getInstanceByDom(document.getElementById('calcium-course')).getOption();"
        " return o.series.filter(s => s.type === 'line' && s.name === 'Total calcium').map(s => s.data.length); })()"
    )
    assert drawn == [2]  # both values on the day axis
    assert "13.2 mg/dL = 3.29 mmol/L" in page.content()  # 13.2 x 0.2495 = 3.2934
    shoot(page, "02-case-page-with-chart")

    # The workflow is on the page, for the roles that may run it.
    assert page.locator(".case-status-bar button", has_text="Publish").count() == 0
    page.click(".case-status-bar button:has-text('Submit for review')")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#case-status").inner_text() == "In review"
    Case.objects.filter(pk=case.pk).update(status="draft")  # back, to run the changelist action below too

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
