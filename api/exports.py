"""CSV for pandas and R, with the case list's filters: a wide table (one row per case) and a long table of
lab values (one row per result). Numbers are plain numbers, missing values empty, codes snake_case; text that a
spreadsheet would run as a formula starts with an apostrophe."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated

from cases import measures
from cases.models import Case, LabResult

from .filters import CaseFilter
from .permissions import RolePermissions
from .query_parameters import KnownQueryParameters
from .serializers import number
from .views import visible_cases

CASE_COLUMNS = [
    "case_id",
    "status",
    "title",
    "source_kind",
    "source_year",
    "doi",
    "pmid",
    "age_years",
    "age_90_or_over",
    "sex",
    "menopausal_status",
    "disorder",
    "tumor_site",
    "icdo3_topography",
    "histology",
    "icdo3_morphology",
    "er",
    "pr",
    "her2",
    "hormone_receptor",
    "metastases_present",
    "metastases_absent",
    "main_mechanism",
    "main_mechanism_certainty",
    "mechanisms",
    "suggested_mechanism",
    "mechanism_agreement",
    "completeness_score",
    "peak_calcium_mg_dl",
    "peak_calcium_mmol_l",
    "peak_calcium_basis",
    "peak_calcium_comparator",
    "nadir_calcium_mg_dl",
    "nadir_calcium_mmol_l",
    "nadir_calcium_comparator",
    "peak_ctcae_grade",
    "peak_ctcae_basis",
    "peak_ctcae_limit_basis",
    "nadir_ctcae_grade",
    "ionized_peak_mmol_l",
    "ionized_peak_ctcae_grade",
    "ionized_nadir_mmol_l",
    "ionized_nadir_ctcae_grade",
    "first_calcium_directed",
    "calcium_normalised",
    "days_to_normalisation",
    "vital_status",
    "follow_up_days",
    "calcium_outcome",
    "tumor_response",
    "version",
    "updated_at",
]
LAB_COLUMNS = [
    "case_id",
    "lab_id",
    "sequence",
    "day",
    "day_is_approximate",
    "analyte",
    "loinc",
    "specimen",
    "comparator",
    "value",
    "value_high",
    "unit",
    "qualitative",
    "ref_low",
    "ref_high",
    "si_value",
    "si_value_high",
    "si_unit",
    "conventional_value",
    "conventional_value_high",
    "conventional_unit",
    "interpretation",
    "interpretation_basis",
    "follows_intervention_id",
]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    if text != text.strip():  # float() would accept "\t-3"; a spreadsheet may not read it as a number
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def cell(value):
    """A CSV cell: None as empty; text that a spreadsheet would run as a formula behind a leading apostrophe
    (OWASP's recommendation). Numbers, and text that is a number ("-3"), are left as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def csv_response(columns: list[str], rows, filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) for k, v in row.items()})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def main_mechanism(case: Case):
    return next((m for m in case.mechanisms.all() if m.certainty != "excluded"), None)


def case_row(case: Case) -> dict:
    summary = case.calcium_summary()
    tumor = next(iter(case.tumors.all()), None)
    mechanism = main_mechanism(case)
    mets = list(case.metastases.all())
    first = next(
        (i for i in case.interventions.all() if i.intent == "calcium_directed" and i.status == "administered"), None
    )
    peak, nadir = summary.peak, summary.nadir
    return {
        "case_id": case.registry_id,
        "status": case.status,
        "title": case.title,
        "source_kind": case.source.kind,
        "source_year": case.source.year,
        "doi": case.source.doi,
        "pmid": case.source.pmid,
        "age_years": case.age_years,
        "age_90_or_over": case.age_is_90_or_over,
        "sex": case.sex,
        "menopausal_status": case.menopausal_status,
        "disorder": case.disorder,
        "tumor_site": tumor and tumor.site,
        "icdo3_topography": tumor and tumor.icdo3_topography,
        "histology": tumor and tumor.histology,
        "icdo3_morphology": tumor and tumor.icdo3_morphology,
        "er": tumor and tumor.er,
        "pr": tumor and tumor.pr,
        "her2": tumor and tumor.her2,
        "hormone_receptor": tumor and tumor.hormone_receptor,
        "metastases_present": ";".join(sorted({m.site for m in mets if m.present})),
        "metastases_absent": ";".join(sorted({m.site for m in mets if not m.present})),
        "main_mechanism": mechanism and mechanism.code,
        "main_mechanism_certainty": mechanism and mechanism.certainty,
        "mechanisms": ";".join(f"{m.code}:{m.certainty}" for m in case.mechanisms.all()),
        "suggested_mechanism": case.suggested_mechanism or None,
        "mechanism_agreement": case.mechanism_agreement or None,
        "completeness_score": case.completeness_score,
        "peak_calcium_mg_dl": peak and number(peak.mg_dl),
        "peak_calcium_mmol_l": peak and number(peak.mmol_l),
        "peak_calcium_basis": peak and peak.basis,
        "peak_calcium_comparator": peak and peak.comparator,  # ">" for a censored peak (">15": above 15)
        "nadir_calcium_mg_dl": nadir and number(nadir.mg_dl),
        "nadir_calcium_mmol_l": nadir and number(nadir.mmol_l),
        "nadir_calcium_comparator": nadir and nadir.comparator,
        "peak_ctcae_grade": summary.peak_grade and summary.peak_grade.grade,
        "peak_ctcae_basis": summary.peak_grade and summary.peak_grade.basis,
        "peak_ctcae_limit_basis": summary.peak_grade and summary.peak_grade.limit_basis,
        "nadir_ctcae_grade": summary.nadir_grade and summary.nadir_grade.grade,
        "ionized_peak_mmol_l": summary.ionized_peak and number(summary.ionized_peak.mmol_l),
        "ionized_peak_ctcae_grade": summary.ionized_peak_grade and summary.ionized_peak_grade.grade,
        "ionized_nadir_mmol_l": summary.ionized_nadir and number(summary.ionized_nadir.mmol_l),
        "ionized_nadir_ctcae_grade": summary.ionized_nadir_grade and summary.ionized_nadir_grade.grade,
        "first_calcium_directed": first and (first.agent.code if first.agent else first.agent_text),
        "calcium_normalised": summary.normalisation and summary.normalisation.normalised,
        "days_to_normalisation": summary.normalisation and summary.normalisation.days,
        "vital_status": case.vital_status,
        "follow_up_days": case.follow_up_days,
        "calcium_outcome": case.calcium_outcome,
        "tumor_response": case.tumor_response,
        "version": case.version,
        "updated_at": case.updated_at.isoformat(),
    }


def lab_rows(labs):
    for lab in labs:
        a = measures.analyte(lab.analyte)
        interpretation = lab.interpretation()
        si, conventional = lab.in_unit(a.si_unit) or {}, lab.in_unit(a.conventional_unit) or {}

        yield {
            "case_id": f"CCR-{lab.case_id:06d}",
            "lab_id": lab.pk,
            "sequence": lab.sequence,
            "day": lab.day,
            "day_is_approximate": lab.day_is_approximate,
            "analyte": lab.analyte,
            "loinc": lab.loinc,
            "specimen": lab.specimen,
            "comparator": lab.comparator,
            "value": number(lab.value),
            "value_high": number(lab.value_high),
            "unit": lab.unit,
            "qualitative": lab.qualitative,
            "ref_low": number(lab.ref_low),
            "ref_high": number(lab.ref_high),
            "si_value": number(si.get("value")),
            "si_value_high": number(si.get("value_high")),
            "si_unit": a.si_unit if lab.unit else None,
            "conventional_value": number(conventional.get("value")),
            "conventional_value_high": number(conventional.get("value_high")),
            "conventional_unit": a.conventional_unit if lab.unit else None,
            "interpretation": interpretation.flag,
            "interpretation_basis": interpretation.basis,
            "follows_intervention_id": lab.follows_intervention_id,
        }


class CaseExportBase(KnownQueryParameters, GenericAPIView):
    permission_classes = [IsAuthenticated, RolePermissions]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()

    def get_queryset(self):
        return visible_cases(self.request.user).with_children()


class CaseTableView(CaseExportBase):
    @extend_schema(
        summary="Wide CSV: one row per case", responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)}
    )
    def get(self, request) -> HttpResponse:
        cases = self.filter_queryset(self.get_queryset())
        return csv_response(CASE_COLUMNS, (case_row(c) for c in cases), "cases.csv")


class LabTableView(CaseExportBase):
    @extend_schema(
        summary="Long CSV: one row per lab value", responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)}
    )
    def get(self, request) -> HttpResponse:
        # One query for every lab of the filtered cases, in case and timeline order (no per-case prefetch).
        cases = self.filter_queryset(visible_cases(request.user)).order_by().values("pk")
        labs = LabResult.objects.filter(case__in=cases).order_by("case_id", "sequence", "id")
        return csv_response(LAB_COLUMNS, lab_rows(labs), "labs.csv")
