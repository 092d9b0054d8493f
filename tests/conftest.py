"""Fixtures shared by the test modules: API clients in each role, the source cases loaded the README's way, and
a private throttle cache per test run."""

from __future__ import annotations

import sys

import pytest
from django.core.management import call_command
from django.test import override_settings

from cases import analytes
from tests.api.documents import client_for


@pytest.fixture
def curator():
    return client_for("curator")


@pytest.fixture
def reviewer():
    return client_for("reviewer")


@pytest.fixture
def analyst():
    return client_for("analyst")


@pytest.fixture
def source_cases(db):
    """The seed cases, loaded as README says (`loaddata agents source_cases`): loaddata stores their derived
    measures (cases/management/commands/loaddata.py), nothing else is needed."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def private_cache():
    """Each test run counts API throttles in its own in-process cache, not in var/cache/ (bin/serve's cache), so
    that two runs on one machine cannot throttle each other. Tests of the shared caches set CACHES themselves."""
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    ):
        yield


@pytest.fixture(scope="session", autouse=True)
def analyte_table_read(private_cache, django_db_setup, django_db_blocker):
    """The analyte table is read once before the tests (as a server process reads it once), so that no test's
    query count depends on whether an earlier test read it."""
    with django_db_blocker.unblock():
        analytes.current()
    return analytes.snapshot()


@pytest.fixture(autouse=True)
def analyte_registry(analyte_table_read):
    """A test's analyte rows roll back with it: so does the registry's copy (and the shared stamp). A test starts
    with the copy read before the tests when an earlier one left none (it changed the table, or flushed it), so that
    a test without the database (cases.measures' own) never has to read the table."""
    state = analytes.snapshot()
    if state[1] is None:
        state = analyte_table_read
        analytes.restore(state)
    yield
    analytes.restore(state)


def pytest_terminal_summary(terminalreporter):
    schemathesis = sys.modules.get("tests.api.test_schemathesis")
    if schemathesis is not None and schemathesis.CALLS:
        calls = schemathesis.CALLS
        summary = ", ".join(f"{status}: {n}" for status, n in sorted(calls.items()))
        terminalreporter.write_line(f"schemathesis: {sum(calls.values())} generated requests checked ({summary})")
