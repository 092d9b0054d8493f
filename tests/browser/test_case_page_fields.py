"""Issue 13: the new fields of a case page (lab approximate / unit not reported, tumor size, given before
presentation) are on the admin page, labelled in words; screenshots at 1280 and 390 px."""

from django.core.management import call_command

from cases.models import Case
from cases.services import cases_refresh_derived
from tests.browser.conftest import log_in
from tests.factories import make_user


def test_the_case_page_offers_the_fields_for_values_as_printed(page, live_server, roles, shoot):
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases_refresh_derived(Case.objects.all())
    make_user("cur", "curator")
    log_in(page, live_server, "cur")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/admin/cases/case/2/change/")
        shoot(page, f"case-page-fields-{width}")
    labels = page.locator("label, th").all_inner_texts()
    text = " ".join(labels).lower()
    for words in ("value is approximate", "unit not reported", "size (mm)", "given before presentation / elsewhere"):
        assert words in text, words
    assert page.locator("#id_labs-0-value_is_approximate").count() == 1
    assert page.locator("#id_interventions-0-given_before_presentation").count() == 1
