"""On the case page (issue 13): a lab's details offer several interventions to follow and the intervention its time
is given from; screenshots at 1280 and 390 px, no sideways scroll."""

import pytest

from tests.admin_pages import make_case_with_rows
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_labs_details_hold_its_interventions_and_its_anchor(page, live_server, roles, shoot):
    make_user("curator1", "curator")
    case = make_case_with_rows(2)
    log_in(page, live_server, "curator1")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
        page.locator("#labs-group details.row-details").first.evaluate("d => d.open = true")
        follows = page.locator("#id_labs-0-follows")
        assert follows.evaluate("s => s.multiple") is True
        # the case's two interventions, told apart by their place on the timeline
        assert follows.locator("option").all_inner_texts() == ["Drug 2 (timeline 1)", "Drug 2 (timeline 3)"]
        assert page.locator("#id_labs-0-anchor option").count() == 3  # none, or one of the two
        assert page.locator("label[for=id_labs-0-anchor]").inner_text().strip() == "Timed from"
        page.locator("#id_labs-0-follows").scroll_into_view_if_needed()
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        shoot(page, f"lab-links-and-anchor-{width}")
        page.locator("#labs-group").screenshot(path=str(ARTIFACTS / f"lab-links-and-anchor-{width}-labs.png"))
