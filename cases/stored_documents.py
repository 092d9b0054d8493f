"""Each case's whole document kept as the JSON bytes the API serves, so that reading one case is one query (issue 16:
rendering a 27-row case takes ten queries and ~15 ms at 100,000 cases; its stored bytes come with the case's row).

A stored document is a copy, never the record: it is served only while its key is the key the case's inputs give
now, and rendered again (and stored over the old one) on the first read after any of them changed. The key is:
- the case's version: every write of a case or of its rows goes through the edit service or a transition
  (cases.services), which raise it;
- ReferenceChanges.changes: raised in the same transaction as every save or delete of the other tables a document
  shows (REFERENCE_MODELS: its source, its agents, its users' names, the analytes behind a lab's conversions and
  interpretation), and by cases_refresh_derived (which rewrites the derived block without a new version);
- the analyte registry's stamp: the in-process copy of the analytes the document was rendered with
  (cases.analytes; a change reaches other processes through it, after its commit);
- the rendering code: a fingerprint of cases/ (its migrations included) and of the settings and libraries that
  shape the JSON, so that a deploy does not serve documents an older version of the code rendered; `migrate`
  also counts as a reference change (a migration may rewrite rows of any app).

Each part is read before the data it stands for (the counter with the case's row, the analytes' stamp with the
copy itself), so a change committed during a read can only make a stored key old, never make old data current.
Writes that bypass all this (QuerySet.update or raw SQL on a reference table, or on a case or its rows outside the
edit service) would go unseen: the registry makes none; whoever does must call reference_changed() after, as
cases_refresh_derived does. tests/cases/test_stored_documents.py changes every input named here.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import django
import rest_framework
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, QuerySet, Subquery
from django.db.models.signals import post_delete, post_migrate, post_save
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from . import analytes, reading
from .models import Agent, Case, ReferenceChanges, Source, StoredDocument

# The tables a case document reads besides the case and its rows (cases.reading's columns across foreign keys, and
# the analyte table behind a lab's LOINC code, conversions and interpretation).
REFERENCE_MODELS = (Source, Agent, analytes.Analyte, analytes.AnalyteLoinc, settings.AUTH_USER_MODEL)
USER_FIELDS_SHOWN = {"username"}  # created_by / updated_by in the document; a login's last_login changes nothing


@functools.cache
def code_fingerprint() -> str:
    """The rendering code's fingerprint: the case documents are built in cases/ by DRF's fields, and dates follow
    the time zone."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):  # its migrations too: a data migration may rewrite cases
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    digest.update(repr((django.__version__, rest_framework.VERSION, settings.TIME_ZONE, settings.USE_TZ)).encode())
    digest.update(repr(sorted(api_settings.user_settings.items())).encode())
    return digest.hexdigest()[:16]


def key(version: int, reference_changes: int | None, analytes_stamp: str | None) -> str | None:
    """The key of a document rendered from these inputs; None when the counter's row is missing (a flushed
    database): nothing is stored or served until a write creates it again."""
    if reference_changes is None or analytes_stamp is None:
        return None
    return f"v{version}.r{reference_changes}.a{analytes_stamp}.c{code_fingerprint()}"


def case_states(cases: QuerySet[Case]) -> QuerySet:
    """The cases as rows of what serving their stored documents needs: id, version, the stored document's key and
    body, and the counter of reference changes (read with them). A page is cut from these instead of the cases'
    own rows (documents_json)."""
    return cases.values(
        "id",
        "version",
        stored_key=F("stored_document__key"),
        stored_body=F("stored_document__body"),
        reference_changes=Subquery(ReferenceChanges.objects.filter(pk=1).values("changes")),
    )


def _current_body(state: dict, analytes_stamp: str | None) -> bytes | None:
    current = key(state["version"], state["reference_changes"], analytes_stamp)
    return bytes(state["stored_body"]) if current is not None and state["stored_key"] == current else None


def case_state(cases: QuerySet[Case]) -> dict | None:
    """The case in `cases` (filter it to one, and to what the reader may see): its case_states row, with its stored
    document as `body` (None when there is none or it is not current). One query."""
    row = case_states(cases.order_by()).first()
    if row is None:
        return None
    row["body"] = _current_body(row, analytes.current_stamp())
    return row


def case_json(cases: QuerySet[Case], state: dict) -> tuple[int, bytes] | None:
    """The version and JSON document of the case `case_state(cases)` found: the stored one when it is current,
    else rendered from the case as it is now (None if it has just gone) and stored."""
    if state["body"] is not None:
        return state["version"], state["body"]
    rendered = _render_and_store(cases, state["reference_changes"])
    return next(iter(rendered.values()), None)


def documents_json(cases: QuerySet[Case], states: list[dict]) -> list[bytes]:
    """The JSON documents of a page of `cases` (`states`: case_states rows, in the page's order): each stored one
    that is current as it is, the others rendered together (cases.reading: one query per kind of row) and stored
    (one upsert). A case gone meanwhile is left out."""
    stamp = analytes.current_stamp()
    bodies = {state["id"]: _current_body(state, stamp) for state in states}
    missing = [pk for pk, body in bodies.items() if body is None]
    if missing:
        # The counter as read with the page (the same subquery for every row of it).
        rendered = _render_and_store(cases.filter(pk__in=missing), states[0]["reference_changes"])
        bodies.update({pk: body for pk, (_, body) in rendered.items()})
    return [body for state in states if (body := bodies.get(state["id"])) is not None]


def _render_and_store(cases: QuerySet[Case], reference_changes: int | None) -> dict[int, tuple[int, bytes]]:
    """{case id: (version, JSON document)} of `cases` rendered as they are now, each stored under its key: the
    counter as read before their rows (a change since makes the key old, not wrong) and the analytes as used."""
    stamp = analytes.current_stamp()  # the analytes the documents are rendered with
    rows = list(reading.case_rows(cases.order_by()))
    rendered = {
        row["id"]: (row["version"], JSONRenderer().render(document))
        for row, document in zip(rows, reading.render(rows), strict=True)
    }
    keys = {pk: key(version, reference_changes, stamp) for pk, (version, _) in rendered.items()}
    if rendered and None not in keys.values() and analytes.current_stamp() == stamp:
        # In id order: two requests storing overlapping pages (another order, another size) lock the rows in the
        # same order, so neither waits for the other in a cycle (a deadlock, which PostgreSQL ends with an error).
        _store([StoredDocument(case_id=pk, key=keys[pk], body=body) for pk, (_, body) in sorted(rendered.items())])
    return rendered


def _store(documents: list[StoredDocument]) -> None:
    try:
        with transaction.atomic():
            StoredDocument.objects.bulk_create(
                documents, update_conflicts=True, unique_fields=["case"], update_fields=["key", "body"]
            )
    except IntegrityError:
        pass  # a case was deleted meanwhile: the documents are stored on a later read


def reference_changed(sender=None, update_fields=None, **kwargs) -> None:
    """Count a write that may change documents (a signal receiver; also called by cases_refresh_derived)."""
    if sender is not None and sender._meta.label == settings.AUTH_USER_MODEL:
        if update_fields is not None and not USER_FIELDS_SHOWN & set(update_fields):
            return
    if ReferenceChanges.objects.filter(pk=1).update(changes=F("changes") + 1):
        return
    _, created = ReferenceChanges.objects.get_or_create(pk=1, defaults={"changes": 1})
    if not created:  # another write created it meanwhile: this one counts too
        ReferenceChanges.objects.filter(pk=1).update(changes=F("changes") + 1)


def migrated(using="default", **kwargs) -> None:
    if ReferenceChanges._meta.db_table in connections[using].introspection.table_names():  # else: before 0016
        reference_changed()


def install() -> None:
    post_migrate.connect(migrated, sender=apps.get_app_config("cases"), dispatch_uid="stored-documents-migrated")
    for model in REFERENCE_MODELS:
        name = model if isinstance(model, str) else model._meta.label
        post_save.connect(reference_changed, sender=model, dispatch_uid=f"stored-documents-save-{name}")
        post_delete.connect(reference_changed, sender=model, dispatch_uid=f"stored-documents-delete-{name}")
