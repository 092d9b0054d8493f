"""The browser tests need Chromium: without it they skip on a developer's machine and fail in CI."""

import os
import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[1]
ONE_BROWSER_TEST = "tests/browser/test_dashboard.py"


def run_browser_tests(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CI"} | env
    environment |= {"REGISTRY_CHROMIUM": "/nonexistent/chromium", "DATABASE_URL": "", "SECRET_KEY": "x"}
    return subprocess.run(  # noqa: S603 - our own test suite, fixed arguments
        [sys.executable, "-m", "pytest", ONE_BROWSER_TEST, "-q", "-x"],
        cwd=BASE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_chromium_the_browser_tests_fail_in_ci():
    done = run_browser_tests(CI="true")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Chromium is not installed at /nonexistent/chromium" in done.stdout
    assert " failed" in done.stdout or " error" in done.stdout


def test_without_chromium_the_browser_tests_skip_saying_why_outside_ci():
    done = run_browser_tests()
    assert done.returncode == 0, done.stdout[-2000:]
    assert "SKIPPED" in done.stdout and "Chromium is not installed at /nonexistent/chromium" in done.stdout
