"""Settings come from the environment and fail loudly on bad values (checked in a fresh interpreter)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_DB = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.DEBUG)"


def run_settings(code: str = "", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS"}}
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
