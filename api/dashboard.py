"""The analysts' dashboard: cohort charts for signed-in staff, with the case-list filters.

The server computes every number (counts, peaks, responses, the Kaplan-Meier estimate, the sampled trajectories)
and hands the page one JSON payload; Apache ECharts (vendored under cases/static/vendor/echarts/) draws it in
api/static/api/dashboard.js. Every mark carries the address of its case (or, for a cell of several cases, of the
case list holding exactly them).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Q
from django.shortcuts import render
from django.urls import reverse

from cases import analytics, measures, workflow
from cases.models import Agent, Case, Intervention
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


def crosstab(cohort) -> dict:
    """Cases by main mechanism x tumor site (a case with tumors at two sites counts in both columns)."""
    cells: dict[tuple[str, str], set[int]] = defaultdict(set)
    for pk, mechanism, site in cohort.values_list("pk", "main_mechanism", "tumors__site"):
        cells[(mechanism_label(mechanism), SITE_LABELS.get(site or "", NO_SITE))].add(pk)
    rows = sorted({m for m, _ in cells})
    columns = sorted({s for _, s in cells})
    return {
        "rows": rows,
        "columns": columns,
        "cells": [
            {
                "value": [columns.index(s), rows.index(m), len(pks)],
                "cases": [registry_id(p) for p in sorted(pks)],
                "url": cases_url(pks),
            }
            for (m, s), pks in sorted(cells.items())
        ],
    }


def peaks(cohort) -> dict:
    """One point per case with a peak calcium (mg/dL), by main mechanism."""
    found = list(
        cohort.filter(peak_calcium_mg_dl__isnull=False)
        .values_list("pk", "main_mechanism", "peak_calcium_mg_dl")
        .order_by("pk")
    )
    categories = sorted({mechanism_label(m) for _, m, _ in found})
    return {
        "categories": categories,
        "points": [
            {"value": [float(peak), categories.index(mechanism_label(m))], "case": registry_id(pk), "url": case_url(pk)}
            for pk, m, peak in found
        ],
    }


def agent_label(name: str | None) -> str:
    return name or UNCODED_AGENT


def responses(administered, key: str) -> dict:
    """One mark per administered intervention with an assessed calcium response, stacked by response, per agent
    (key "agent") or per the case's main mechanism (key "mechanism")."""
    rows = [r for r in administered if r["calcium_response"] in ASSESSED_RESPONSES]

    def label(row: dict) -> str:
        return agent_label(row["agent__name"]) if key == "agent" else mechanism_label(row["case__main_mechanism"])

    categories = sorted({label(r) for r in rows})
    filled: dict[str, int] = defaultdict(int)
    series = []
    for response in ASSESSED_RESPONSES:
        points = []
        for r in rows:
            if r["calcium_response"] != response:
                continue
            category = label(r)
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
        normalised = bool(r["calcium_normal_after"]) and r["days_to_calcium_after"] is not None
        day = r["days_to_calcium_after"] if r["days_to_calcium_after"] is not None else 0
        by_agent[agent_label(r["agent__name"])].append((max(day, 0), normalised, r["case_id"], r["agent_text"]))
    return [{"agent": agent, **kaplan_meier(obs)} for agent, obs in sorted(by_agent.items())]


def _sample(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


def trajectories(cohort) -> dict:
    pks = _sample(list(cohort.order_by("pk").values_list("pk", flat=True)), TRAJECTORY_CASES)
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


def payload(cohort) -> dict:
    administered = list(
        Intervention.objects.filter(case__in=cohort.order_by().values("pk"), status=InterventionStatus.ADMINISTERED)
        .order_by("case_id", "sequence", "pk")
        .values(
            "case_id",
            "agent__name",
            "agent_text",
            "intent",
            "calcium_response",
            "calcium_normal_after",
            "days_to_calcium_after",
            "case__main_mechanism",
        )
    )
    return {
        # SI = conventional x factor (domain.md): the unit switch converts on the page.
        "mmol_per_mg_dl": float(measures.convert(Decimal(1), measures.CALCIUM_TOTAL, "mg/dL", "mmol/L")),
        "crosstab": crosstab(cohort),
        "peaks": peaks(cohort),
        "response_by_agent": responses(administered, "agent"),
        "response_by_mechanism": responses(administered, "mechanism"),
        "time_to_normal": time_to_normal(administered),
        "trajectories": trajectories(cohort),
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
    context.update({"n_cases": cohort.count(), "payload": payload(cohort)})
    return render(request, "api/dashboard.html", context)
