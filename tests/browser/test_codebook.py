"""An analyst reads the codebook page at desktop and phone widths: every table and column, codes as labels."""

import pytest

from cases import tables
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_codebook_page_reads_at_desktop_and_phone_widths(page, live_server, roles, shoot, width):
    make_user("analyst1", "analyst")
    log_in(page, live_server, "analyst1")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/codebook/")
    assert [page.inner_text(f"h2#{name}") for name in tables.TABLES] == [f"{name}.csv" for name in tables.TABLES]
    assert page.locator(".codebook tbody tr").count() == sum(len(t.columns) for t in tables.TABLES.values())
    analyte = page.inner_text("#labs-analyte")
    assert "Serum total calcium" in analyte and "LOINC 17861-6" in analyte
    assert "mmol/L" in page.inner_text("#cases-peak_calcium_mmol_l")
    # Nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, f"codebook-{width}")  # the whole page
    page.screenshot(path=str(ARTIFACTS / f"codebook-{width}-top.png"))  # what a reader sees first
    page.locator("#labs").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('labs-analyte').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / f"codebook-{width}-labs.png"))
