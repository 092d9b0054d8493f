"""Settings come from the environment and fail loudly on bad values (checked in a fresh interpreter)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FROM_ENVIRONMENT = {
    "SECRET_KEY",
    "DEBUG",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
    "REGISTRY_API_RATE_USER",
    "REGISTRY_API_RATE_ANON",
    "REGISTRY_API_RATE_TOKEN",
}
PRINT_DB = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.DEBUG)"


def run_settings(code: str = "", **env: str) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' conftest for this process, not for a deployment.
    inherited = SETTINGS_FROM_ENVIRONMENT | {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in inherited}
    code = (
        code
        or f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='registry.settings'; django.setup(); {PRINT_DB}"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_the_server_refuses_to_start_without_a_secret_key_when_debug_is_off(server):
    result = run_settings(f"import registry.{server}")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_runserver_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = run_settings(
        "import sys; sys.argv = ['manage.py', 'runserver', '--noreload', '127.0.0.1:8765']; "
        "import manage; manage.main()",
        ALLOWED_HOSTS="localhost",
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_commands_that_need_no_key_run_without_one():
    result = run_settings(
        "import sys; sys.argv = ['manage.py', 'makemigrations', '--check', '--dry-run']; import manage; manage.main()"
    )
    assert result.returncode == 0, result.stderr


def test_debug_allows_the_development_key_and_defaults_to_sqlite():
    result = run_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"]


def test_database_url_selects_postgresql():
    result = run_settings(SECRET_KEY="k", DATABASE_URL="postgres://postgres@127.0.0.1:5432/registry")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False"]


def test_a_bad_boolean_is_an_error_not_a_guess():
    result = run_settings(SECRET_KEY="k", DEBUG="maybe")
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_an_unsupported_database_is_refused():
    result = run_settings(SECRET_KEY="k", DATABASE_URL="mysql://root@127.0.0.1/test")
    assert "DATABASE_URL must name SQLite or PostgreSQL" in result.stderr


HTTPS_SETTINGS = (
    "SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD "
    "SECURE_SSL_REDIRECT SECURE_PROXY_SSL_HEADER"
).split()
PRINT_HTTPS = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='registry.settings'; django.setup(); "
    f"from django.conf import settings; print(repr([getattr(settings, n) for n in {HTTPS_SETTINGS!r}]))"
)
LONG_KEY = "k" * 20 + "-long-enough-and-varied-0123456789-abcdefghijklmnop"


def test_without_debug_cookies_are_https_only_and_hsts_is_on():
    result = run_settings(PRINT_HTTPS, SECRET_KEY="k")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([True, True, 31536000, False, False, False, None])


def test_with_debug_the_local_http_set_up_keeps_working():
    result = run_settings(PRINT_HTTPS, DEBUG="1")
    assert result.stdout.strip() == repr([False, False, 0, False, False, False, None])


def test_each_https_setting_comes_from_the_environment():
    result = run_settings(
        PRINT_HTTPS,
        SECRET_KEY="k",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="no",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="yes",
        SECURE_SSL_REDIRECT="true",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr([False, False, 3600, True, True, True, ("HTTP_X_FORWARDED_PROTO", "https")])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS='a year' is not a whole number"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS='-1' is not a whole number"),
        ("SECURE_SSL_REDIRECT", "sure", "SECURE_SSL_REDIRECT='sure' is not a boolean"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https", "is not a header name"),
        ("REGISTRY_API_RATE_TOKEN", "10 per minute", "REGISTRY_API_RATE_TOKEN='10 per minute' is not a rate"),
    ],
)
def test_a_bad_https_or_rate_value_is_an_error_not_a_guess(name, value, message):
    result = run_settings(SECRET_KEY="k", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_deployment_check_passes_with_the_site_specific_choices_silenced():
    """W005 (HSTS subdomains), W008 (SSL redirect, usually the proxy's) and W021 (HSTS preload) are silenced as the
    deployment's decisions (registry/settings.py, README); nothing else is reported."""
    command = "import sys; sys.argv = ['manage.py', 'check', '--deploy', '--fail-level', 'WARNING']; "
    command += "import manage; manage.main()"
    result = run_settings(command, SECRET_KEY=LONG_KEY, ALLOWED_HOSTS="registry.example")
    assert result.returncode == 0, result.stderr
    assert "no issues (3 silenced)" in result.stdout


@pytest.mark.django_db
def test_the_system_checks_find_nothing_on_this_database():
    """`manage.py check` is silent on either database (SQLite builds the PostgreSQL covering index without its
    included columns: models.W040, silenced there)."""
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("check", databases=["default"], stdout=out, stderr=err)  # as migrate and runserver check
    assert "System check identified no issues" in out.getvalue(), out.getvalue() + err.getvalue()
