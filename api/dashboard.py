"""The analysts' dashboard: four cohort charts for signed-in staff, with the case-list filters."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.shortcuts import render
from django.utils.safestring import mark_safe

from cases import analytics, charts
from cases.models import Case, registry_id

from .filters import CaseFilter

FORM_FIELDS = {
    "status": "Status",
    "disorder": "Disorder",
    "mechanism": "Mechanism",
    "tumor_site": "Tumor site",
    "agent": "Agent code",
    "ctcae_grade_min": "CTCAE grade at least",
    "completeness_min": "CARE items at least",
    "search": "Search",
}


@staff_member_required
def dashboard(request):
    if not request.user.has_perm("cases.view_case"):
        return render(request, "api/dashboard.html", {"forbidden": True}, status=403)
    case_filter = CaseFilter(request.GET or None, queryset=Case.objects.visible_to(request.user))
    form = case_filter.form
    for name, label in FORM_FIELDS.items():
        form.fields[name].label = label
    context = {
        **admin.site.each_context(request),
        "filter": case_filter,
        "form_fields": [form[name] for name in FORM_FIELDS],
        "title": "Cohort dashboard",
    }
    if case_filter.is_bound and not case_filter.is_valid():
        return render(request, "api/dashboard.html", context, status=400)
    cohort = case_filter.qs.order_by()

    cells = cohort.values("main_mechanism", "tumors__site").annotate(n=Count("pk", distinct=True))
    counts = {(c["main_mechanism"] or "none", c["tumors__site"] or "none"): c["n"] for c in cells}
    rows = sorted({m for m, _ in counts})
    columns = sorted({s for _, s in counts})

    peaks: dict[str, list] = {}
    for mechanism, pk, peak in (
        cohort.filter(peak_calcium_mg_dl__isnull=False)
        .values_list("main_mechanism", "pk", "peak_calcium_mg_dl")
        .order_by("main_mechanism", "pk")
    ):
        peaks.setdefault(mechanism or "none", []).append((registry_id(pk), peak))

    # Only agents with an assessed calcium response: the others (e.g. earlier chemotherapy) say nothing here.
    agents = [
        (row["agent_name"] or "not coded (free text)", row["calcium_response"])
        for row in analytics.intervention_table(cohort, "agent")
        if any(n for response, n in row["calcium_response"].items() if response != "not_assessed")
    ]
    context.update(
        {
            "n_cases": cohort.count(),
            "crosstab": mark_safe(charts.crosstab_svg(counts, rows, columns)),  # noqa: S308 - escaped in charts
            "peaks": mark_safe(charts.strip_plot_svg(peaks)),  # noqa: S308
            "responses": mark_safe(charts.stacked_bars_svg(agents)),  # noqa: S308
            "trajectories": mark_safe(  # noqa: S308
                charts.trajectories_svg(analytics.trajectories(cohort, "first_calcium_directed"))
            ),
        }
    )
    return render(request, "api/dashboard.html", context)
