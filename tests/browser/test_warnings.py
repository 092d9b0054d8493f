"""A save that raises a warning comes back with the warning on top and a checkbox; ticked, it saves."""

from decimal import Decimal

import pytest

from cases.models import Case
from cases.warnings import CaseWarning, registered
from tests.admin_pages import make_case_with_rows
from tests.browser.conftest import log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def high_calcium(case: Case):
    """A check registered by this test only (no real check ships yet): a total calcium over 13 mg/dL."""
    for n, lab in enumerate(case.labs.all()):
        if lab.analyte == "calcium_total" and lab.value is not None and lab.value > 13:
            yield CaseWarning(f"labs[{n}].value", f"A total calcium of {lab.value.normalize():f} mg/dL is very high.")


def test_a_curator_confirms_a_warning_with_its_checkbox(page, live_server, roles, shoot):
    make_user("curator1", "curator")
    case = make_case_with_rows(1)
    log_in(page, live_server, "curator1")
    with registered(high_calcium):
        page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
        page.fill("#id_labs-0-value", "14.5")
        page.click("input[name=_continue]")
        page.wait_for_selector("text=Please confirm")
        assert page.is_visible("input[name=confirm][value='labs[0].value']")
        line = "Lab result 1 (Serum total calcium): A total calcium of 14.5 mg/dL is very high."
        assert page.inner_text("#confirm-warnings li").strip() == line
        assert page.inner_text("body").count("is very high") == 1
        shoot(page, "warning-to-confirm-1280")
        page.set_viewport_size({"width": 390, "height": 900})
        shoot(page, "warning-to-confirm-390")
        case.refresh_from_db()
        assert case.version == 1  # nothing saved yet
        page.set_viewport_size({"width": 1280, "height": 900})
        page.check("input[name=confirm][value='labs[0].value']")
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")
    case.refresh_from_db()
    assert (case.version, case.labs.get().value) == (2, Decimal("14.5"))
