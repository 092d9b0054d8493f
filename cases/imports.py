"""Many new cases from validated documents at once (issue 16: a JSON import of thousands of cases).

The edit service (cases.services.case_save_document) writes a new case in ~25 round trips: its case row, then each
kind of row with its history rows, the links and dose steps, the anchors, the days timed from an intervention, the
warnings' queries and the derived measures. cases_create_in_bulk writes exactly what it would for each document, but
each kind of row for every document at once: one INSERT of the cases and one of their history rows (a COPY on
PostgreSQL: write_history), then the same per kind of row, and so on, so the number of queries does not grow with the
number of documents (an INSERT is split only past the database's limit of parameters, SQLite's 999 and PostgreSQL's
65,535; an UPDATE of anchors every UPDATE_BATCH rows, of the derived measures every VALUES_BATCH cases on
PostgreSQL). The caller (cases.document.import_cases) hands it 1,000 documents at a time.

It writes what the per-document path writes, in the same order of each case's history: a row is inserted as
case_save_document inserts it ("+"), then updated where that path updates it (an intervention or a metastasis or
finding timed from an intervention gets its anchor afterwards, "~"; a row whose day is computed from its anchor's,
"~"), each attributed to the importing user with the import's reason. The rows are built and validated by the same
code (services._build_rows); anchored days by services.timing_changes; the warnings are the registered checks, the
duplicate check made for many cases at once (cases.duplicates.duplicate_warnings).

What it leaves to the per-document path: a document whose rows break a rule only the writing checks (DocumentError),
that raises a warning it does not confirm, or that the database refuses (the caller rolls the attempt back and
writes the documents one by one, which names the document and the field), and a first episode that would have to
follow the case's disorder (no validated document asks for it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import JSONField
from django.utils import timezone
from simple_history.utils import bulk_update_with_history, get_change_reason_from_object

from . import warnings
from .duplicates import duplicate_warning, duplicate_warnings
from .models import (
    DERIVED_FIELDS,
    INTERVENTION_DERIVED_FIELDS,
    Case,
    DoseStep,
    Finding,
    Intervention,
    LabFollows,
    Metastasis,
    deidentified_age,
)
from .rows import ROW_KINDS, WRITE_ORDER
from .services import (
    ANCHORED,
    _as_created,
    _build_rows,
    created_timings,
    dose_step_rows,
    lab_link_rows,
    timing_changes,
)

POSTGRESQL_PARAMETERS = 65_535
UPDATE_BATCH = 100  # bulk_update writes CASE WHEN id = ... per field: its cost grows with the square of its batch
VALUES_BATCH = 1000  # rows of one UPDATE ... FROM (VALUES ...): 24,000 parameters for the cases' derived fields
ANCHOR_FIELDS = ["anchor", "anchor_offset_days", "anchor_offset_is_approximate"]


class NotInBulk(Exception):
    """Something the bulk path leaves to the per-document path, which names the document and the field."""


@dataclass
class _Document:
    """One document's case and rows, built in memory (services._build_rows) before anything is written."""

    case: Case
    confirm: tuple
    rows: dict[str, list] = field(default_factory=dict)  # relation -> rows, as _sync_rows builds them
    follows: dict[int, list] = field(default_factory=dict)  # a lab's position -> the interventions it follows
    steps: dict[int, list[dict]] = field(default_factory=dict)  # an intervention's position -> its dose steps
    anchors: dict[str, dict] = field(default_factory=dict)  # relation -> _build_rows's anchors
    created: dict[str, list] = field(default_factory=dict)  # what case_edit's `created` holds, for _as_created


def _build(data: dict, *, user, reason: str) -> _Document:
    """What case_save_document's write() does for a new case, without writing (DocumentError as it raises it)."""
    data = dict(data)
    confirm = tuple(data.pop("confirm", None) or ())
    children = {relation: data.pop(relation) for relation in WRITE_ORDER if relation in data}
    if "age_years" in data:
        data["age_years"] = deidentified_age(data["age_years"])
    case = Case()
    # case_edit's part: who creates and edits, recorded with the reason in every history row.
    case.created_by = case.updated_by = case.content_edited_by = user
    case._history_user = user
    case._change_reason = reason or None
    for name, value in data.items():
        setattr(case, name, value)
    case._episodes_written = True
    document = _Document(case, confirm)
    # services._episodes_write for a new case.
    paths = None
    if "episodes" in children:
        sent = [dict(e) for e in children.pop("episodes")]
        mechanisms, paths = [], []
        for i, episode in enumerate(sent):
            for j, m in enumerate(episode.pop("mechanism_rows", None) or []):
                mechanisms.append({**m, "episode_position": i})
                paths.append(f"episodes[{i}].mechanisms[{j}]")
        episodes = _build_rows(case, "episodes", sent, [], {})[0]
        children["mechanisms"] = mechanisms
    else:
        first = {"disorder": case.disorder, "calcium_outcome": case.calcium_outcome}
        episodes = _build_rows(case, "episodes", [first], [], {})[0]
    document.rows["episodes"] = episodes
    interventions: list = []
    for relation in WRITE_ORDER:
        if relation not in children:
            continue
        built, follows, steps, anchors = _build_rows(
            case,
            relation,
            children[relation],
            interventions,
            {},
            episodes,
            paths if relation == "mechanisms" else None,
        )
        document.rows[relation] = built
        document.anchors[relation] = anchors
        if relation == "interventions":
            interventions = built
            document.steps = steps
        if relation == "labs":
            document.follows = follows
    return document


def _batch(model) -> int:
    """The rows of one INSERT of this model and of its history: PostgreSQL takes at most 65,535 parameters in a
    statement (Django splits SQLite's at its 999 itself)."""
    columns = max(len(model._meta.concrete_fields), len(model.history.model._meta.concrete_fields))
    return max(1, POSTGRESQL_PARAMETERS // columns)


def _insert(model, rows: list, user, reason: str | None) -> None:
    """One INSERT of the rows and one of their history rows ("+"), as services._write_rows for new rows (more where
    they have more parameters than a statement takes: _batch)."""
    for row in rows:
        if hasattr(row, "fill_defaults"):
            row.fill_defaults()  # what the model's save() fills in (bulk writes skip save())
    if rows:
        model._default_manager.bulk_create(rows, batch_size=_batch(model))
        write_history(model, rows, user=user, reason=reason)


def write_history(model, rows: list, *, user, reason: str | None) -> None:
    """The "+" history rows of rows just inserted, as simple_history's bulk_history_create records them (the row's
    tracked fields, its _history_user or `user`, its _change_reason or `reason`, the time): on PostgreSQL written
    with COPY (building the historical instances and Django's INSERT of them took over half of the inserting, issue
    16); a history with a JSON field, and SQLite, through bulk_history_create. The COPY is logged as a query."""
    history = model.history.model
    tracked = {f.attname for f in history.tracked_fields}
    columns = [f.attname for f in history._meta.concrete_fields if f.attname != "history_id"]
    special = {"history_date", "history_change_reason", "history_type", "history_user_id"}
    plain = connection.vendor == "postgresql" and not any(isinstance(f, JSONField) for f in history.tracked_fields)
    if not plain or set(columns) - tracked - special:  # e.g. a history_relation: simple_history knows it
        model.history.bulk_history_create(
            rows, batch_size=_batch(model), default_user=user, default_change_reason=reason
        )
        return
    values = []
    for row in rows:
        row_user = getattr(row, "_history_user", user)
        special_values = {
            "history_date": getattr(row, "_history_date", None) or timezone.now(),
            "history_change_reason": get_change_reason_from_object(row) or reason,
            "history_type": "+",
            "history_user_id": row_user.pk if row_user is not None else None,
        }
        values.append(tuple(special_values[name] if name in special else getattr(row, name) for name in columns))
    quote = connection.ops.quote_name
    sql = f"COPY {quote(history._meta.db_table)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    started = time.monotonic()
    # psycopg's COPY, below Django's cursor: its errors made Django's (DataError, IntegrityError) as a query's are.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for record in values:
            copy.write_row(record)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


def _update(model, rows: list, fields: list[str], user, reason: str | None) -> None:
    """One UPDATE per UPDATE_BATCH rows and one INSERT of their history rows ("~")."""
    if rows:
        bulk_update_with_history(
            rows, model, fields, batch_size=UPDATE_BATCH, default_user=user, default_change_reason=reason
        )


def cases_create_in_bulk(documents: list[dict], *, user, reason: str = "") -> list[Case]:
    """Create a new draft case from each validated document (CaseSerializer's validated_data), each kind of row for
    all of them at once, as case_save_document would create them one by one. Call inside transaction.atomic() and
    roll back on NotInBulk, DocumentError or a database error: something was written by then (see the module's
    docstring). Returns the cases with their rows handed over as prefetched, like case_save_document's."""
    reason = reason or None
    built = [_build(data, user=user, reason=reason) for data in documents]
    cases = [d.case for d in built]
    Case.objects.bulk_create(cases, batch_size=_batch(Case))
    write_history(Case, cases, user=user, reason=reason)

    def rows_of(relation: str) -> list:
        return [row for d in built for row in d.rows.get(relation, [])]

    # The kinds in case_save_document's order, the labs after the interventions' dose steps and anchors; the rows
    # point at their case (and a mechanism at its episode) through the objects, whose ids bulk_create has just set.
    for relation in WRITE_ORDER:
        if relation != "labs":
            _insert(ROW_KINDS[relation], rows_of(relation), user, reason)
    steps = []
    for d in built:
        interventions = d.rows.get("interventions", [])
        d.created["dose_steps"] = dose_step_rows(d.case, {interventions[n].pk: s for n, s in d.steps.items()})
        steps.extend(d.created["dose_steps"])
    _insert(DoseStep, steps, user, reason)
    # An intervention timed from another gets its anchor once both have an id (an update, as in _sync_rows).
    timed = _link_anchors(built, "interventions")
    _update(Intervention, timed, ANCHOR_FIELDS, user, reason)
    _insert(ROW_KINDS["labs"], rows_of("labs"), user, reason)
    # services.lab_links_write: a lab's links to the interventions it follows, in (lab, intervention) order.
    links = []
    for d in built:
        labs = d.rows.get("labs", [])
        wanted = {(labs[n].pk, i.pk) for n, followed in d.follows.items() for i in followed}
        d.created["follow_links"] = lab_link_rows(d.case, wanted)
        links.extend(d.created["follow_links"])
    _insert(LabFollows, links, user, reason)
    # Metastases and findings timed from an intervention: linked after the interventions (case_save_document).
    for model, relation in ((Metastasis, "metastases"), (Finding, "findings")):
        _update(model, _link_anchors(built, relation), ANCHOR_FIELDS, user, reason)
    for d in built:
        d.created.update({relation: rows for relation, rows in d.rows.items()})
        _first_episode_follows_case(d)
    _write_days(built, user, reason)
    for d in built:
        _as_created(d.case, d.created)
    _check_warnings(built)
    _store_derived(cases)
    return cases


def _link_anchors(built: list[_Document], relation: str) -> list:
    """Set the anchor of the rows of this kind timed from an intervention (held back by _build_rows until the
    interventions have ids); the rows linked, to update."""
    linked = []
    for d in built:
        rows, interventions = d.rows.get(relation, []), d.rows.get("interventions", [])
        for n, held in d.anchors.get(relation, {}).items():
            if held is not None:
                index, offset, approximate = held
                rows[n].anchor = interventions[index]
                rows[n].anchor_offset_days, rows[n].anchor_offset_is_approximate = offset, approximate
                linked.append(rows[n])
    return linked


def _first_episode_follows_case(d: _Document) -> None:
    """services.first_episode_follows_case for a case just created: its first episode has the case's disorder and
    outcome already (the document's first episode sets them); were it otherwise, the per-document path saves it."""
    first = min(d.created["episodes"], key=lambda e: (e.sequence, e.pk), default=None)
    if first is None or (first.disorder, first.calcium_outcome) != (d.case.disorder, d.case.calcium_outcome):
        raise NotInBulk("the first episode would follow the case")


def _write_days(built: list[_Document], user, reason: str | None) -> None:
    """services.anchored_days_write for every case: the rows whose timing fields change, updated (with their
    history) one statement per kind and set of fields instead of one save each."""
    changed: dict[tuple[str, tuple[str, ...]], list] = {}
    for d in built:
        loaded, found = created_timings(d.created)
        for relation, pk, values in timing_changes(found):
            row = loaded[(relation, pk)]
            for name, value in values.items():
                setattr(row, name, value)
            changed.setdefault((relation, tuple(values)), []).append(row)
    for (relation, fields), rows in changed.items():
        _update(ANCHORED[relation], rows, list(fields), user, reason)


def _check_warnings(built: list[_Document]) -> None:
    """The registered warning checks on every case as created (cases.warnings.unconfirmed), the duplicate check for
    all cases at once; NotInBulk if any is not confirmed (the per-document path then names it)."""
    if not warnings.any_registered(creating=True):
        return
    duplicates = duplicate_warnings([d.case for d in built])
    for d in built:
        answered = {duplicate_warning: duplicates.get(d.case.pk, [])}
        if warnings.unconfirmed(d.case, d.confirm, creating=True, answered=answered):
            raise NotInBulk("a warning to confirm")


def _store_derived(cases: list[Case]) -> None:
    """Case.refresh_derived for every case: one UPDATE per VALUES_BATCH cases, and of the interventions whose
    derived measures are not their (empty) stored ones."""
    changed = [i for case in cases for i in case.compute_derived_changes()]
    update_rows(Case, cases, DERIVED_FIELDS)
    if changed:
        update_rows(Intervention, changed, INTERVENTION_DERIVED_FIELDS)


def update_rows(model, rows: list, fields: list[str]) -> None:
    """Store these fields of the rows: on PostgreSQL one UPDATE ... FROM (VALUES ...) per VALUES_BATCH rows, each value
    cast to its column's type; elsewhere bulk_update (UPDATE_BATCH rows a statement). bulk_update's CASE WHEN id = ...
    per field and row took a third of the writing of 100 cases' 23 derived fields (issue 16), most of it in Python."""
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields, batch_size=UPDATE_BATCH)
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    columns = [model._meta.get_field(name) for name in fields]
    table = quote(model._meta.db_table)
    # Text cast to text, not varchar(n): an explicit cast to varchar(n) would cut a long value where the column's
    # own assignment refuses it, as a plain UPDATE does.
    types = [
        "text" if f.get_internal_type() in ("CharField", "TextField") else f.db_type(connection) for f in (pk, *columns)
    ]
    placeholder = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    names = ", ".join(quote(f.column) for f in (pk, *columns))
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), VALUES_BATCH):
            chunk = rows[start : start + VALUES_BATCH]
            params = [
                value
                for row in chunk
                for value in (row.pk, *(f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns))
            ]
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([placeholder] * len(chunk))}) AS v ({names}) "  # noqa: S608 (names from the models)
                f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}",
                params,
            )
