"""The bulk import (cases.imports, issue 16 point 5): many documents written each kind of row at once, with the same
cases, rows, history and derived measures as the edit service writes one document at a time, in a number of queries
that does not grow with the documents."""

from __future__ import annotations

import json

import pytest

from cases import warnings
from cases.document import ImportFailed, export_documents, import_cases
from cases.duplicates import case_duplicates, duplicate_warnings
from cases.history import HISTORY_MODELS
from cases.management.commands.benchmark import write_document
from cases.models import DERIVED_FIELDS, INTERVENTION_DERIVED_FIELDS, Case, Intervention, Source
from cases.warnings import CaseWarning
from tests.api.documents import make_document
from tests.api.test_dose_steps import titrated
from tests.api.test_episodes import HYPER, two_episode_document
from tests.api.test_timing_anchors import document as anchored_document
from tests.api.test_timing_anchors import drug
from tests.factories import make_agent
from tests.queries import queries_of

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
# Owned by the server and different for every write: the ids (the case's registry id, each row's) and timestamps.
NOT_COMPARED = {"id", "created_at", "updated_at"}


def varied_documents() -> list[dict]:
    """The seed cases as exported (their sources matched by DOI or title), and synthetic cases with what a document
    can hold besides: two episodes with their mechanisms, rows timed from an intervention along a chain (an
    intervention, a metastasis, a finding, a lab), dose steps, labs following interventions, a 27-row case."""
    exported = json.loads(json.dumps(export_documents(Case.objects.order_by("pk"))))
    interventions = [drug("drug A", 3, 2), drug("drug B", 4, anchor_intervention_index=0, anchor_offset_days=7)]
    anchored = anchored_document(
        interventions,
        findings=[{"label": "Tetany", "sequence": 6, "anchor_intervention_index": 1, "anchor_offset_days": 3}],
        metastases=[{"site": "bone", "sequence": 1, "anchor_intervention_index": 0, "anchor_offset_days": -14}],
    )
    source = Source.objects.create(kind="case_report", citation="Roe R. Bulk. 2021.", title="Bulk", year=2021)
    # The first episode's mechanisms at the top too, as an export gives them (an import reads no top-level
    # mechanisms as none: tests/api/test_episodes.py imports an exported one).
    episodes = two_episode_document(mechanisms=HYPER["mechanisms"])
    documents = [*exported, episodes, anchored, titrated(), write_document(source.pk), make_document()]
    return [{**d, "confirm": ["duplicate"]} for d in documents]  # the seed cases are there already


def without_ids(value):
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in NOT_COMPARED}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def history_of(case: Case) -> dict[str, list]:
    """Every history record of the case and its rows: per kind of row, per row (in insert order) its records in
    order, with the ids of the case and of its rows replaced by their positions."""
    positions: dict[tuple[str, int], int] = {}
    for model in HISTORY_MODELS:
        for n, pk in enumerate(model.objects.filter(case=case).order_by("pk").values_list("pk", flat=True)):
            positions[(model._meta.label, pk)] = n
    records: dict[str, list] = {}
    for model in (Case, *HISTORY_MODELS):
        history = model.history.filter(**{"id" if model is Case else "case_id": case.pk}).order_by("history_id")
        for record in history:
            values = {}
            for field in model.history.model._meta.concrete_fields:
                if field.name in NOT_COMPARED | {"history_id", "history_date", "case"}:
                    continue
                value = getattr(record, field.attname)
                related = getattr(field, "related_model", None)
                if related is not None and value is not None and related in HISTORY_MODELS:
                    value = ("position", positions.get((related._meta.label, value)))
                values[field.attname] = value
            row = positions.get((model._meta.label, record.id), 0) if model is not Case else 0
            records.setdefault(model._meta.label, []).append((row, values))
    return {label: [values for _, values in sorted(rows, key=lambda r: r[0])] for label, rows in records.items()}


def stored_derived(case: Case) -> tuple:
    return (
        Case.objects.filter(pk=case.pk).values_list(*DERIVED_FIELDS).get(),
        list(Intervention.objects.filter(case=case).order_by("pk").values_list(*INTERVENTION_DERIVED_FIELDS)),
    )


def test_a_bulk_import_writes_what_the_documents_written_one_by_one_write(source_cases, curator):
    make_agent()  # the two-episode case's drug
    documents = varied_documents()
    bulk, sql = queries_of(lambda: import_cases(documents, user=curator.user))
    assert not [q for q in sql if q.startswith("ROLLBACK TO SAVEPOINT")]  # written in bulk, not one by one
    one_by_one = import_cases(documents, user=curator.user, in_bulk=False)
    assert len(bulk) == len(one_by_one) == len(documents)
    for a, b in zip(bulk, one_by_one, strict=True):
        served = [curator.get(f"{CASES}{case.registry_id}/") for case in (a, b)]
        assert [r.status_code for r in served] == [200, 200]
        assert without_ids(served[0].json()) == without_ids(served[1].json()), a.title
        assert stored_derived(a) == stored_derived(b)
        assert history_of(a) == history_of(b), a.title
    history = history_of(bulk[-4])  # the anchored case: rows inserted, then linked to their intervention ("~")
    timing = {
        kind: [(r["history_type"], r["day"], r["anchor_id"]) for r in history[kind]]
        for kind in ("cases.Intervention", "cases.Metastasis", "cases.LabResult")
    }
    assert timing["cases.Intervention"] == [("+", 2, None), ("+", 9, None), ("~", 9, ("position", 0))]
    assert timing["cases.Metastasis"] == [("+", -12, None), ("~", -12, ("position", 0))]
    assert timing["cases.LabResult"] == [("+", 0, None), ("+", 39, ("position", 1))]  # written after them
    assert {r["history_change_reason"] for rows in history.values() for r in rows} == {"Imported from JSON"}
    assert {r["history_user_id"] for rows in history.values() for r in rows} == {curator.user.pk}


def test_the_queries_of_a_bulk_import_do_not_grow_with_its_documents(curator):
    """2 or 6 documents: the same 28 queries, each once. Every source of the import locked in id order before any
    write (cases.duplicates.hold_duplicate_locks: two imports never lock in opposite orders); the savepoints of the
    import and of its bulk attempt (2 + 2 releases); the agents and the sources the documents name; the cases and
    their history rows (2); per kind of row written, its INSERT and its history's (episodes, tumors, metastases,
    mechanisms, findings, interventions, labs, lab links: 16; no dose steps nor anchors here); the sources locked
    again and the likely duplicates (2); the derived measures of the cases and of the interventions (2; an UPDATE
    per 100 rows). A document that gives its source as an object, not by id, adds the lookup of its paper
    (cases.document._source_for)."""
    make_agent()
    source = Source.objects.create(kind="case_report", citation="Roe R. Bulk. 2021.", title="Bulk", year=2021)

    def documents(n: int) -> list[dict]:
        return [{**write_document(source.pk), "title": f"Case {i}"} for i in range(n)]

    counts = {}
    for n in (2, 6):
        cases, sql = queries_of(lambda n=n: import_cases(documents(n), user=curator.user))
        assert len(cases) == n
        counts[n] = len(statements(sql))
    assert counts[2] == counts[6] == 28, counts


def statements(sql: list[str]) -> list[str]:
    """The queries, an INSERT split in batches counted once: Django splits one on SQLite every 999 parameters (84
    labs of the 6 documents' 84 here take two), the import on PostgreSQL every 65,535 (cases.imports._batch)."""
    out: list[str] = []
    for query in sql:
        key = query.split(" (", 1)[0] if query.startswith("INSERT INTO") else query
        if not (query.startswith("INSERT INTO") and out and out[-1] == key):
            out.append(key)
    return out


def test_a_warning_not_confirmed_is_named_as_before_and_nothing_is_written(curator):
    """The bulk attempt leaves it to the documents written one by one: the second of two identical documents is a
    likely duplicate of the first, named with its document."""
    source = Source.objects.create(kind="case_report", citation="Roe R. Bulk. 2021.", title="Bulk", year=2021)
    document = {k: v for k, v in write_document(source.pk).items() if k != "confirm"}
    with pytest.raises(ImportFailed) as raised:
        import_cases([document, document], user=curator.user)
    [error] = raised.value.errors
    assert error.startswith("case 2 (benchmark case (writes)): duplicate: Likely a duplicate of CCR-")
    assert Case.objects.count() == 0


def test_the_duplicates_of_many_cases_are_those_each_case_has(curator):
    """cases.duplicates.duplicate_warnings (two queries for all the cases) finds what case_duplicates finds for each
    case: the same source and disorder, or a source of the same DOI (in any case of letters); the same age
    and sex. A case of the batch is compared with the cases before it only (created in turn)."""

    def source(n: int, **fields) -> Source:
        return Source.objects.create(kind="case_report", citation=f"Doe J. {n}.", title=f"Paper {n}", **fields)

    s1, s2, s3 = source(1, doi="10.1/ABC"), source(2, doi="10.1/abc"), source(3, pmid="123")  # PMIDs are unique

    def case(src: Source, age: int = 60, disorder: str = "hypercalcemia") -> Case:
        return Case.objects.create(source=src, title="T", disorder=disorder, age_years=age, sex="female")

    for src, age, disorder in [(s2, 60, "hypocalcemia"), (s1, 61, "hypercalcemia"), (s3, 60, "hypercalcemia")]:
        case(src, age, disorder)
    batch = [case(s1), case(s3), case(s1), case(s3, age=70), case(s2, disorder="hypocalcemia")]
    found = duplicate_warnings(batch)
    for n, c in enumerate(batch):
        later = {b.pk for b in batch[n + 1 :]}
        expected = [d.registry_id for d in case_duplicates(c) if d.pk not in later]
        message = found[c.pk][0].message.split(":")[0] if c.pk in found else ""
        assert message == (f"Likely a duplicate of {', '.join(expected)}" if expected else ""), n
    assert [len(found.get(c.pk, [])) for c in batch] == [1, 1, 1, 0, 1]


def test_a_registered_warning_is_asked_of_each_case_in_bulk_too(curator):
    """The warning checks (cases.warnings) run on every case of a bulk import as it was created: one not confirmed
    sends the import back to the documents one by one, which name it; confirmed, the bulk write stands."""
    source = Source.objects.create(kind="case_report", citation="Roe R. Bulk. 2021.", title="Bulk", year=2021)
    documents = [{**write_document(source.pk), "title": title} for title in ("A", "B")]

    def odd_title(case: Case) -> list[CaseWarning]:
        return [CaseWarning("title", "An odd title.")] if case.title == "B" else []

    with warnings.registered(odd_title):
        with pytest.raises(ImportFailed) as raised:
            import_cases(documents, user=curator.user)
        assert raised.value.errors == [
            'case 2 (B): title: An odd title. If this is right, send the case again with "title" in its "confirm" list.'
        ]
        assert Case.objects.count() == 0
        documents[1]["confirm"] = [*documents[1]["confirm"], "title"]
        cases, sql = queries_of(lambda: import_cases(documents, user=curator.user))
    assert [c.title for c in cases] == ["A", "B"]
    assert not [q for q in sql if q.startswith("ROLLBACK TO SAVEPOINT")]


def test_a_doi_is_compared_as_the_database_upper_cases_it(curator):
    """Python's upper() is not the database's ('ß' -> 'SS' in Python only): the bulk check upper-cases DOIs in the
    database on both sides, so it finds what case_duplicates' iexact finds."""
    a = Source.objects.create(kind="case_report", citation="Doe J. A.", title="A", doi="10.1000/straße")
    b = Source.objects.create(kind="case_report", citation="Doe J. B.", title="B", doi="10.1000/STRAßE")
    earlier = Case.objects.create(source=a, title="T", disorder="hypercalcemia", age_years=60, sex="female")
    new = Case.objects.create(source=b, title="T", disorder="hypercalcemia", age_years=60, sex="female")
    assert case_duplicates(new) == [earlier]
    assert duplicate_warnings([new])[new.pk][0].message.startswith(f"Likely a duplicate of {earlier.registry_id}:")


@pytest.mark.parametrize("source_id", [2**63, -(2**63) - 1, 10**40])
def test_a_source_id_no_database_integer_holds_is_named_not_raised(curator, source_id):
    document = {**write_document(0), "source_id": source_id}
    with pytest.raises(ImportFailed) as raised:
        import_cases([document], user=curator.user)
    assert [e.split(":")[:2] for e in raised.value.errors] == [["case 1 (benchmark case (writes))", " source_id"]]
    assert Case.objects.count() == 0


def test_one_mechanism_in_two_episodes_is_imported_in_bulk(curator):
    """The same mechanism in two episodes is one per episode: the bulk path's check, run before the episodes have
    ids, tells them apart and does not send the import to the documents one by one."""
    make_agent()
    calcitriol = {**HYPER, "sequence": 9, "day": 40, "quote": "calcitriol-mediated again"}
    document = two_episode_document(
        episodes=[HYPER, {**two_episode_document()["episodes"][1]}, calcitriol], mechanisms=HYPER["mechanisms"]
    )
    cases, sql = queries_of(lambda: import_cases([document], user=curator.user))
    assert not [q for q in sql if q.startswith("ROLLBACK TO SAVEPOINT")]  # written in bulk
    codes = [
        [m["code"] for m in e["mechanisms"]] for e in curator.get(f"{CASES}{cases[0].registry_id}/").json()["episodes"]
    ]
    assert codes == [["calcitriol_mediated"], ["drug_related"], ["calcitriol_mediated"]]
