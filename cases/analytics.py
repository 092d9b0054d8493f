"""Cohort analytics over a (filtered) set of cases, computed in the database.

Counts are GROUP BY queries; medians and quartiles use ROW_NUMBER() windows, so only the rows at the needed
positions leave the database. Quantiles follow the linear-interpolation definition used by pandas and R's
default (type 7). Every function runs a fixed number of queries, whatever the number of cases.
"""

from __future__ import annotations

import math
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, DecimalField, F, Max, Min, Q, QuerySet, Value, When, Window
from django.db.models import Case as Conditional
from django.db.models.functions import NullIf, RowNumber

from . import measures
from .models import Case, Episode, Intervention, LabResult, Mechanism, Tumor, registry_id
from .vocabularies import CalciumResponse, InterventionStatus, ReceptorStatus

QUARTILES = (0.25, 0.5, 0.75)


def _interpolate(ordered: dict[int, Decimal], n: int, p: float) -> Decimal:
    h = (n - 1) * p
    lo, hi = math.floor(h), math.ceil(h)
    low, high = Decimal(ordered[lo + 1]), Decimal(ordered[hi + 1])
    return low + (high - low) * Decimal(str(h - lo))


def distributions(queryset: QuerySet, fields: list[str], **aggregates) -> tuple[dict[str, dict], dict]:
    """n, min, quartiles (q1, median, q3) and max of each numeric field, with any other aggregates of the same rows:
    one query for the counts and extremes (and the aggregates), then on PostgreSQL one for the values at the
    quartiles' positions (one sort per field), elsewhere a ranked window per field."""
    queryset = queryset.order_by()
    stats = queryset.aggregate(
        **aggregates,
        **{
            f"{field}__{name}": function(field, filter=Q(**{f"{field}__isnull": False}))
            for field in fields
            for name, function in (("n", Count), ("min", Min), ("max", Max))
        },
    )
    positions = {
        field: sorted({pos for p in QUARTILES for pos in (math.floor((n - 1) * p) + 1, math.ceil((n - 1) * p) + 1)})
        for field in fields
        if (n := stats[f"{field}__n"])
    }
    if connection.vendor == "postgresql" and positions:
        at = queryset.aggregate(**{f: AtPositions(f, positions=ps, n=stats[f"{f}__n"]) for f, ps in positions.items()})
        ordered = {f: dict(zip(ps, at[f], strict=True)) for f, ps in positions.items()}
    else:  # no ordered-set aggregates (SQLite)
        ordered = {
            f: dict(
                queryset.filter(**{f"{f}__isnull": False})
                .annotate(rank=Window(RowNumber(), order_by=[F(f).asc(), F("pk").asc()]))
                .filter(rank__in=ps)
                .values_list("rank", f)
            )
            for f, ps in positions.items()
        }
    out = {}
    for field in fields:
        n = stats[f"{field}__n"]
        if not n:
            out[field] = {"n": 0, "min": None, "q1": None, "median": None, "q3": None, "max": None}
            continue
        q1, median, q3 = (_interpolate(ordered[field], n, p) for p in QUARTILES)
        out[field] = {
            "n": n,
            "min": Decimal(stats[f"{field}__min"]),
            "q1": q1,
            "median": median,
            "q3": q3,
            "max": Decimal(stats[f"{field}__max"]),
        }
    return out, {name: stats[name] for name in aggregates}


def group_medians(queryset: QuerySet, group_by: list[str], value, places: int | None = None) -> dict[tuple, Decimal]:
    """The median of `value` (a field name or expression) within each group, in one query.

    Rows are ranked within their group; only the middle one (odd count) or two (even count) are fetched.
    places: the exact precision of an expression's values. SQLite computes decimal arithmetic in floating point
    (10.15 - 10.20 = -0.0499999999999989); each value is quantized back before averaging, so that a median
    half-way between two values rounds as on PostgreSQL.
    """
    rows = (
        queryset.order_by()
        .annotate(_value=value if not isinstance(value, str) else F(value))
        .filter(_value__isnull=False)
        .annotate(
            _rank=Window(
                RowNumber(), partition_by=[F(g) for g in group_by], order_by=[F("_value").asc(), F("pk").asc()]
            ),
            _count=Window(Count("pk"), partition_by=[F(g) for g in group_by]),
        )
        .filter(_rank__gte=F("_count") * 0.5, _rank__lte=F("_count") * 0.5 + 1)
        .values_list(*group_by, "_value")
    )
    middles: dict[tuple, list[Decimal]] = {}
    for *key, v in rows:
        v = Decimal(v) if places is None else Decimal(v).quantize(Decimal(1).scaleb(-places))
        middles.setdefault(tuple(key), []).append(v)
    return {key: sum(vs) / len(vs) for key, vs in middles.items()}


def _in_si(stats: dict, analyte: str = measures.CALCIUM_TOTAL) -> dict:
    return {k: (v if k == "n" or v is None else measures.to_si(v, analyte, "mg/dL")) for k, v in stats.items()}


def _rounded(stats: dict, unit: str) -> dict:
    return {k: (v if k == "n" or v is None else measures.round_for_unit(v, unit)) for k, v in stats.items()}


AGE_BANDS = [(0, 17), (18, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, 89), (90, 90)]


def _label(value) -> object:
    return value if value not in ("", None) else "none"


def counts(queryset: QuerySet, field: str, of: str = "pk") -> dict:
    """Cases per value of a field of the case (of="pk") or of its rows (of="case": a case counts once per value)."""
    rows = queryset.order_by().values(field).annotate(n=Count(of, distinct=of != "pk")).order_by(field)
    return {_label(r[field]): r["n"] for r in rows}


def case_counts(cases: QuerySet[Case], fields: list[str]) -> dict[str, dict]:
    """counts() of several fields of the case: on PostgreSQL in one scan of the cohort (GROUPING SETS, a hash
    aggregate per field; the case table is wide), elsewhere a query per field."""
    if connection.vendor != "postgresql":
        return {field: counts(cases, field) for field in fields}
    cohort, params = cases.order_by().values(*fields).query.sql_with_params()
    columns = ", ".join(connection.ops.quote_name(field) for field in fields)  # values() names them as the fields
    sets = ", ".join(f"({connection.ops.quote_name(field)})" for field in fields)
    out: dict[str, dict] = {field: {} for field in fields}
    with connection.cursor() as cursor:
        # GROUPING(...) has bit k (from the right, of the last field first) set where field k is not grouped;
        # ordered within each field's rows by its value, as counts() orders them.
        cursor.execute(
            f"SELECT GROUPING({columns}), {columns}, count(*) FROM ({cohort}) c "  # noqa: S608 (the ORM's own SQL)
            f"GROUP BY GROUPING SETS ({sets}) ORDER BY 1, {columns}",
            params,
        )
        for grouping, *values, n in cursor.fetchall():
            k = next(k for k in range(len(fields)) if not grouping >> (len(fields) - 1 - k) & 1)
            out[fields[k]][_label(values[k])] = n
    return out


def summary(cases: QuerySet[Case]) -> dict:
    """Counts by disorder, mechanism, tumor site, receptor status and CTCAE grade; age and peak calcium."""
    cases = cases.order_by()
    case_ids = cases.values("pk")
    receptor_fields = ("er", "pr", "her2", "hormone_receptor")
    receptor_counts = Tumor.objects.filter(case__in=case_ids).aggregate(
        **{
            f"{f}__{s}": Count("case", distinct=True, filter=Q(**{f: s}))
            for f in receptor_fields
            for s in ReceptorStatus.values
        }
    )
    band = {(f"{lo}-{hi}" if lo != hi else "90+"): (lo, hi) for lo, hi in AGE_BANDS}
    spread, totals = distributions(
        cases,
        ["age_years", "peak_calcium_mg_dl"],
        cases=Count("pk"),
        **{name: Count("pk", filter=Q(age_years__gte=lo, age_years__lte=hi)) for name, (lo, hi) in band.items()},
    )
    peak = spread["peak_calcium_mg_dl"]
    episode_rows = list(
        Episode.objects.filter(case__in=case_ids)
        .order_by("disorder")
        .values("disorder")
        .annotate(cases=Count("case", distinct=True), n=Count("pk"))
        .values_list("disorder", "cases", "n")
    )  # one query: cases and episodes per disorder
    by = case_counts(cases, ["disorder", "main_mechanism", "peak_ctcae_grade", "mechanism_agreement"])
    return {
        "cases": totals["cases"],
        "by_disorder": by["disorder"],
        # Issue 13: a case holds one or more episodes; a case counts under each disorder it has an episode of.
        "episodes": sum(n for _, _, n in episode_rows),
        "by_episode_disorder": {disorder: n_cases for disorder, n_cases, _ in episode_rows},
        "by_main_mechanism": by["main_mechanism"],
        "by_mechanism": counts(Mechanism.objects.recorded().filter(case__in=case_ids), "code", of="case"),
        "by_tumor_site": counts(Tumor.objects.filter(case__in=case_ids), "site", of="case"),
        "by_receptor_status": {
            f: {s: receptor_counts[f"{f}__{s}"] for s in ReceptorStatus.values} for f in receptor_fields
        },
        "by_ctcae_grade": by["peak_ctcae_grade"],
        "by_mechanism_agreement": by["mechanism_agreement"],
        "age": {**spread["age_years"], "bands": {name: totals[name] for name in band}},
        "peak_calcium": {"mg_dl": _rounded(peak, "mg/dL"), "mmol_l": _in_si(peak)},
    }


GROUPINGS = {"agent": ["agent__code"], "drug_class": ["drug_class_key"], "intent": ["intent"]}
MEDIANS = {  # the entry's field: (the value of an intervention, its unit)
    "median_calcium_before_mg_dl": (F("calcium_before_mg_dl"), "mg/dL"),
    "median_calcium_after_mg_dl": (F("calcium_after_mg_dl"), "mg/dL"),
    "median_calcium_change_mg_dl": (F("calcium_after_mg_dl") - F("calcium_before_mg_dl"), "mg/dL"),  # both known
    "median_days_to_normal_calcium": (
        Conditional(When(calcium_normal_after=True, then=F("days_to_calcium_after"))),
        "days",
    ),
}


def intervention_tables(cases: QuerySet[Case], by_mechanism: bool = False) -> dict[str, list[dict]]:
    """Per agent, per drug class and per intent (optionally each also per the case's main mechanism): cases,
    administered vs recommended, calcium responses, median calcium before and after and median change, median days
    from the intervention to a normal calcium value after it; rows in key order, a null key last.

    PostgreSQL: the three tables in one pass over the cohort's interventions (GROUPING SETS: the rows are read and
    joined once; three queries took 1.4-1.8x as long at 100,000 cases, issue 16). SQLite: a query per table, and
    one per median (group_medians)."""
    # An agent without a class and a free-text intervention without an agent share one "no class" group (null).
    interventions = Intervention.objects.filter(case__in=cases.order_by().values("pk")).annotate(
        drug_class_key=NullIf("agent__drug_class", Value(""))
    )
    if connection.vendor == "postgresql":
        rows = _intervention_rows_in_one_pass(interventions, by_mechanism)
    else:
        rows = {group: _intervention_rows(interventions, group, by_mechanism) for group in GROUPINGS}
    return {
        group: [
            {
                "group": group,
                "key": row["key"],
                **({"mechanism": row["mechanism"] or None} if by_mechanism else {}),
                **({"agent_name": row["agent_name"], "atc": row["atc"] or None} if group == "agent" else {}),
                "cases": row["cases"],
                "administered": row["administered"],
                "recommended": row["recommended"],
                "advised_against": row["advised_against"],
                "calcium_response": {r: row[f"response__{r}"] for r in CalciumResponse.values},
                "with_calcium_before_and_after": row["with_calcium_before_and_after"],
                **{field: _round(row[field], unit) for field, (_, unit) in MEDIANS.items()},
            }
            for row in group_rows
        ]
        for group, group_rows in rows.items()
    }


def _intervention_rows(interventions: QuerySet[Intervention], group: str, by_mechanism: bool) -> list[dict]:
    """One table's rows (SQLite): its counts in one query, each median in one more."""
    keys = [*GROUPINGS[group], *(["case__main_mechanism"] if by_mechanism else [])]
    administered = Q(status=InterventionStatus.ADMINISTERED)
    rows = (
        interventions.order_by()
        .values(*keys)
        .annotate(
            cases=Count("case", distinct=True),
            administered=Count("pk", filter=administered),
            recommended=Count("pk", filter=Q(status=InterventionStatus.RECOMMENDED)),
            advised_against=Count("pk", filter=Q(status=InterventionStatus.ADVISED_AGAINST)),
            with_calcium_before_and_after=Count(
                "pk", filter=administered & Q(calcium_before_mg_dl__isnull=False, calcium_after_mg_dl__isnull=False)
            ),
            **{
                f"response__{r}": Count("pk", filter=administered & Q(calcium_response=r))
                for r in CalciumResponse.values
            },
            agent_name=Max("agent__name"),
            atc=Max("agent__atc_code"),
        )
        .order_by(*(F(k).asc(nulls_last=True) for k in keys))
    )
    medians = {
        field: group_medians(interventions, keys, value, places=2 if field == "median_calcium_change_mg_dl" else None)
        for field, (value, _) in MEDIANS.items()
    }
    return [
        {
            **row,
            "key": row[keys[0]],
            "mechanism": row.get("case__main_mechanism"),
            **{field: medians[field].get(tuple(row[k] for k in keys)) for field in medians},
        }
        for row in rows
    ]


def _intervention_rows_in_one_pass(interventions: QuerySet[Intervention], by_mechanism: bool) -> dict[str, list]:
    """Every table's rows (PostgreSQL) from one GROUPING SETS query over the cohort's interventions."""
    keys = {"agent": F("agent__code"), "drug_class": F("drug_class_key"), "intent": F("intent")}
    inner = interventions.order_by().values(
        **{f"k_{group}": key for group, key in keys.items()},
        **({"k_mechanism": F("case__main_mechanism")} if by_mechanism else {}),
        v_case=F("case_id"),
        v_status=F("status"),
        v_response=F("calcium_response"),
        v_name=F("agent__name"),
        v_atc=F("agent__atc_code"),
        v_before=F("calcium_before_mg_dl"),
        v_after=F("calcium_after_mg_dl"),
        **{f"v_median{k}": value for k, (value, _) in enumerate(MEDIANS.values())},
    )
    sql, params = inner.query.sql_with_params()
    administered = "v_status = %s"
    counts = {  # name: (its SQL, its parameters)
        "cases": ("COUNT(DISTINCT v_case)", []),
        "administered": (f"COUNT(*) FILTER (WHERE {administered})", [InterventionStatus.ADMINISTERED]),
        "recommended": ("COUNT(*) FILTER (WHERE v_status = %s)", [InterventionStatus.RECOMMENDED]),
        "advised_against": ("COUNT(*) FILTER (WHERE v_status = %s)", [InterventionStatus.ADVISED_AGAINST]),
        "with_calcium_before_and_after": (
            f"COUNT(*) FILTER (WHERE {administered} AND v_before IS NOT NULL AND v_after IS NOT NULL)",
            [InterventionStatus.ADMINISTERED],
        ),
        **{
            f"response__{r}": (
                f"COUNT(*) FILTER (WHERE {administered} AND v_response = %s)",
                [InterventionStatus.ADMINISTERED, r],
            )
            for r in CalciumResponse.values
        },
        "agent_name": ("MAX(v_name)", []),
        "atc": ("MAX(v_atc)", []),
        **{field: (median_sql(f"v_median{k}"), []) for k, field in enumerate(MEDIANS)},
    }
    mechanism = ["k_mechanism"] if by_mechanism else []
    group_keys = [f"k_{group}" for group in keys]
    sets = ", ".join(f"({', '.join([key, *mechanism])})" for key in group_keys)
    order = ", ".join(f"{key} NULLS LAST" for key in [*group_keys, *mechanism])
    # GROUPING(k_agent, k_drug_class, k_intent) sets the bit of each key a row is not grouped by (the last key's
    # bit is 1): 0b011 for the agent's rows, 0b101 for the drug class's, 0b110 for the intent's.
    table_of = {0b011: "agent", 0b101: "drug_class", 0b110: "intent"}
    statement = (
        f"SELECT GROUPING({', '.join(group_keys)}), {', '.join([*group_keys, *mechanism])}, "  # noqa: S608
        f"{', '.join(sql for sql, _ in counts.values())} FROM ({sql}) interventions "
        f"GROUP BY GROUPING SETS ({sets}) ORDER BY 1, {order}"
    )
    out: dict[str, list] = {group: [] for group in GROUPINGS}
    with connection.cursor() as cursor:
        cursor.execute(statement, [p for _, ps in counts.values() for p in ps] + list(params))
        width = len(group_keys) + len(mechanism)
        for grouping, *values in cursor.fetchall():
            group = table_of[grouping]
            out[group].append(
                {
                    "key": values[list(keys).index(group)],
                    "mechanism": values[width - 1] if by_mechanism else None,
                    **dict(zip(counts, values[width:], strict=True)),
                }
            )
    return out


# percentile_disc(f) is the value at position ceil(f * n) of the n ordered values (PostgreSQL's
# percentile_disc_final), and one call with an array of fractions sorts the values once for all of them.
# Median: f = 0.5 is the lower middle value (position n/2 for even n, the middle for odd n) and 0.5 + 1e-9 the upper
# (n/2 + 1 for even n, the middle again for odd n) for any group of fewer than 500 million values.
UPPER_MIDDLE = 0.5 + 1e-9


def median_sql(sql: str) -> str:
    """PostgreSQL's exact median of an expression (NULLs ignored): the mean of the lower and the upper middle
    value, both from one percentile_disc (which returns values of the expression's own type, so no floating point
    enters; percentile_cont would work in double precision). The same definition as group_medians."""
    middles = f"percentile_disc(ARRAY[0.5, {UPPER_MIDDLE!r}]) WITHIN GROUP (ORDER BY {sql})"
    return f"(({middles})[1] + ({middles})[2]) / 2.0"


class AtPositions(Aggregate):
    """PostgreSQL: the values at the given 1-based positions of the n ordered values (NULLs ignored), in one sort.
    Position k is percentile_disc((k - 0.5) / n): the half keeps the fraction's rounding off the boundary."""

    def __init__(self, expression, positions: list[int], n: int):
        from django.contrib.postgres.fields import ArrayField

        self.fractions = [(k - 0.5) / n for k in positions]
        super().__init__(expression, output_field=ArrayField(DecimalField()))

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"percentile_disc(ARRAY{self.fractions!r}::float8[]) WITHIN GROUP (ORDER BY {sql})", params


def _round(value: Decimal | None, unit: str = "mg/dL") -> Decimal | None:
    if value is None:
        return None
    if unit == "days":
        return value.quantize(Decimal("0.1"))
    return measures.round_for_unit(value, unit)


TRAJECTORIES_PER_PAGE = 500  # the endpoint's cap: cases per page, in id order (api.analytics.TrajectoriesView)


def trajectories(cases: QuerySet[Case], align: str = "index") -> list[dict]:
    """Per case, the calcium series and the administered intervention spans, aligned on day 0 (align="index") or
    on the start of the first administered calcium-directed intervention (align="first_calcium_directed").
    Items without a day offset keep their timeline order (sequence) and have day null.

    Set-based, three queries whatever the number of cases: the cases, then their calcium and albumin results
    and their administered interventions, each one ordered scan of its table by (case, sequence, id) joined to
    the cases by id (an index scan on the case foreign key per case batch). Only columns are fetched, no model
    instances; the calcium arithmetic (albumin correction, censoring) is measures.calcium_points, the one place
    for it. Callers bound the cohort (the endpoint pages it, the dashboard samples it)."""
    heads = list(cases.values_list("pk", "title", "main_mechanism"))  # in the queryset's order (Case: by id)
    ids = [pk for pk, _, _ in heads]
    labs: dict[int, list[measures.Measurement]] = {}
    # Without the interventions a result follows (LabFollows): the points plotted do not depend on them
    # (Measurement.follows stays empty, as LabResult.as_measurement(links=False) leaves it).
    lab_columns = ("case_id", "id", "analyte", "unit", "value", "sequence", "day", "value_high", "comparator",
                   "qualitative", "ref_low", "ref_high")  # fmt: skip
    for case_id, *fields in (
        LabResult.objects.filter(case__in=ids, analyte__in=[*measures.CALCIUM_ANALYTES, measures.ALBUMIN])
        .order_by("case_id", "sequence", "id")
        .values_list(*lab_columns)
    ):
        labs.setdefault(case_id, []).append(measures.Measurement(*fields))
    spans: dict[int, list[tuple]] = {}
    for case_id, *fields in (
        Intervention.objects.filter(case__in=ids, status=InterventionStatus.ADMINISTERED)
        .order_by("case_id", "sequence", "id")
        .values_list("case_id", "agent__name", "agent_text", "agent__code", "intent", "day", "end_day", "sequence")
    ):
        spans.setdefault(case_id, []).append(tuple(fields))
    out = []
    for pk, title, main_mechanism in heads:
        interventions = spans.get(pk, [])
        anchor, aligned = 0, True
        if align == "first_calcium_directed":
            anchor = next((day for _, _, _, intent, day, _, _ in interventions if intent == "calcium_directed"), None)
            aligned = anchor is not None

        def shift(day, anchor=anchor):
            return None if day is None or anchor is None else day - anchor

        out.append(
            {
                "case_id": registry_id(pk),
                "title": title,
                "main_mechanism": main_mechanism or None,
                "aligned": aligned,
                "unit": "mg/dL",
                "points": [
                    {
                        "day": shift(p.day),
                        "sequence": p.sequence,
                        "basis": p.basis,
                        "value": measures.round_for_unit(p.low_mg_dl, "mg/dL"),
                        "value_high": measures.round_for_unit(p.high_mg_dl, "mg/dL")
                        if p.high_mg_dl != p.low_mg_dl
                        else None,
                        "comparator": p.comparator,  # ">" for a censored value: above "value"
                    }
                    for p in measures.calcium_points(labs.get(pk, []))
                ],
                "interventions": [
                    {
                        "label": agent_name if agent_name is not None else agent_text,  # as str(Intervention)
                        "agent": agent_code,
                        "intent": intent,
                        "start_day": shift(day),
                        "end_day": shift(end_day),
                        "sequence": sequence,
                    }
                    for agent_name, agent_text, agent_code, intent, day, end_day, sequence in interventions
                ],
            }
        )
    return out
