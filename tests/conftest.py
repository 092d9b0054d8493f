"""Suite-wide: each test run counts API throttles in its own in-process cache, not in var/cache/ (bin/serve's
cache), so that two runs on one machine cannot throttle each other. Tests of the shared caches set CACHES
themselves."""

import pytest
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def private_cache():
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    ):
        yield
