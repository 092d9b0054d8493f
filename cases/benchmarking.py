"""The benchmark's synthetic registry and its baselines (manage.py benchmark; issue 16).

The registry: every case has 27 rows, the shape of the issue's registry (1 tumor, 2 metastases, 1 mechanism,
3 findings, 4 interventions, 16 labs: 14 total calcium and 2 albumin). Case i varies with i modulo 50 (age),
2 (sex), 4 (tumor site), 3 (mechanism) and 7 (calcium values), so case i has exactly the content of case
i % PERIOD. The first PERIOD cases are written with bulk_create and get their derived measures from
cases_refresh_derived (the registry's own code); every later case is a copy of its prototype's stored rows,
derived columns included, written with COPY on PostgreSQL (bulk_create in batches elsewhere). Timestamps and
the version are the prototype's.

The baselines are hand-written SQL on the same tables; each says what it returns next to it.
"""

# ruff: noqa: S608 (the SQL is built from model metadata and constants, never from input)

from __future__ import annotations

import math
from decimal import Decimal

from django.db import connection, models

from .models import (
    Case,
    DoseStep,
    Episode,
    Finding,
    Intervention,
    LabFollows,
    LabResult,
    Mechanism,
    Metastasis,
    Source,
    Tumor,
)
from .services import cases_refresh_derived

MECHANISMS = ["humoral_pthrp", "local_osteolytic", "calcitriol_mediated"]
SITES = ["breast", "lung", "kidney", "prostate"]
PERIOD = math.lcm(50, 2, 4, 3, 7)  # 2,100 distinct cases
# None names another here (no row is timed from an intervention: clone() copies the columns as they are)...
CHILDREN = [Episode, Tumor, Metastasis, Mechanism, Finding, Intervention, LabResult]
# ... these do: the rows of the case they name by their foreign keys (attname -> model), given new ids by clone().
LINKS = {
    LabFollows: {"lab_id": LabResult, "intervention_id": Intervention},
    DoseStep: {"intervention_id": Intervention},
}
ANCHORED = [Metastasis, Finding, Intervention, LabResult]  # rows that may be timed from an intervention
RELATIONS = ["tumors", "metastases", "mechanisms", "findings", "interventions", "labs"]
ROWS_PER_CASE = 27


def synthetic_case(source: Source, i: int) -> tuple[Case, dict[type, list]]:
    case = Case(
        source=source,
        title=f"benchmark case {i}",
        disorder="hypercalcemia",
        age_years=40 + i % 50,
        sex="female" if i % 2 else "male",
        index_event="presentation",
    )
    labs = [
        LabResult(
            sequence=10 + k,
            day=k,
            analyte="calcium_total",
            unit="mg/dL",
            value=Decimal(14) - Decimal(k) / 4 + Decimal(i % 7) / 10,
            ref_low=Decimal("8.5"),
            ref_high=Decimal("10.2"),
        )
        for k in range(14)
    ] + [
        LabResult(sequence=30 + k, day=7 * k, analyte="albumin", unit="g/dL", value=Decimal("3.1") + k)
        for k in range(2)
    ]
    rows = {
        Episode: [Episode(sequence=1, disorder=case.disorder)],
        Tumor: [Tumor(sequence=1, site=SITES[i % 4], icdo3_topography="C50.9")],
        Metastasis: [Metastasis(sequence=1, site=site, present=True) for site in ("bone", "liver")],
        Mechanism: [Mechanism(rank=1, code=MECHANISMS[i % 3], certainty="probable")],
        Finding: [Finding(sequence=2, day=k, label=f"Finding {k}") for k in range(3)],
        Intervention: [
            Intervention(
                sequence=3 + k,
                day=3 * k,
                category="drug",
                agent_text=f"drug {k}",
                intent="calcium_directed" if k == 0 else "cancer_directed",
                status="administered",
                calcium_response="partial",
            )
            for k in range(4)
        ],
        LabResult: labs,
    }
    return case, rows


def fill(n: int, source: Source) -> list[int]:
    """n synthetic cases; returns their pks in order (case i is pks[i])."""
    first = min(n, PERIOD)
    cases, children = [], {model: [] for model in CHILDREN}
    for i in range(first):
        case, rows = synthetic_case(source, i)
        cases.append(case)
        for model, objs in rows.items():
            for obj in objs:
                obj.case = case
                children[model].append(obj)
    Case.objects.bulk_create(cases, batch_size=2000)
    for model, objs in children.items():
        episode_of = {e.case_id: e.pk for e in children[Episode]}  # written first (CHILDREN)
        for obj in objs:
            obj.case_id = obj.case.pk
            if model is Mechanism:  # the case's one episode
                obj.episode_id = episode_of[obj.case_id]
        model.objects.bulk_create(objs, batch_size=5000)
    prototypes = [c.pk for c in cases]
    cases_refresh_derived(Case.objects.filter(pk__in=prototypes))
    if n > first:
        clone(prototypes, n - first, start=first)
    analyze()
    return list(Case.objects.filter(source=source).order_by("pk").values_list("pk", flat=True))


def analyze() -> None:
    """Planner statistics and the visibility map for the synthetic rows, as autovacuum keeps them in a registry in
    service (this machine's PostgreSQL runs with autovacuum off). Without the visibility map every semi-join on the
    cohort's case ids, and the changelist's COUNT, reads the wide case table instead of an index (an index-only
    scan). VACUUM cannot run inside a transaction (the tests' registries, the benchmark's fill): ANALYZE alone there,
    and the benchmark calls this again once its fill has committed."""
    if connection.vendor != "postgresql":
        return
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for model in (Case, *CHILDREN, LabFollows, DoseStep):
            cursor.execute(f"{verb} {model._meta.db_table}")


def _columns(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _write(model, columns: list[models.Field], rows) -> None:
    """Insert the rows (tuples in the columns' order): COPY on PostgreSQL, bulk_create in batches elsewhere."""
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        json_at = [n for n, f in enumerate(columns) if isinstance(f, models.JSONField)]
        names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    if json_at:
                        row = list(row)
                        for n in json_at:
                            row[n] = None if row[n] is None else Jsonb(row[n])
                    copy.write_row(row)
        return
    batch = []
    for row in rows:
        batch.append(model(**{f.attname: v for f, v in zip(columns, row, strict=True)}))
        if len(batch) == 5000:
            model.objects.bulk_create(batch)
            batch = []
    model.objects.bulk_create(batch)


def clone(prototypes: list[int], count: int, start: int = 0, title: str = "benchmark case {i}") -> int:
    """Write `count` new cases, the k-th a copy of case prototypes[(start + k) % len] with all its rows as stored
    (derived columns included); returns the number of rows written (cases and children)."""
    case_columns = _columns(Case)
    title_at = [f.attname for f in case_columns].index("title")
    stored = {
        row[0]: row[1:]
        for row in Case.objects.filter(pk__in=prototypes).values_list("pk", *[f.attname for f in case_columns])
    }
    (last,) = Case.objects.aggregate(m=models.Max("pk")).values()

    def case_rows():
        for k in range(count):
            row = list(stored[prototypes[(start + k) % len(prototypes)]])
            row[title_at] = title.format(i=start + k)
            yield row

    _write(Case, case_columns, case_rows())
    new = list(Case.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True))
    if len(new) != count:
        raise RuntimeError(f"expected {count} new cases, found {len(new)} (is something else writing?)")
    written = count
    if any(model.objects.filter(case__in=prototypes, anchor__isnull=False).exists() for model in ANCHORED):
        raise RuntimeError("clone() copies no row timed from an intervention: a prototype has one.")
    # Rows that name other rows of their case (a lab's links to interventions, dose steps): written after those,
    # with the copies' ids (the k-th copy's rows were written in the order of its prototype's).
    links = {
        model: list(
            model.objects.filter(case__in=prototypes)
            .order_by("case_id", "pk")
            .values_list(*[f.attname for f in _columns(model)])
        )
        for model in LINKS
    }
    named = {target for model, fields in LINKS.items() if links[model] for target in fields.values()} | {Episode}
    copies: dict[type, dict[tuple[int, int], int]] = {}  # model -> {(k, prototype's row pk): the copy's pk}
    for model in CHILDREN:
        columns = _columns(model)
        case_at = [f.attname for f in columns].index("case_id")
        rows_of: dict[int, list[tuple]] = {}
        for row in (
            model.objects.filter(case__in=prototypes)
            .order_by("case_id", "pk")
            .values_list("pk", *[f.attname for f in columns])
        ):
            rows_of.setdefault(row[1 + case_at], []).append(row)

        episode_at = [f.attname for f in columns].index("episode_id") if model is Mechanism else None

        def child_rows(rows_of=rows_of, case_at=case_at, episode_at=episode_at):
            for k, pk in enumerate(new):
                for _, *row in rows_of.get(prototypes[(start + k) % len(prototypes)], []):
                    row[case_at] = pk
                    if episode_at is not None:  # the copy's episode
                        row[episode_at] = copies[Episode][(k, row[episode_at])]
                    yield row

        (before,) = model.objects.aggregate(m=models.Max("pk")).values()
        before = before or 0
        _write(model, columns, child_rows())
        pks = list(model.objects.filter(pk__gt=before).order_by("pk").values_list("pk", flat=True))
        written += len(pks)
        if model in named:
            prototype_pks = (
                (k, row[0]) for k in range(count) for row in rows_of.get(prototypes[(start + k) % len(prototypes)], [])
            )
            copies[model] = dict(zip(prototype_pks, pks, strict=True))
    for model, fields in LINKS.items():
        columns = _columns(model)
        at = {f.attname: n for n, f in enumerate(columns)}
        links_of: dict[int, list[tuple]] = {}
        for row in links[model]:
            links_of.setdefault(row[at["case_id"]], []).append(row)

        def link_rows(model=model, fields=fields, at=at, links_of=links_of):
            for k, pk in enumerate(new):
                for row in links_of.get(prototypes[(start + k) % len(prototypes)], []):
                    row = list(row)
                    row[at["case_id"]] = pk
                    for attname, target in fields.items():
                        row[at[attname]] = copies[target][(k, row[at[attname]])]
                    yield row

        before = model.objects.count()
        _write(model, columns, link_rows())
        written += model.objects.count() - before
    return written


# --- Baselines: hand-written SQL on the same tables (PostgreSQL) ----------------------------------------------


def _t(model) -> str:
    return model._meta.db_table


def _children_json(case_alias: str) -> str:
    """Each kind of row of the case as a JSON array of whole rows (every column) in the API's order."""
    parts = []
    for relation, model, order in (
        ("tumors", Tumor, "sequence, id"),
        ("metastases", Metastasis, "sequence, id"),
        ("mechanisms", Mechanism, "rank, id"),
        ("findings", Finding, "sequence, id"),
        ("labs", LabResult, "sequence, id"),
    ):
        parts.append(
            f"'{relation}', (SELECT coalesce(json_agg(r ORDER BY {order}), '[]') FROM {_t(model)} r "
            f"WHERE r.case_id = {case_alias}.id)"
        )
    parts.append(
        f"'interventions', (SELECT coalesce(json_agg(r ORDER BY r.sequence, r.id), '[]') FROM "
        f"(SELECT i.*, a.code AS agent_code, a.name AS agent_name FROM {_t(Intervention)} i "
        f"LEFT JOIN cases_agent a ON a.id = i.agent_id WHERE i.case_id = {case_alias}.id) r)"
    )
    return ", ".join(parts)


# The registry's case document, as the database gives it: the case row (every column), its source row, the
# usernames, each kind of row as whole rows in the API's order, and the stored derived block. What the baseline
# leaves out: the API's renaming and nesting of fields (patient, outcome), the labs' conversions (si,
# conventional) and interpretation, the HPO/LOINC codes, and the permission and filter logic. Same cases, same
# order, same nested rows.
CASE_DOCUMENT = f"""
    json_build_object(
        'case', to_jsonb(c) - 'derived_json',
        'source', to_jsonb(s) - 'text',
        'created_by', cu.username,
        'updated_by', uu.username,
        {_children_json("c")},
        'derived', c.derived_json
    )"""
CASE_FROM = f"""
    {_t(Case)} c JOIN {_t(Source)} s ON s.id = c.source_id
    LEFT JOIN auth_user cu ON cu.id = c.created_by_id LEFT JOIN auth_user uu ON uu.id = c.updated_by_id"""

# A page of the case list (the reviewer's: every case, in id order), with the count, as one JSON text.
LIST_PAGE = f"""
SELECT json_build_object('count', (SELECT count(*) FROM {_t(Case)}), 'results', coalesce(json_agg(doc), '[]'))::text
FROM (SELECT {CASE_DOCUMENT} AS doc FROM {CASE_FROM} ORDER BY c.id LIMIT %s OFFSET %s) page"""
# The same, a keyset page: the cases after an id.
LIST_AFTER = f"""
SELECT json_build_object('count', (SELECT count(*) FROM {_t(Case)}), 'results', coalesce(json_agg(doc), '[]'))::text
FROM (SELECT {CASE_DOCUMENT} AS doc FROM {CASE_FROM} WHERE c.id > %s ORDER BY c.id LIMIT %s) page"""
ONE_CASE = f"SELECT {CASE_DOCUMENT}::text FROM {CASE_FROM} WHERE c.id = %s"


def _counts(table: str, column: str, of: str = "id", where: str = "TRUE") -> str:
    return (
        f"(SELECT json_object_agg(coalesce(nullif(k::text, ''), 'none'), n) FROM "
        f"(SELECT {column} AS k, count(DISTINCT {of}) AS n FROM {table} WHERE {where} GROUP BY 1) x)"
    )


def _quartiles(column: str) -> str:
    return (
        f"(SELECT json_build_object('n', count({column}), 'min', min({column}), 'max', max({column}), "
        f"'q', percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY {column})) FROM {_t(Case)})"
    )


# analytics/summary/: the same counts and distributions over every case (the reviewer's unfiltered cohort).
SUMMARY = f"""
SELECT json_build_object(
    'cases', (SELECT count(*) FROM {_t(Case)}),
    'by_disorder', {_counts(_t(Case), "disorder")},
    'by_main_mechanism', {_counts(_t(Case), "main_mechanism")},
    'by_mechanism', {_counts(_t(Mechanism), "code", "case_id", "certainty <> 'excluded'")},
    'by_tumor_site', {_counts(_t(Tumor), "site", "case_id")},
    'by_receptor_status', json_build_object(
        'er', {_counts(_t(Tumor), "er", "case_id")}, 'pr', {_counts(_t(Tumor), "pr", "case_id")},
        'her2', {_counts(_t(Tumor), "her2", "case_id")},
        'hormone_receptor', {_counts(_t(Tumor), "hormone_receptor", "case_id")}),
    'by_ctcae_grade', {_counts(_t(Case), "peak_ctcae_grade")},
    'by_mechanism_agreement', {_counts(_t(Case), "mechanism_agreement")},
    'age', {_quartiles("age_years")},
    'bands', (SELECT json_build_array(count(*) FILTER (WHERE age_years < 18), count(*) FILTER (WHERE age_years
        BETWEEN 18 AND 39), count(*) FILTER (WHERE age_years BETWEEN 40 AND 49), count(*) FILTER (WHERE age_years
        BETWEEN 50 AND 59), count(*) FILTER (WHERE age_years BETWEEN 60 AND 69), count(*) FILTER (WHERE age_years
        BETWEEN 70 AND 79), count(*) FILTER (WHERE age_years BETWEEN 80 AND 89), count(*) FILTER (WHERE age_years
        >= 90)) FROM {_t(Case)}),
    'peak_calcium', {_quartiles("peak_calcium_mg_dl")}
)::text"""

_RESPONSES = ", ".join(
    f"count(*) FILTER (WHERE status = 'administered' AND calcium_response = '{r}')"
    for r in ("normalised", "partial", "transient", "none", "not_assessed")
)
_MEDIANS = """percentile_cont(0.5) WITHIN GROUP (ORDER BY calcium_before_mg_dl),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY calcium_after_mg_dl),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY calcium_after_mg_dl - calcium_before_mg_dl),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN calcium_normal_after THEN days_to_calcium_after END)"""


def _intervention_group(key: str, join: str = "") -> str:
    return f"""SELECT {key}, count(DISTINCT i.case_id), count(*) FILTER (WHERE status = 'administered'),
    count(*) FILTER (WHERE status = 'recommended'), count(*) FILTER (WHERE status = 'advised_against'),
    count(*) FILTER (WHERE status = 'administered' AND calcium_before_mg_dl IS NOT NULL
        AND calcium_after_mg_dl IS NOT NULL), {_RESPONSES}, {_MEDIANS}
    FROM {_t(Intervention)} i {join} GROUP BY 1 ORDER BY 1"""


# analytics/interventions/: the three tables (per agent with its name and ATC code, per drug class, per intent),
# the same counts and medians over every case's interventions.
INTERVENTIONS = [
    _intervention_group("a.code, max(a.name), max(a.atc_code)", "LEFT JOIN cases_agent a ON a.id = i.agent_id").replace(
        "GROUP BY 1 ORDER BY 1", "GROUP BY a.code ORDER BY a.code"
    ),
    _intervention_group("nullif(a.drug_class, '')", "LEFT JOIN cases_agent a ON a.id = i.agent_id"),
    _intervention_group("intent"),
]

# analytics/trajectories/ (one page, the first 500 cases by id): per case its calcium values and its
# administered interventions' spans, day-shifted to the first calcium-directed one. Leaves out the albumin
# correction and censoring the registry applies (measures.calcium_points).
TRAJECTORIES = f"""
SELECT json_agg(t ORDER BY t.id)::text FROM (
    SELECT c.id, c.title, c.main_mechanism,
        (SELECT json_agg(json_build_object('day', l.day - a.anchor, 'sequence', l.sequence, 'value', l.value)
            ORDER BY l.sequence, l.id) FROM {_t(LabResult)} l
            WHERE l.case_id = c.id AND l.analyte IN ('calcium_total', 'calcium_ionized')) AS points,
        (SELECT json_agg(json_build_object('agent', i.agent_text, 'intent', i.intent, 'start_day', i.day - a.anchor,
            'end_day', i.end_day - a.anchor, 'sequence', i.sequence) ORDER BY i.sequence, i.id)
            FROM {_t(Intervention)} i WHERE i.case_id = c.id AND i.status = 'administered') AS spans
    FROM (SELECT id, title, main_mechanism FROM {_t(Case)} ORDER BY id LIMIT 500) c
    LEFT JOIN LATERAL (SELECT min(day) FILTER (WHERE intent = 'calcium_directed') AS anchor FROM {_t(Intervention)}
        WHERE case_id = c.id AND status = 'administered') a ON TRUE
) t"""

# exports/cases.csv and labs.csv: every row of the table with the columns the export reads, straight out of
# COPY. Leaves out the export's formatting (TRUE/FALSE, NA, CURIE prefixes, the labs' conversions).
_CASE_COLUMNS = ", ".join(f"c.{f.column}" for f in _columns(Case) if f.name != "derived_json")  # not read by it
EXPORT_COPIES = {
    "/api/v1/exports/cases.csv": f"COPY (SELECT {_CASE_COLUMNS}, s.citation, s.pmid, s.doi FROM {_t(Case)} c "
    f"JOIN {_t(Source)} s ON s.id = c.source_id ORDER BY c.id) TO STDOUT WITH (FORMAT csv, HEADER)",
    "/api/v1/exports/labs.csv": f"COPY (SELECT * FROM {_t(LabResult)} ORDER BY case_id, sequence, id) "
    "TO STDOUT WITH (FORMAT csv, HEADER)",
}

# The admin changelist's page as the database gives it: the count and the first 100 cases with their source.
ADMIN_CHANGELIST = f"""
SELECT (SELECT count(*) FROM {_t(Case)}), json_agg(p)::text FROM (SELECT c.id, c.title, c.status, c.disorder,
    s.title AS source, c.updated_at FROM {_t(Case)} c JOIN {_t(Source)} s ON s.id = c.source_id
    ORDER BY c.id DESC LIMIT 100) p"""
