"""Conditional GET: ETags on the case list and `If-None-Match` answered with 304 Not Modified.

A case's own ETag is its version ("v3", see api.views.etag). A list's is a weak ETag fingerprinting the filtered
cases in one aggregate query: their number, the highest id, the sum of their versions (every change of a case
raises its version), the latest change of a case and of its source. Any visible case that changes, appears or
disappears changes it; the page, ordering and `fields` are part of the URL a client revalidates.
"""

from __future__ import annotations

import hashlib

from django.db.models import Count, Max, QuerySet, Sum
from rest_framework import status
from rest_framework.response import Response


def list_etag(cases: QuerySet) -> tuple[str, int]:
    """The list's weak ETag and the number of cases it counted: the same aggregate gives the page's `count`, so the
    list asks the database to walk the filtered cases once, not twice (~30 ms at 100,000 cases)."""
    state = cases.order_by().aggregate(
        n=Count("pk"),
        top=Max("pk"),
        versions=Sum("version"),
        changed=Max("updated_at"),
        source_changed=Max("source__updated_at"),
    )
    text = "|".join(str(state[key]) for key in ("n", "top", "versions", "changed", "source_changed"))
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:20]}"', state["n"]


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(request, tag: str) -> Response | None:
    """A 304 when If-None-Match names the tag (weak comparison, RFC 9110 13.1.2; `*` matches any), else None."""
    header = request.headers.get("If-None-Match")
    if not header:
        return None
    sent = {_opaque(t) for t in header.split(",")}
    if "*" in sent or _opaque(tag) in sent:
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return None
