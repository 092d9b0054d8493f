"""Schemathesis: generated requests to every API operation, signed in as a reviewer (who may do everything), over
a small registry; each response must be no server error and must conform to the OpenAPI schema. Bounded: at most
MAX_EXAMPLES generated requests per operation, no shrinking."""

import os
from collections import Counter
from decimal import Decimal

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from cases.models import Case
from cases.services import cases_refresh_derived
from tests.factories import make_agent, make_case, make_intervention, make_lab, make_user

MAX_EXAMPLES = int(os.environ.get("REGISTRY_SCHEMATHESIS_EXAMPLES") or 8)
CALLS: Counter = Counter()  # responses by status, summed up at the end of the run (tests/conftest.py)


@pytest.fixture(autouse=True)
def registry(db, settings):
    """A small registry: a published case (labs before and after a calcium-directed drug) and a draft."""
    settings.ALLOWED_HOSTS = ["localhost"]  # the Host schemathesis sends to a WSGI app
    published = make_case(status="published", age_years=60, sex="female", index_event="presentation")
    drug = make_intervention(published, sequence=2, day=1, status="administered", calcium_response="normalised")
    make_lab(published, sequence=1, day=0, value=Decimal("13.5"), ref_low=Decimal("8.5"), ref_high=Decimal("10.5"))
    make_lab(published, sequence=3, day=4, value=Decimal("9.8"), follows_intervention=drug)
    make_case(title="A draft", source=published.source)
    make_agent(code="zoledronic_acid", name="Zoledronic acid", atc_code="M05BA08")
    cases_refresh_derived(Case.objects.all())
    cache.clear()
    # As Django's test client does: the WSGI handler would close the connection after each request, which inside
    # the test's transaction (on PostgreSQL) leaves the next request without one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, settings) -> str:
    settings.REGISTRY_API_RATES = {**settings.REGISTRY_API_RATES, "user": "1000000/hour"}
    return Token.objects.create(user=make_user("schemathesis", "reviewer")).key


with override_settings(ALLOWED_HOSTS=["localhost"]):  # loaded once, when pytest collects this module
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_response_is_no_server_error_and_matches_the_schema(case, token):
    response = case.call_and_validate(
        headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error, response_schema_conformance]
    )
    CALLS[response.status_code] += 1

