"""Fixtures shared by the test modules: API clients in each role, and the source cases loaded the README's way."""

from __future__ import annotations

import pytest
from django.core.management import call_command

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
