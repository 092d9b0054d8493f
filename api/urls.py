from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from . import analytics, citations, exports, extraction, releases, views
from .interop import views as interop

router = DefaultRouter()
router.register("cases", views.CaseViewSet, basename="case")
router.register("sources", views.SourceViewSet, basename="source")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("releases", releases.ReleaseViewSet, basename="release")

urlpatterns = [
    *(path(f"exports/{name}.csv", view.as_view(), name=f"export-{name}") for name, view in exports.TABLE_VIEWS.items()),
    path("exports/tables.zip", exports.TablesZipView.as_view(), name="export-tables-zip"),
    path("codebook.csv", exports.CodebookCsvView.as_view(), name="codebook-csv"),
    path("codebook.json", exports.CodebookJsonView.as_view(), name="codebook-json"),
    path("vocabularies/", views.VocabularyView.as_view(), name="vocabularies"),
    path("analytics/summary/", analytics.SummaryView.as_view(), name="analytics-summary"),
    path("analytics/interventions/", analytics.InterventionsView.as_view(), name="analytics-interventions"),
    path("analytics/trajectories/", analytics.TrajectoriesView.as_view(), name="analytics-trajectories"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("extract/", extraction.ExtractView.as_view(), name="extract"),
    path("sources/import/", citations.CitationImportView.as_view(), name="source-import"),
    re_path(rf"^cases/{interop.CASE}/phenopacket/$", interop.CasePhenopacketView.as_view(), name="case-phenopacket"),
    re_path(rf"^cases/{interop.CASE}/fhir/$", interop.CaseFhirView.as_view(), name="case-fhir"),
    path("exports/phenopackets.jsonl", interop.PhenopacketLinesView.as_view(), name="export-phenopackets-jsonl"),
    path("exports/phenopackets.zip", interop.PhenopacketZipView.as_view(), name="export-phenopackets-zip"),
    path("", include(router.urls)),
]
