"""Suite-wide: each test run counts API throttles in its own in-process cache, not in var/cache/ (bin/serve's
cache), so that two runs on one machine cannot throttle each other. Tests of the shared caches set CACHES
themselves."""

import sys

import pytest
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def private_cache():
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    ):
        yield


def pytest_terminal_summary(terminalreporter):
    schemathesis = sys.modules.get("tests.api.test_schemathesis")
    if schemathesis is not None and schemathesis.CALLS:
        calls = schemathesis.CALLS
        summary = ", ".join(f"{status}: {n}" for status, n in sorted(calls.items()))
        terminalreporter.write_line(f"schemathesis: {sum(calls.values())} generated requests checked ({summary})")
