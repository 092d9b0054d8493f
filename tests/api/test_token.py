"""The token endpoint: password attempts are throttled per client and per username."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import make_user

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def fresh_throttle(settings):
    # The throttle counts attempts in the cache, which outlives each test's database.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REGISTRY_API_RATES = {**settings.REGISTRY_API_RATES, "token": "3/minute", "token_username": "5/minute"}
    cache.clear()
    yield
    cache.clear()


def test_the_attempt_after_the_rate_is_refused_with_429_even_with_the_right_password():
    make_user("ana", "analyst")
    client = APIClient()
    wrong = [client.post(TOKEN, {"username": "ana", "password": "guess"}, format="json") for _ in range(3)]
    assert [r.status_code for r in wrong] == [400, 400, 400]
    refused = client.post(TOKEN, {"username": "ana", "password": "pw-ana"}, format="json")
    assert refused.status_code == 429
    assert "Retry-After" in refused


def test_attempts_are_counted_per_client_address():
    make_user("ana", "analyst")
    for _ in range(3):
        APIClient().post(TOKEN, {"username": "ana", "password": "guess"}, format="json", REMOTE_ADDR="10.0.0.1")
    other = APIClient().post(TOKEN, {"username": "ana", "password": "pw-ana"}, format="json", REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 200


def test_revoking_a_token_is_not_an_attempt():
    user = make_user("ana", "analyst")
    client = APIClient()
    assert client.post(TOKEN, {"username": "ana", "password": "pw-ana"}, format="json").status_code == 200
    client.force_authenticate(user)
    assert [client.delete(TOKEN).status_code for _ in range(3)] == [204, 204, 204]
    client.force_authenticate(None)
    statuses = [client.post(TOKEN, {"username": "ana", "password": "pw-ana"}, format="json").status_code for _ in "ab"]
    assert statuses == [200, 200]  # attempts 2 and 3 of 3


def test_a_forwarded_for_header_written_by_the_client_does_not_make_a_new_client():
    make_user("ana", "analyst")
    statuses = [
        APIClient()
        .post(TOKEN, {"username": "ana", "password": "guess"}, format="json", HTTP_X_FORWARDED_FOR=f"10.9.0.{n}")
        .status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


def test_attempts_on_one_username_from_many_addresses_are_throttled_too():
    make_user("ana", "analyst")
    statuses = [
        APIClient()
        .post(TOKEN, {"username": "ANA", "password": "guess"}, format="json", REMOTE_ADDR=f"10.0.1.{n}")
        .status_code
        for n in range(6)
    ]
    assert statuses == [400, 400, 400, 400, 400, 429]
    # another account is not affected
    make_user("bea", "analyst")
    bea = APIClient().post(TOKEN, {"username": "bea", "password": "pw-bea"}, format="json", REMOTE_ADDR="10.0.2.1")
    assert bea.status_code == 200
