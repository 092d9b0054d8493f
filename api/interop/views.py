"""Read-only interoperability endpoints, with the same permissions as reading a case: analysts see published cases
only (a draft is a 404), anonymous requests get 401.

GET cases/{id}/phenopacket/       one case as a GA4GH Phenopacket v2 (JSON)
GET cases/{id}/fhir/              one case as a FHIR R4 collection Bundle (application/fhir+json)
GET exports/phenopackets.jsonl    the filtered cases, one Phenopacket per line (the case list's filters)
GET exports/phenopackets.zip      the same, one CCR-000001.json file per case
"""

from __future__ import annotations

import json

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated

from api.exports import CaseExportBase, streaming
from api.permissions import RolePermissions
from api.query_parameters import KnownQueryParameters
from cases.archives import ZipEntry, zip_stream
from cases.models import REGISTRY_ID_PATTERN, Case, parse_registry_id

from .fhir import case_bundle
from .phenopacket import case_phenopacket

CASE = rf"(?P<id>{REGISTRY_ID_PATTERN})"  # the URL's case id, as the case endpoints take it: CCR-000001 or 1
FHIR_JSON = "application/fhir+json"
NDJSON = "application/x-ndjson"

CASE_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description='The case: "CCR-000001" or "1".'
)


def _json(data, content_type: str = "application/json") -> HttpResponse:
    return HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type=f"{content_type}; charset=utf-8")


def case_url(request, case: Case) -> str:
    return request.build_absolute_uri(reverse("case-detail", kwargs={"pk": case.registry_id}))


class CaseInteropView(KnownQueryParameters, GenericAPIView):
    permission_classes = [IsAuthenticated, RolePermissions]
    queryset = Case.objects.none()  # for the permissions; get_case reads the visible cases

    def get_case(self) -> Case:
        pk = parse_registry_id(self.kwargs["id"])
        cases = Case.objects.visible_to(self.request.user).with_children()
        case = cases.filter(pk=pk).first() if pk is not None else None
        if case is None:
            raise Http404
        return case


class CasePhenopacketView(CaseInteropView):
    @extend_schema(
        summary="One case as a GA4GH Phenopacket v2",
        parameters=[CASE_PARAMETER],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="A Phenopacket v2 JSON object (phenopacket-schema 2.0)."
            ),
            404: OpenApiResponse(description="No such case, or a case your role cannot see."),
        },
    )
    def get(self, request, id: str) -> HttpResponse:
        case = self.get_case()
        return _json(case_phenopacket(case, case_url=case_url(request, case)))


class CaseFhirView(CaseInteropView):
    @extend_schema(
        summary="One case as a FHIR R4 collection Bundle",
        parameters=[CASE_PARAMETER],
        responses={
            (200, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 (4.0.1) Bundle."),
            404: OpenApiResponse(description="No such case, or a case your role cannot see."),
        },
    )
    def get(self, request, id: str) -> HttpResponse:
        return _json(case_bundle(self.get_case()), FHIR_JSON)


PHENOPACKET_CHUNK = 200  # cases per round trip; each chunk runs the case query's prefetches once


def phenopackets(request, cases):
    """(case, Phenopacket) of the cases, read from a server-side cursor chunk by chunk, with prefetched rows."""
    for case in cases.with_children().iterator(chunk_size=PHENOPACKET_CHUNK):
        yield case, case_phenopacket(case, case_url=case_url(request, case))


class PhenopacketLinesView(CaseExportBase):
    @extend_schema(
        summary="Phenopackets of the filtered cases, one JSON object per line",
        responses={(200, NDJSON): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request) -> StreamingHttpResponse:
        cases = self.filter_queryset(self.get_queryset())
        lines = (json.dumps(packet, ensure_ascii=False) + "\n" for _, packet in phenopackets(request, cases))
        return streaming(lines, f"{NDJSON}; charset=utf-8", "phenopackets.jsonl")


class PhenopacketZipView(CaseExportBase):
    @extend_schema(
        summary="Phenopackets of the filtered cases, one JSON file per case in a ZIP archive",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request) -> StreamingHttpResponse:
        cases = self.filter_queryset(self.get_queryset())
        entries = (
            ZipEntry(f"{case.registry_id}.json", [json.dumps(packet, ensure_ascii=False, indent=2)])
            for case, packet in phenopackets(request, cases)
        )
        return streaming(zip_stream(entries), "application/zip", "phenopackets.zip")
