"""Counting the queries of one request."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(client, path: str) -> int:
    """Queries of one GET by an API client (a fresh user, as a real request would load)."""
    client.force_authenticate(type(client.user).objects.get(pk=client.user.pk))
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def queries_of(call) -> tuple[object, list[str]]:
    """Run call(); return its result and the SQL of every query it made."""
    with CaptureQueriesContext(connection) as ctx:
        result = call()
    return result, [q["sql"] for q in ctx.captured_queries]
