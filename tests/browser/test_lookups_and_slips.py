"""On the case page: a finding coded by the HPO lookup, a lab following an intervention added in the same save,
and a unit slip the curator is asked to confirm (issue 11, points 2, 4 and 6)."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from cases.models import Case
from tests.admin_pages import make_case_with_rows
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SLIP = (
    "3.11 mg/dL is at or below the critical value for serum total calcium (6.5 mg/dL);"
    " did you mean 3.11 mmol/L = 12.5 mg/dL?"
)


def test_hpo_lookup_new_intervention_link_and_unit_slip(page, live_server, roles, shoot):
    call_command("load_hpo", verbosity=0)
    make_user("curator1", "curator")
    case = make_case_with_rows(1)
    log_in(page, live_server, "curator1")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")

    # A finding: type part of its name, choose the HPO term offered.
    page.click("#findings-group .add-row a")
    page.fill("#id_findings-0-label", "muscle weak")
    option = page.locator(".hpo-options li", has_text="Muscle weakness").first
    option.wait_for()
    shoot(page, "hpo-lookup-1280")
    option.click()
    assert page.input_value("#id_findings-0-label") == "Muscle weakness"
    assert page.input_value("#id_findings-0-hpo_id") == "HP:0001324"
    assert page.locator(".hpo-options").count() == 0

    # An intervention, then a lab after it, both new: the lab can name it before any save.
    page.click("#interventions-group .add-row a")
    page.select_option("#id_interventions-1-category", "supportive_care")
    page.fill("#id_interventions-1-agent_text", "IV isotonic saline")
    page.click("#interventions-1 .row-details summary")
    page.select_option("#id_interventions-1-intent", "calcium_directed")
    page.click("#labs-group .add-row a")
    page.select_option("#id_labs-1-analyte", "calcium_total")
    assert page.input_value("#id_labs-1-unit") == "mg/dL"  # preselected: the slip below
    page.fill("#id_labs-1-value", "3.11")
    page.click("#labs-1 .row-details summary")
    page.select_option("#id_labs-1-follows", label="New intervention: IV isotonic saline")
    page.click("input[name=_continue]")

    # The unit slip is asked, nothing is saved yet.
    page.wait_for_selector("text=Please confirm")
    # Once, at the top, naming the row in words, its checkbox beside it; the row itself marked.
    line = page.locator("#confirm-warnings li")
    assert line.count() == 1
    assert line.inner_text().strip() == f"Lab result 2 (Serum total calcium): {SLIP}"
    assert line.locator("input[name=confirm][value='labs[1].value']").count() == 1
    body = page.inner_text("body")
    assert body.count(SLIP) == 1 and "labs[1]" not in body, body[:3000]
    assert "row-has-warning" in page.get_attribute("#labs-1", "class")
    box = page.locator("#confirm-warnings label > span").bounding_box()
    assert box["width"] > 600, box  # the text has the summary's width, not a narrow column
    assert page.input_value("#id_labs-1-follows") == "new:interventions-1"  # kept on the way back
    shoot(page, "unit-slip-confirm-1280")
    page.screenshot(path=str(ARTIFACTS / "unit-slip-confirm-1280-top.png"))
    page.locator("#labs-1").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "unit-slip-confirm-1280-row.png"))  # the row, marked
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    assert page.locator("#confirm-warnings label > span").bounding_box()["width"] > 250
    shoot(page, "unit-slip-confirm-390")
    page.screenshot(path=str(ARTIFACTS / "unit-slip-confirm-390-top.png"))  # the screen the curator sees first
    page.set_viewport_size({"width": 1280, "height": 800})
    assert Case.objects.get(pk=case.pk).version == 1
    page.check("input[name=confirm][value='labs[1].value']")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    case = Case.objects.get(pk=case.pk)
    finding = case.findings.get()
    assert (finding.label, finding.hpo_id) == ("Muscle weakness", "HP:0001324")
    lab = case.labs.get(value=Decimal("3.11"))
    assert list(lab.follows_interventions.all()) == [case.interventions.get(agent_text="IV isotonic saline")]

    page.set_viewport_size({"width": 390, "height": 800})
    page.click("#findings-group .add-row a")
    page.fill("#id_findings-1-label", "calcinosis")
    page.locator(".hpo-options li").first.wait_for()
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shoot(page, "hpo-lookup-390")
    page.locator(".hpo-options").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "hpo-lookup-390-screen.png"))
