"""The admin's CSV export: the table is the API's (api.exports), so the action is added from this side (the
dependency runs api -> cases only)."""

from __future__ import annotations

from django.contrib import admin

from cases.admin import CaseAdmin
from cases.models import Case

from .exports import CASE_COLUMNS, case_row, csv_response


@admin.action(description="Export selected cases as CSV (one row per case)")
def export_csv(modeladmin, request, queryset):
    cases = Case.objects.filter(pk__in=queryset.values("pk")).with_children()
    return csv_response(CASE_COLUMNS, (case_row(c) for c in cases), "cases.csv")


CaseAdmin.actions = [*CaseAdmin.actions, export_csv]
