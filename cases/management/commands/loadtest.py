"""Drive the real server (gunicorn, as bin/serve runs it) on loopback with concurrent writes and a flood of huge
token requests; report errors, peak database connections and the server's memory. Bounded: a fixed number of
requests, then the server is stopped.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench python manage.py loadtest

Run it against a scratch database: it creates a source, a curator "loadtest-curator" and cases titled
"loadtest case N", and deletes them at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from rest_framework.authtoken.models import Token

from cases.models import Case, Source

DOCUMENT = {
    "disorder": "hypercalcemia",
    "index_event": "presentation",
    "patient": {"age_years": 60, "sex": "female"},
    "tumors": [{"site": "breast", "sequence": 1}],
    "mechanisms": [{"rank": 1, "code": "humoral_pthrp", "certainty": "probable"}],
    "labs": [{"analyte": "calcium_total", "value": 13.1, "unit": "mg/dL", "sequence": 2, "day": 0}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, token: str | None = None) -> int | str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as exc:
        return f"{type(exc).__name__}"
    finally:
        conn.close()


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


class Command(BaseCommand):
    help = "Concurrent writes and a token flood against gunicorn on loopback: errors, peak connections, memory."

    def add_arguments(self, parser):
        parser.add_argument("--writes", type=int, default=200, help="case creations in all (default 200)")
        parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once (default 50)")
        parser.add_argument("--flood", type=int, default=320, help="token requests with huge usernames (320)")
        parser.add_argument("--username-bytes", type=int, default=1_900_000)

    def handle(self, *args, writes: int, concurrency: int, flood: int, username_bytes: int, **options):
        if writes > 5000 or flood > 2000 or concurrency > 200:
            raise CommandError("bounded: at most 5000 writes, 2000 flood requests, 200 in flight")
        port = free_port()
        curator, _ = User.objects.get_or_create(username="loadtest-curator", defaults={"is_staff": True})
        curator.groups.add(Group.objects.get(name="curator"))
        token = Token.objects.get_or_create(user=curator)[0].key
        source = Source.objects.create(kind="case_report", citation="loadtest", title="loadtest source")
        connection.close()  # the server's connections are the ones counted
        server = self._start(port)
        try:
            self._writes(port, token, source.pk, writes, concurrency)
            self._flood(port, server, flood, username_bytes)
        finally:
            server.terminate()
            server.wait(timeout=30)
            Case.objects.filter(title__startswith="loadtest case").delete()
            source.delete()
            curator.delete()

    def _start(self, port: int) -> subprocess.Popen:
        env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY or "loadtest-only-" + "k" * 40,
            "ALLOWED_HOSTS": "127.0.0.1",
            "REGISTRY_ADDRESS": f"127.0.0.1:{port}",
            "REGISTRY_API_RATE_USER": "1000000/hour",
        }
        base = Path(settings.BASE_DIR)
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [str(Path(sys.executable).with_name("gunicorn")), "--config", "registry/gunicorn_conf.py", "registry.wsgi"],
            cwd=base,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if request(port, "GET", "/healthz") == 200:
                return server
            time.sleep(0.2)
        server.terminate()
        raise CommandError("the server did not answer /healthz within 20 s")

    def _writes(self, port: int, token: str, source_id: int, writes: int, concurrency: int) -> None:
        peak = {"connections": 0}
        done = threading.Event()

        def watch() -> None:  # PostgreSQL: the server's connections to this database, sampled every 20 ms
            with connection.cursor() as cursor:
                while not done.is_set():
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                    peak["connections"] = max(peak["connections"], cursor.fetchone()[0])
                    time.sleep(0.02)
            connection.close()

        watcher = threading.Thread(target=watch) if connection.vendor == "postgresql" else None
        if watcher:
            watcher.start()
        bodies = [
            # The same patient each time: confirmed, since every one is meant (a duplicate would be a 409).
            json.dumps(
                {**DOCUMENT, "source_id": source_id, "title": f"loadtest case {n}", "confirm": ["duplicate"]}
            ).encode()
            for n in range(writes)
        ]
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = Counter(pool.map(lambda b: request(port, "POST", "/api/v1/cases/", b, token), bodies))
        seconds = time.perf_counter() - started
        done.set()
        if watcher:
            watcher.join()
        errors = sum(n for status, n in statuses.items() if status != 201)
        stored = Case.objects.filter(title__startswith="loadtest case").count()
        self.stdout.write(
            f"writes: {writes} case creations, {concurrency} in flight, {seconds:.1f} s: "
            f"statuses {dict(statuses)}, errors {errors}, cases stored {stored}"
        )
        if watcher:
            self.stdout.write(f"peak PostgreSQL connections of the server: {peak['connections']}")
        else:
            self.stdout.write("peak connections: not applicable (SQLite: each request opens the file)")

    def _flood(self, port: int, server: subprocess.Popen, flood: int, username_bytes: int) -> None:
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        before = rss_mib(workers)
        body_head = b'{"username": "'
        statuses: Counter = Counter()
        with ThreadPoolExecutor(8) as pool:
            for status in pool.map(
                lambda n: request(
                    port,
                    "POST",
                    "/api/v1/auth/token/",
                    body_head + f"{n}-".encode() + b"x" * username_bytes + b'", "password": "x"}',
                ),
                range(flood),
            ):
                statuses[status] += 1
        after = rss_mib(workers)
        self.stdout.write(
            f"token flood: {flood} anonymous requests with {username_bytes:,}-byte usernames: statuses "
            f"{dict(statuses)}; server workers' memory {before:.0f} MiB before, {after:.0f} MiB after"
        )
