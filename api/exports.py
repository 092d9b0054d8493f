"""The tidy tables as CSV with the case list's filters, the tables and codebook as one ZIP, and the codebook.

Every export streams: rows come from a server-side cursor (`QuerySet.iterator`) and go out as they are written
(`StreamingHttpResponse`), so memory stays constant whatever the registry's size. The tables and their cells are
defined once, in cases/tables.py.
"""

from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from cases import tables
from cases.archives import ZipEntry, zip_stream
from cases.models import Case

from .filters import CaseFilter
from .permissions import RolePermissions
from .query_parameters import KnownQueryParameters

CSV = "text/csv; charset=utf-8"


def streaming(chunks, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(table: tables.Table, cases) -> StreamingHttpResponse:
    return streaming(tables.table_csv(table, cases), CSV, f"{table.name}.csv")


def columns_description(table: tables.Table) -> str:
    """The table's columns for the OpenAPI schema (the codebook has the allowed codes)."""
    lines = [
        f"{table.meaning} Cells: `TRUE`/`FALSE`, missing `NA`; types and codes in `/api/v1/codebook.json`.",
        "",
        "| column | dtype | unit | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{c.name}` | {c.dtype} | {c.unit} | {c.meaning} |" for c in table.columns]
    return "\n".join(lines)


def columns_extension(table: tables.Table) -> dict:
    return {"x-columns": [{"name": c.name, "dtype": c.dtype, "unit": c.unit or None} for c in table.columns]}


class CaseExportBase(KnownQueryParameters, GenericAPIView):
    permission_classes = [IsAuthenticated, RolePermissions]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()

    def get_queryset(self):
        return Case.objects.visible_to(self.request.user)


class TableView(CaseExportBase):
    table: tables.Table

    def get(self, request) -> StreamingHttpResponse:
        return csv_response(self.table, self.filter_queryset(self.get_queryset()))


def table_view(table: tables.Table) -> type[TableView]:
    """A view per table, so that the schema documents each table's columns."""

    @extend_schema(
        summary=f"{table.name}.csv: {table.meaning}",
        operation_id=f"exports_{table.name}_csv",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=columns_description(table))},
        extensions=columns_extension(table),
    )
    def get(self, request) -> StreamingHttpResponse:
        return TableView.get(self, request)

    return type(f"{table.name.capitalize()}TableView", (TableView,), {"table": table, "get": get})


TABLE_VIEWS = {name: table_view(table) for name, table in tables.TABLES.items()}


def tables_zip_entries(cases) -> list[ZipEntry]:
    return [
        *(ZipEntry(f"{name}.csv", tables.table_csv(table, cases)) for name, table in tables.TABLES.items()),
        ZipEntry("codebook.csv", [tables.codebook_csv()]),
        ZipEntry("codebook.json", [codebook_json()]),
    ]


class TablesZipView(CaseExportBase):
    @extend_schema(
        summary="Every table of the filtered cases and the codebook, as one ZIP",
        description="`cases.csv`, `tumors.csv`, `metastases.csv`, `mechanisms.csv`, `findings.csv`, `labs.csv`, "
        "`interventions.csv`, `codebook.csv` and `codebook.json`; the case list's filters apply to every table.",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request) -> StreamingHttpResponse:
        cases = self.filter_queryset(self.get_queryset())
        return streaming(zip_stream(tables_zip_entries(cases)), "application/zip", "tables.zip")


def codebook_json() -> str:
    return json.dumps({"tables": tables.table_meanings(), "columns": tables.codebook()}, ensure_ascii=False, indent=2)


class CodebookCsvView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The codebook: every column of every table, one row each",
        description="Columns: " + ", ".join(f"`{c}`" for c in tables.CODEBOOK_COLUMNS) + ". `codes` is "
        "`code, label | code, label` (REDCap's convention) with external codes in brackets.",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request) -> HttpResponse:
        response = HttpResponse(tables.codebook_csv(), content_type=CSV)
        response["Content-Disposition"] = 'attachment; filename="codebook.csv"'
        return response


class CodebookJsonView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The codebook as JSON: tables, and every column with its allowed codes",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request) -> HttpResponse:
        return HttpResponse(codebook_json(), content_type="application/json; charset=utf-8")


@staff_member_required
def codebook_page(request):
    from django.contrib import admin

    entries = tables.codebook()
    sections = [
        {"table": t, "columns": [e for e in entries if e["table"] == t["table"]]} for t in tables.table_meanings()
    ]
    context = {**admin.site.each_context(request), "title": "Codebook", "sections": sections}
    return render(request, "api/codebook.html", context)
