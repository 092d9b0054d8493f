"""A reviewer cuts a release in the admin and downloads it; the page reads at desktop and phone widths."""

import zipfile

import pytest
from django.core.management import call_command

from cases.models import Case, Release
from cases.releases import release_path
from cases.services import cases_refresh_derived
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_reviewer_cuts_a_release_in_the_admin(page, live_server, roles, shoot, settings, tmp_path, width):
    settings.REGISTRY_RELEASE_DIR = tmp_path
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases_refresh_derived(Case.objects.all())
    make_user("rita", "reviewer")
    log_in(page, live_server, "rita")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/admin/cases/release/add/")
    assert page.inner_text("h1") == "Cut a release of the published cases"
    page.fill("#id_version", "2026.1")
    page.fill("#id_notes", "For the 2026 review")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"release-add-{width}.png"))
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/cases/release/")
    release = Release.objects.get()
    assert release.case_count == Case.objects.published().count() > 0
    assert "2026.1" in page.inner_text("#result_list")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, f"release-list-{width}")
    page.click("#result_list a:text('2026.1')")
    page.wait_for_url(f"{live_server.url}/admin/cases/release/{release.pk}/change/")
    page.wait_for_load_state()  # the URL changes before the page has arrived; read the page once it has
    assert release.sha256 in page.inner_text("#content")
    shoot(page, f"release-detail-{width}")
    assert zipfile.ZipFile(release_path(release)).testzip() is None
