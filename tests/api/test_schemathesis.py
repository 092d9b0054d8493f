"""Schemathesis: generated requests to every API operation, signed in as a reviewer (who may do everything), over
the source cases; each response must be no server error and must conform to the OpenAPI schema. Bounded: at most
MAX_EXAMPLES generated requests per operation, no shrinking."""

from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
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
from tests.factories import make_user

MAX_EXAMPLES = 8
CALLS: Counter = Counter()


@pytest.fixture(autouse=True)
def source_cases(db, settings):
    settings.ALLOWED_HOSTS = ["localhost"]  # the Host schemathesis sends to a WSGI app
    call_command("loaddata", "agents", "source_cases", verbosity=0)
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


@pytest.fixture(scope="module", autouse=True)
def report_calls(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    summary = ", ".join(f"{status}: {n}" for status, n in sorted(CALLS.items()))
    reporter.write_line(f"schemathesis: {sum(CALLS.values())} requests checked ({summary})")
