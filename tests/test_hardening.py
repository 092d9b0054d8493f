"""Hostile and broken input, errors and health: what issue 15 found and what the registry now does instead."""

import io
import json
import logging

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client, override_settings
from rest_framework.test import APIClient

from api import views as api_views
from api.throttling import username_key
from cases.models import Case
from tests.api.documents import client_for
from tests.factories import make_case, make_source, make_user

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
NESTED = "[" * 1000 + "]" * 1000  # 1,000 levels: Python's parser gives up (RecursionError)


def assert_error_shape(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"] and all(set(e) == {"field", "reason"} for e in body["errors"])
    return body


@pytest.fixture
def curator():
    cache.clear()
    return client_for("curator")


def json_endpoints(curator) -> list[tuple[str, str]]:
    case = make_case()
    make_source()
    case_path = f"/api/v1/cases/{case.registry_id}/"
    return [
        ("post", "/api/v1/cases/"),
        ("put", case_path),
        ("patch", case_path),
        ("post", f"{case_path}transition/"),
        ("post", "/api/v1/sources/"),
        ("patch", f"/api/v1/sources/{case.source_id}/"),
        ("post", "/api/v1/agents/"),
        ("post", TOKEN),
    ]


@pytest.mark.parametrize("body", [NESTED, '{"title": ', "\xff not json"], ids=["nested", "truncated", "garbage"])
def test_deeply_nested_or_broken_json_is_a_400_with_the_error_shape_on_every_json_endpoint(curator, body):
    for method, path in json_endpoints(curator):
        response = getattr(curator, method)(
            path, data=body.encode("utf-8", "surrogateescape"), content_type="application/json", HTTP_IF_MATCH='"v1"'
        )
        assert_error_shape(response)
    anonymous = APIClient().post(TOKEN, data=NESTED, content_type="application/json")
    assert "nested too deeply" in assert_error_shape(anonymous)["detail"]


def test_the_admin_json_import_refuses_deeply_nested_json_with_a_message():
    client = Client()
    client.force_login(make_user("cur", "curator"))
    upload = SimpleUploadedFile("cases.json", NESTED.encode(), content_type="application/json")
    response = client.post("/admin/cases/case/import/", {"file": upload})
    assert response.status_code == 200
    assert "The file is not valid JSON: it is nested too deeply." in response.content.decode()
    assert Case.objects.count() == 0


def test_a_flood_of_huge_usernames_stores_none_of_them_in_the_cache(settings):
    settings.REGISTRY_API_RATES = {**settings.REGISTRY_API_RATES, "token": "1000/min", "anon": "1000/min"}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        from django.core.cache import cache as flood_cache

        flood_cache.clear()
        for n in range(20):
            long = f"{n}-" + "x" * 15_000  # the longest that fits in a token request's 16 KiB body
            response = APIClient().post(TOKEN, {"username": long, "password": "p"}, format="json")
            assert response.status_code == 400
        keys = list(flood_cache._cache)
        assert keys  # the attempts were counted ...
        assert max(len(k) for k in keys) < 200  # ... under short keys: no username was stored
        assert sum(len(v) for v in flood_cache._cache.values()) < 20 * 1_000
        for n in range(5):
            huge = f"{n}-" + "x" * 1_900_000
            response = APIClient().post(TOKEN, {"username": huge, "password": "p"}, format="json")
            assert response.status_code == 413  # refused before the body is read: counted nowhere
            assert response.json()["detail"].endswith("the limit is 16384.")
        assert len(flood_cache._cache) == len(keys)


def test_username_keys_are_fixed_size_case_blind_and_capped_at_the_longest_possible_username():
    assert username_key("Ana") == username_key("ana") and len(username_key("x" * 2_000_000)) == 64
    assert username_key("a" * 150 + "b") == username_key("a" * 150 + "c")  # no account has a longer name
    assert username_key("a" * 149 + "b") != username_key("a" * 149 + "c")


def test_an_undecodable_or_unknown_id_under_the_api_is_a_json_404(curator):
    for path in ["/api/v1/cases/%FF%FE/", "/api/v1/cases/CCR-x/", "/api/v1/no-such-thing/", "/api/v1/cases/999/"]:
        response = curator.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."} or "detail" in response.json()


def test_a_404_outside_the_api_stays_an_html_page():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def log_lines():
    handler = logging.getLogger("django.request").handlers[0]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)


def test_a_500_is_logged_as_one_json_line_with_its_traceback_and_answered_in_json(curator, log_lines, monkeypatch):
    def broken(self, request):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api_views.VocabularyView, "get", broken)
    curator.raise_request_exception = False
    response = curator.get("/api/v1/vocabularies/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Server error: it has been logged."}
    [record] = log_lines()
    assert record["level"] == "ERROR" and record["logger"] == "django.request"
    assert "/api/v1/vocabularies/" in record["message"]
    assert "Traceback" in record["traceback"] and "ZeroDivisionError: a bug" in record["traceback"]


def test_the_health_check_answers_without_signing_in_and_shows_no_data():
    make_case(status="published")
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_the_health_check_is_503_while_a_migration_is_not_applied():
    MigrationRecorder(connection).migration_qs.filter(app="cases").order_by("-id").first().delete()
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"detail": "1 database migration(s) not applied."}
    assert response["Retry-After"]


def test_the_admin_source_autocomplete_offers_analysts_only_sources_of_published_cases():
    shown = make_source(title="Published case source")
    make_case(source=shown, status="published")
    hidden = make_source(title="Draft case source")
    make_case(source=hidden, status="draft")
    url = "/admin/autocomplete/?app_label=cases&model_name=case&field_name=source&term=source"

    def offered(role):
        client = Client()
        client.force_login(make_user(f"{role}-ac", role))
        response = client.get(url)
        assert response.status_code == 200
        return sorted(r["text"] for r in response.json()["results"])

    assert offered("analyst") == [str(shown)]
    assert offered("curator") == sorted([str(shown), str(hidden)])


def test_postgresql_connections_come_from_a_bounded_pool_with_health_checks(settings):
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        assert db["CONN_MAX_AGE"] == 0 and "pool" not in db["OPTIONS"]
        return
    pool = db["OPTIONS"]["pool"]
    assert db["CONN_MAX_AGE"] == 0  # Django's pool refuses persistent connections
    assert db["CONN_HEALTH_CHECKS"] is True  # Django 5.2 then gives the pool ConnectionPool.check_connection
    assert connection.pool is not None and connection.pool.max_size == pool["max_size"] >= 1
    assert connection.pool._check is not None
