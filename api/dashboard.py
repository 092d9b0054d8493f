"""The analysts' dashboard: cohort charts for signed-in staff, with the case-list filters.

The server computes every number (counts, peaks, responses, the Kaplan-Meier estimate, the sampled trajectories)
and hands the page one JSON payload; Apache ECharts (vendored under cases/static/vendor/echarts/) draws it in
api/static/api/dashboard.js. Every mark carries the address of its case (or, for a cell of several cases, of the
case list holding them).

The payload's size does not grow with the registry (issue 16: 107 MB of HTML at 100,000 cases before): counts are
grouped in the database, and what is drawn per case is bounded. A crosstab cell lists at most CELL_CASES registry
ids; the peaks are an even sample of at most PEAK_POINTS cases; the responses and the Kaplan-Meier marks are drawn
one per intervention up to MARKS administered interventions, and beyond that from the counts (stacked bars, the
curves without their marks); the trajectories are an even sample of TRAJECTORY_CASES cases. The page says what
it shows of how many. The query count is the same for any cohort.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.urls import reverse

from cases import analytics, measures, workflow
from cases.models import Agent, Case, Intervention, Tumor
from cases.vocabularies import CalciumResponse, Intent, InterventionStatus, MechanismCode, TumorSite

from .filters import CaseFilter

FORM_FIELDS = {
    "status": "Status",
    "disorder": "Disorder",
    "mechanism": "Mechanism",
    "tumor_site": "Tumor site",
    "ctcae_grade_min": "CTCAE grade at least",
    "completeness_min": "CARE items at least",
    "search": "Search",
}
NO_MECHANISM = "No mechanism recorded"
NO_SITE = "No tumor recorded"
UNCODED_AGENT = "Agent not coded (free text)"
# At most this many cases are drawn as trajectories (an even sample by id beyond it), each with at most this many
# calcium values (an even sample of its series): enough to see the shapes, few enough to read and to send.
TRAJECTORY_CASES = 40
TRAJECTORY_POINTS = 60
# A crosstab cell lists (in its tooltip) and links at most this many cases; a bigger cell links to the case list
# filtered by its mechanism and site (and the cohort's status and disorder).
CELL_CASES = 50
# At most this many cases are drawn as peak dots (an even sample by id beyond it; the categories are the cohort's).
PEAK_POINTS = 1000
# Up to this many administered interventions, one mark each (responses, Kaplan-Meier events and censorings);
# beyond it the response charts are stacked bars of the counts and the curves are drawn without their marks.
MARKS = 500


def case_url(pk: int) -> str:
    return reverse("admin:cases_case_change", args=[pk])


def cases_url(pks) -> str:
    pks = sorted(set(pks))
    if len(pks) == 1:
        return case_url(pks[0])
    return f"{reverse('admin:cases_case_changelist')}?id__in={','.join(map(str, pks))}"


def registry_id(pk: int) -> str:
    return f"CCR-{pk:06d}"


MECHANISM_LABELS = dict(MechanismCode.choices)
SITE_LABELS = dict(TumorSite.choices)
RESPONSE_LABELS = dict(CalciumResponse.choices)
ASSESSED_RESPONSES = [r for r in CalciumResponse.values if r != CalciumResponse.NOT_ASSESSED]


def mechanism_label(code: str | None) -> str:
    return MECHANISM_LABELS.get(code or "", NO_MECHANISM)


def even_sample(queryset, n: int, limit: int):
    """The rows of `queryset` (n of them) that _sample would pick by id, chosen in the database: all of them when
    n <= limit, else `limit` rows evenly spaced by id, first and last included. One query either way."""
    queryset = queryset.order_by("pk")
    if n <= limit:
        return queryset
    positions = sorted({round(i * (n - 1) / (limit - 1)) + 1 for i in range(limit)})
    return queryset.annotate(_position=Window(RowNumber(), order_by=F("pk").asc())).filter(_position__in=positions)


def cell_url(mechanism: str | None, site: str | None, cohort_params: dict) -> str:
    """The admin's case list of one crosstab cell: its main mechanism and tumor site, and the cohort's status and
    disorder (the dashboard's other filters have no counterpart there)."""
    params = {"main_mechanism": mechanism or ""}
    params.update({"tumors__site": site} if site else {"tumors__isnull": "True"})
    params.update(cohort_params)
    return f"{reverse('admin:cases_case_changelist')}?{urlencode(params)}"


def crosstab(cohort, cohort_params: dict | None = None) -> dict:
    """Cases by main mechanism x tumor site (a case with tumors at two sites counts in both columns, a case with
    two tumors at one site once). Two queries whatever the cohort: the cells' counts (hash aggregates, no sort of
    the cohort), then the cases of the cells of at most CELL_CASES cases, which list and link exactly them."""
    cases_sql, params = cohort_sql(cohort)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    stored: dict[tuple[str, str], list[tuple]] = defaultdict(list)  # label -> its (mechanism, site) as stored
    cells: dict[tuple[str, str], set[int]] = defaultdict(set)
    if cases_sql is not None:
        # The cohort's own compiled SQL and a table name; every value is a placeholder. The same SQL on SQLite.
        tumors = connection.ops.quote_name(Tumor._meta.db_table)
        distinct_tumors = "(SELECT DISTINCT case_id, site FROM " + tumors + ")"  # noqa: S608

        def cohort_with(tumor_rows: str) -> str:
            return "(" + cases_sql + ") c LEFT JOIN " + tumor_rows + " t ON t.case_id = c.case_pk"

        count_sql = "SELECT c.mechanism, t.site, COUNT(*) FROM " + cohort_with(distinct_tumors)  # noqa: S608
        count_sql += " GROUP BY c.mechanism, t.site"
        with connection.cursor() as cursor:
            cursor.execute(count_sql, params)
            for mechanism, site, n in cursor.fetchall():
                key = (mechanism_label(mechanism), SITE_LABELS.get(site or "", NO_SITE))
                counts[key] += n  # a label may join several stored values ("" and NULL)
                stored[key].append((mechanism, site))
            conditions, values = [], []
            for mechanism, site in (code for key, n in counts.items() if n <= CELL_CASES for code in stored[key]):
                if site is None:
                    conditions.append("(c.mechanism = %s AND t.site IS NULL)")
                    values.append(mechanism)
                else:
                    conditions.append("(c.mechanism = %s AND t.site = %s)")
                    values += [mechanism, site]
            small_sql = "SELECT c.case_pk, c.mechanism, t.site FROM " + cohort_with(tumors)  # noqa: S608
            small_sql += " WHERE " + (" OR ".join(conditions) or "1 = 0")
            cursor.execute(small_sql, [*params, *values])
            for pk, mechanism, site in cursor.fetchall():
                cells[(mechanism_label(mechanism), SITE_LABELS.get(site or "", NO_SITE))].add(pk)
    rows = sorted({m for m, _ in counts})
    columns = sorted({s for _, s in counts})
    out = []
    for (m, s), n in sorted(counts.items()):
        pks = sorted(cells[(m, s)])
        out.append(
            {
                "value": [columns.index(s), rows.index(m), n],
                "cases": [registry_id(p) for p in pks],
                "more": n - len(pks),
                "url": cases_url(pks) if len(pks) == n else cell_url(*stored[(m, s)][0], cohort_params or {}),
            }
        )
    return {"rows": rows, "columns": columns, "cells": out, "limit": CELL_CASES}


def peaks(cohort) -> dict:
    """One point per case with a peak calcium (mg/dL), by main mechanism: an even sample of PEAK_POINTS cases by
    id beyond that many (the categories and the count are the whole cohort's)."""
    with_peak = cohort.filter(peak_calcium_mg_dl__isnull=False)
    by_mechanism = list(with_peak.values_list("main_mechanism").annotate(n=Count("pk")).order_by())
    n = sum(count for _, count in by_mechanism)
    categories = sorted({mechanism_label(m) for m, _ in by_mechanism})
    found = even_sample(with_peak, n, PEAK_POINTS).values_list("pk", "main_mechanism", "peak_calcium_mg_dl")
    points = [
        {"value": [float(peak), categories.index(mechanism_label(m))], "case": registry_id(pk), "url": case_url(pk)}
        for pk, m, peak in found
    ]
    return {"categories": categories, "points": points, "n": n, "limit": PEAK_POINTS}


def agent_label(name: str | None) -> str:
    return name or UNCODED_AGENT


def response_category(row: dict, key: str) -> str:
    """An intervention's category in the response charts: its agent (key "agent") or its case's main mechanism."""
    return agent_label(row["agent__name"]) if key == "agent" else mechanism_label(row["case__main_mechanism"])


def time_to_normal_observation(row: dict) -> tuple[int, bool]:
    """(day, normalised) of a calcium-directed intervention: a normal calcium `day` days after its start, or censored
    on the day of its last calcium value after it (0 when there is none)."""
    day = row["days_to_calcium_after"]
    return max(day or 0, 0), bool(row["calcium_normal_after"]) and day is not None


def responses(administered, key: str) -> dict:
    """One mark per administered intervention with an assessed calcium response, stacked by response, per agent
    (key "agent") or per the case's main mechanism (key "mechanism")."""
    rows = [r for r in administered if r["calcium_response"] in ASSESSED_RESPONSES]
    categories = sorted({response_category(r, key) for r in rows})
    filled: dict[str, int] = defaultdict(int)
    series = []
    for response in ASSESSED_RESPONSES:
        points = []
        for r in rows:
            if r["calcium_response"] != response:
                continue
            category = response_category(r, key)
            points.append(
                {
                    "value": [filled[category] + 0.5, categories.index(category)],
                    "case": registry_id(r["case_id"]),
                    "what": r["agent_text"],
                    "url": case_url(r["case_id"]),
                }
            )
            filled[category] += 1
        series.append({"name": RESPONSE_LABELS[response], "points": points})
    return {"categories": categories, "series": series}


def kaplan_meier(observations: list[tuple[int, bool, int, str]]) -> dict:
    """Product-limit estimate of the share of interventions still without a normal calcium, day by day.

    observations: (day, normalised, case pk, what). An event is a normal calcium `day` days after the start; an
    intervention without a reported normalisation is censored on the day of its last calcium value after it (0 when
    there is none), i.e. it leaves the risk set without an event.
    """
    ordered = sorted(observations, key=lambda o: (o[0], not o[1]))
    at_risk, survival = len(ordered), 1.0
    steps, events, censored = [[0, 1.0]], [], []
    for day, normalised, pk, what in ordered:
        mark = {"case": registry_id(pk), "what": what, "url": case_url(pk)}
        if normalised:
            survival *= 1 - 1 / at_risk
            steps.append([day, round(survival, 4)])
            events.append({**mark, "value": [day, round(survival, 4)]})
        else:
            censored.append({**mark, "value": [day, round(survival, 4)]})
        at_risk -= 1
    last = max((o[0] for o in ordered), default=0)
    steps.append([last, round(survival, 4)])
    return {"n": len(ordered), "events": len(events), "steps": steps, "normalised": events, "censored": censored}


def time_to_normal(administered) -> list[dict]:
    by_agent: dict[str, list] = defaultdict(list)
    for r in administered:
        if r["intent"] != Intent.CALCIUM_DIRECTED:
            continue
        by_agent[agent_label(r["agent__name"])].append((*time_to_normal_observation(r), r["case_id"], r["agent_text"]))
    return [{"agent": agent, **kaplan_meier(obs)} for agent, obs in sorted(by_agent.items())]


def responses_counted(grouped: list[dict], key: str) -> dict:
    """The same stacks as responses(), from the database's counts: one bar segment per response and category."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in grouped:
        if r["calcium_response"] in ASSESSED_RESPONSES:
            counts[(response_category(r, key), r["calcium_response"])] += r["n"]
    categories = sorted({label for label, _ in counts})
    series = [
        {
            "name": RESPONSE_LABELS[response],
            "points": [],
            "counts": [counts.get((category, response), 0) for category in categories],
        }
        for response in ASSESSED_RESPONSES
    ]
    return {"categories": categories, "series": series, "counted": True}


def kaplan_meier_counted(groups: list[tuple[int, bool, int]]) -> dict:
    """kaplan_meier() from (day, normalised, number of interventions) groups: the same estimate, one step per day
    with events (d events among n at risk: 1 - d/n, the product of kaplan_meier's d single steps), no marks."""
    ordered = sorted(groups, key=lambda g: (g[0], not g[1]))
    at_risk, survival, events = sum(g[2] for g in ordered), 1.0, 0
    n = at_risk
    steps = [[0, 1.0]]
    for day, normalised, count in ordered:
        if normalised:
            survival *= 1 - count / at_risk
            steps.append([day, round(survival, 4)])
            events += count
        at_risk -= count
    last = max((g[0] for g in ordered), default=0)
    steps.append([last, round(survival, 4)])
    return {"n": n, "events": events, "steps": steps, "normalised": [], "censored": []}


def time_to_normal_counted(grouped: list[dict]) -> list[dict]:
    by_agent: dict[str, dict[tuple[int, bool], int]] = defaultdict(lambda: defaultdict(int))
    for r in grouped:
        if r["intent"] != Intent.CALCIUM_DIRECTED:
            continue
        by_agent[agent_label(r["agent__name"])][time_to_normal_observation(r)] += r["n"]
    return [
        {"agent": agent, **kaplan_meier_counted([(d, e, n) for (d, e), n in groups.items()])}
        for agent, groups in sorted(by_agent.items())
    ]


def _sample(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


def trajectories(cohort, n_cases: int) -> dict:
    pks = list(even_sample(cohort, n_cases, TRAJECTORY_CASES).values_list("pk", flat=True))
    drawn = []
    for series in analytics.trajectories(Case.objects.filter(pk__in=pks).order_by("pk"), "first_calcium_directed"):
        points = [[p["day"], float(p["value"])] for p in series["points"] if p["day"] is not None]
        if not series["aligned"] or not points:
            continue
        pk = int(series["case_id"].removeprefix("CCR-"))
        drawn.append(
            {
                "case": series["case_id"],
                "title": series["title"],
                "mechanism": mechanism_label(series["main_mechanism"]),
                "url": case_url(pk),
                "points": _sample(points, TRAJECTORY_POINTS),
            }
        )
    return {"sampled": len(pks), "drawn": drawn, "limit": TRAJECTORY_CASES}


ADMINISTERED_COLUMNS = (
    "agent__name",
    "intent",
    "calcium_response",
    "calcium_normal_after",
    "days_to_calcium_after",
    "case__main_mechanism",
)


def cohort_sql(cohort) -> tuple[str | None, tuple]:
    """The cohort's own compiled SQL, selecting case_pk and mechanism (None for a cohort that is empty by
    construction), for the queries that join it once instead of filtering by it and joining the cases again."""
    try:
        return cohort.order_by().values(case_pk=F("pk"), mechanism=F("main_mechanism")).query.sql_with_params()
    except EmptyResultSet:
        return None, ()


def administered_counts(cohort) -> list[dict]:
    """The cohort's administered interventions counted by ADMINISTERED_COLUMNS: one pass over the interventions
    joined to the cohort (the ORM's `case__in=` scans the cases twice, once for the filter, once for the mechanism)."""
    cases_sql, params = cohort_sql(cohort)
    if cases_sql is None:
        return []
    table = connection.ops.quote_name
    sql = f"""SELECT a.name, i.intent, i.calcium_response, i.calcium_normal_after, i.days_to_calcium_after,
            c.mechanism, COUNT(*)
        FROM {table(Intervention._meta.db_table)} i JOIN ({cases_sql}) c ON c.case_pk = i.case_id
            LEFT JOIN {table(Agent._meta.db_table)} a ON a.id = i.agent_id
        WHERE i.status = %s
        GROUP BY a.name, i.intent, i.calcium_response, i.calcium_normal_after, i.days_to_calcium_after, c.mechanism
    """  # noqa: S608 (the cohort's own compiled SQL and table names)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, InterventionStatus.ADMINISTERED])
        rows = cursor.fetchall()
    return [
        {
            "agent__name": name,
            "intent": intent,
            "calcium_response": response,
            "calcium_normal_after": None if normal is None else bool(normal),  # SQLite answers 0 or 1
            "days_to_calcium_after": days,
            "case__main_mechanism": mechanism,
            "n": n,
        }
        for name, intent, response, normal, days, mechanism, n in rows
    ]


def payload(cohort, n_cases: int, cohort_params: dict | None = None) -> dict:
    """The charts' numbers. Two reads of the administered interventions, whatever the cohort: their counts grouped
    by what the charts show, and the first MARKS + 1 of them one by one (drawn one mark each when they are all)."""
    administered = Intervention.objects.filter(
        case__in=cohort.order_by().values("pk"), status=InterventionStatus.ADMINISTERED
    )
    grouped = administered_counts(cohort)
    marks = list(
        administered.order_by("case_id", "sequence", "pk").values("case_id", "agent_text", *ADMINISTERED_COLUMNS)[
            : MARKS + 1
        ]
    )
    n_administered = sum(r["n"] for r in grouped)
    if len(marks) <= MARKS:
        by_agent, by_mechanism = responses(marks, "agent"), responses(marks, "mechanism")
        km = time_to_normal(marks)
    else:
        by_agent, by_mechanism = responses_counted(grouped, "agent"), responses_counted(grouped, "mechanism")
        km = time_to_normal_counted(grouped)
    return {
        # SI = conventional x factor (domain.md): the unit switch converts on the page.
        "mmol_per_mg_dl": float(measures.convert(Decimal(1), measures.CALCIUM_TOTAL, "mg/dL", "mmol/L")),
        "crosstab": crosstab(cohort, cohort_params),
        "peaks": peaks(cohort),
        "administered": {"n": n_administered, "marks": len(marks) <= MARKS, "limit": MARKS},
        "response_by_agent": by_agent,
        "response_by_mechanism": by_mechanism,
        "time_to_normal": km,
        "trajectories": trajectories(cohort, n_cases),
    }


def _agent_code(name: str) -> str | None:
    """The agent's code from its name or code, as typed (case-insensitive)."""
    agent = Agent.objects.filter(Q(name__iexact=name.strip()) | Q(code__iexact=name.strip())).first()
    return agent.code if agent else None


@staff_member_required
def dashboard(request):
    if not request.user.has_perm("cases.view_case"):
        return render(request, "api/dashboard.html", {"forbidden": True}, status=403)
    data = request.GET.copy()
    agent_name = data.get("agent", "").strip()
    agent_error = None
    if agent_name:
        code = _agent_code(agent_name)
        if code is None:
            agent_error = f"No agent is named “{agent_name}”: choose one from the list."
        data["agent"] = code or ""
    case_filter = CaseFilter(data or None, queryset=Case.objects.visible_to(request.user))
    form = case_filter.form
    fields = dict(FORM_FIELDS)
    if not workflow.can_see_unpublished(request.user):
        del fields["status"]  # an analyst sees published cases only: no status to choose
    for name, label in fields.items():
        form.fields[name].label = label
    context = {
        **admin.site.each_context(request),
        "filter": case_filter,
        "form_fields": [form[name] for name in fields],
        "agent_name": agent_name,
        "agent_error": agent_error,
        "agent_names": list(Agent.objects.order_by("name").values_list("name", flat=True)),
        "title": "Cohort dashboard",
    }
    if agent_error or (case_filter.is_bound and not case_filter.is_valid()):
        return render(request, "api/dashboard.html", {**context, "invalid": True}, status=400)
    cohort = case_filter.qs.order_by()
    n_cases = cohort.count()
    # The cohort's status and disorder, for the case list a big crosstab cell opens (cell_url).
    cohort_params = {
        f"{name}__in": ",".join(case_filter.form.cleaned_data[name])
        for name in ("status", "disorder")
        if case_filter.is_bound and case_filter.form.cleaned_data.get(name)
    }
    context.update({"n_cases": n_cases, "payload": payload(cohort, n_cases, cohort_params)})
    return render(request, "api/dashboard.html", context)
