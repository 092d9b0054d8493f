"""The real server, as bin/serve runs it: gunicorn on loopback, in a subprocess, against a database of its own."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from cases.management.commands.loadtest import free_port

BASE = Path(__file__).resolve().parents[1]
PYTHON_BIN = Path(sys.executable).parent
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-directory/registry.sqlite3",
    "postgresql": "postgres://postgres@127.0.0.1:1/registry",  # nothing listens on port 1
}


def get(port: int, path: str, token: str = "") -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def gunicorn(tmp_path):
    started = []

    def start(database_url: str) -> tuple[int, Path]:
        port, log = free_port(), tmp_path / f"stderr-{len(started)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": "test-only-" + "k" * 50,
            "REGISTRY_ADDRESS": f"127.0.0.1:{port}",
            "ALLOWED_HOSTS": "127.0.0.1",
            "REGISTRY_WORKERS": "1",
            "REGISTRY_DB_POOL_TIMEOUT": "2",
        }
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [str(PYTHON_BIN / "gunicorn"), "--config", "registry/gunicorn_conf.py", "registry.wsgi"],
            cwd=BASE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        started.append(server)
        for _ in range(150):
            try:
                get(port, "/healthz")
                return port, log
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not start: {log.read_text()[-2000:]}")

    yield start
    for server in started:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_the_static_files_itself_with_whitenoise(gunicorn):
    manage(UNREACHABLE["sqlite"], "collectstatic", "--noinput", "-v0")  # as bin/serve does; needs no database
    port, _ = gunicorn(UNREACHABLE["sqlite"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=30) as response:  # noqa: S310
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/css")
        assert b"body" in response.read()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_unreachable_database_is_a_json_503_with_retry_after_and_is_logged(gunicorn, engine):
    port, log = gunicorn(UNREACHABLE[engine])
    status, headers, body = get(port, "/api/v1/cases/", token="0" * 40)
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    assert headers["Retry-After"] == "5"
    assert body == {"detail": "The database is unavailable at the moment; try again in a few seconds."}
    status, headers, body = get(port, "/healthz")
    assert (status, headers["Retry-After"]) == (503, "5")
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["logger"] == "registry" and r["message"] == "database unavailable: GET /api/v1/cases/" for r in logged)
    assert all("OperationalError" in r["traceback"] for r in logged if r["logger"] == "registry")


def scratch_database(tmp_path) -> str:
    """A database of the kind the suite runs on, for a process that migrates and serves it."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    name = f"{connection.settings_dict['NAME']}_server"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_SERVER}/{name}"


def manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-only-" + "k" * 50, "DEBUG": "0"}
    done = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", *args], cwd=BASE, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_fifty_concurrent_writes_through_gunicorn_all_succeed_within_a_bounded_pool(tmp_path):
    url = scratch_database(tmp_path)
    manage(url, "migrate", "--noinput", "-v0")
    out = manage(url, "loadtest", "--writes", "50", "--concurrency", "50", "--flood", "16")
    assert "statuses {201: 50}, errors 0, cases stored 50" in out
    if connection.vendor == "postgresql":
        peak = int(re.search(r"peak PostgreSQL connections of the server: (\d+)", out).group(1))
        # gunicorn_conf: max(2, CPUs) workers, each with a pool of at most 4 connections (its 4 threads)
        assert 1 <= peak <= max(2, os.cpu_count()) * 4 + 1
    assert "statuses {413: 16}" in out  # huge usernames are refused before they are read
