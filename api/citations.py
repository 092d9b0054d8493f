"""POST /api/v1/sources/import/: sources from a citation file's content (cases.citations), duplicates offered."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.citations import CitationError, parse_citations, sources_from_citations
from cases.document import SourceSerializer

from .views import READ_ERRORS, BodySizeLimitMixin, ValidationErrorSerializer, error


class CanAddSources(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("cases.add_source")


class CitationImportRequestSerializer(serializers.Serializer):
    content = serializers.CharField(
        trim_whitespace=False,
        help_text="The citation file's text: RIS, BibTeX, PubMed/MEDLINE or PubMed XML (recognised by its content).",
    )

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in sorted(unknown)})
        return attrs


class DuplicateSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="The citation's title.")
    existing = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the sources it matches.")


class CitationImportResponseSerializer(serializers.Serializer):
    created = SourceSerializer(many=True)
    duplicates = DuplicateSerializer(many=True)


RIS_EXAMPLE = (
    "TY  - JOUR\nTI  - A case of hypercalcemia\nPY  - 2020\nDO  - 10.1000/example\nAB  - A 67-year-old...\nER  - \n"
)


class CitationImportView(BodySizeLimitMixin, APIView):
    permission_classes = [IsAuthenticated, CanAddSources]

    @extend_schema(
        summary="Create sources from a citation file",
        description="Each paper becomes a source with its abstract as `text`, unless a source with the same DOI, "
        "PMID or (nearly) the same title exists: then it is listed under `duplicates` and not created. All or "
        "nothing. Curators and reviewers. 201 when something was created, else 200.",
        request=CitationImportRequestSerializer,
        responses={
            201: CitationImportResponseSerializer,
            200: CitationImportResponseSerializer,
            400: OpenApiResponse(ValidationErrorSerializer, description="Unreadable file or an invalid citation."),
            413: error("Request body too large."),
            415: error("Not JSON."),
            **READ_ERRORS,
        },
        examples=[OpenApiExample("A RIS file", value={"content": RIS_EXAMPLE}, request_only=True)],
    )
    def post(self, request) -> Response:
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ['Send a JSON object: {"content": "..."}.']})
        body = CitationImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            citations = parse_citations(body.validated_data["content"])
        except CitationError as exc:
            raise serializers.ValidationError({"content": str(exc)}) from exc
        created, offered = sources_from_citations(citations)
        data = {
            "created": SourceSerializer(created, many=True).data,
            "duplicates": [{"title": c.title, "existing": [s.pk for s in found]} for c, found in offered],
        }
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
