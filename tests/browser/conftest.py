"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Without /usr/bin/chromium (REGISTRY_CHROMIUM names another) they skip, saying why, on a developer's machine, and
FAIL in CI (CI=true), so that a CI run without a browser cannot pass; .ci/run installs it. Screenshots go to
test-artifacts/browser/ (git-ignored).
"""

import importlib
import os
from pathlib import Path

import pytest
from django.apps import apps

CHROMIUM = Path(os.environ.get("REGISTRY_CHROMIUM") or "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between browser steps
# are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        missing = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def roles(transactional_db):
    """The role groups (a transactional test database is flushed between tests, so recreate them)."""
    importlib.import_module("cases.migrations.0002_roles").create_roles(apps, None)
    # and the permissions later migrations grant them: the dose steps' (issue 13), found by the migration's name
    # (its number may change when branches are merged)
    migrations = Path(importlib.import_module("cases.migrations").__file__).parent
    (steps,) = migrations.glob("*_fidelity_links_steps_anchors.py")
    importlib.import_module(f"cases.migrations.{steps.stem}").grant_dose_steps(apps, None)
    (episodes,) = migrations.glob("*_episodes.py")  # the calcium-disorder episodes' (issue 13, point 1)
    importlib.import_module(f"cases.migrations.{episodes.stem}").grant_episodes(apps, None)


@pytest.fixture
def shoot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


def log_in(page, live_server, username: str) -> None:
    """Sign in to the admin as one of the users the tests made (password pw-<username>)."""
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


_SELECT = """([start, end]) => {
const holder = document.getElementById('source-text');
const walker = document.createTreeWalker(holder, NodeFilter.SHOW_TEXT);
const range = document.createRange(); let seen = 0, node;
while ((node = walker.nextNode())) {
  const len = node.textContent.length;
  if (seen <= start && start <= seen + len) range.setStart(node, start - seen);
  if (seen <= end && end <= seen + len) { range.setEnd(node, end - seen); break; }
  seen += len;
}
const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
holder.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
}"""


def select_source_text(page, start: int, end: int) -> None:
    """One text selection in the workspace's source pane, characters start to end of the source's text, as a curator
    drags over the words (the page fills the quote of the row being edited on mouseup)."""
    page.evaluate(_SELECT, [start, end])
