"""POST /api/v1/extract/: proposals from a pasted text (cases/extraction.py through cases.proposals). Reads the
vocabularies, writes nothing."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.extraction import KINDS, looks_english
from cases.proposals import propose

from .views import READ_ERRORS, BodySizeLimitMixin, ValidationErrorSerializer, error


class CanReadCases(BasePermission):
    """Any registry role (curator, reviewer, analyst: all may view cases)."""

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("cases.view_case")


class ExtractRequestSerializer(serializers.Serializer):
    text = serializers.CharField(
        trim_whitespace=False, help_text="The source's text (English), e.g. a case report pasted from a PDF."
    )

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in sorted(unknown)})
        return attrs

    def validate_text(self, text: str) -> str:
        if not text.strip():
            raise serializers.ValidationError("The text is empty: paste the source's text.")
        if not looks_english(text):
            raise serializers.ValidationError(
                "The text does not look like English: proposals are drawn only from English case reports."
            )
        return text


class ProposalSerializer(serializers.Serializer):
    # A string, not an enum: drf-spectacular would name it "Kind" beside Source.kind's enum.
    kind = serializers.CharField(help_text="Which rows the fields are for: " + ", ".join(KINDS) + ".")
    fields = serializers.DictField(
        help_text="The row's fields in the case document's shape (labs[], interventions[], ...; patient: age_years, "
        "sex); only what the text gives."
    )
    span = serializers.ListField(
        child=serializers.IntegerField(), min_length=2, max_length=2, help_text="[start, end) in the text sent."
    )
    quote = serializers.CharField(help_text="text[start:end], verbatim.")
    timing = serializers.DictField(
        allow_null=True,
        help_text="The sentence's timing phrase: text, span, and either day (a printed day offset) or anchor and "
        "offset_days from it (not from day 0), approximate.",
    )


class ExtractResponseSerializer(serializers.Serializer):
    proposals = ProposalSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Proposals per kind.")
    messages = serializers.ListField(child=serializers.CharField(), help_text="Notes about the text, e.g. no numbers.")


EXAMPLE_TEXT = (
    "A 67-year-old woman presented with lethargy. Serum calcium was 12.4 mg/dL (normal range, 8.9–10.1 mg/dL). "
    "She received zoledronic acid 4 mg intravenously."
)


class ExtractView(BodySizeLimitMixin, APIView):
    """Every role may propose from a text (curators and reviewers draft cases; analysts script it): nothing is
    written, and the vocabularies read are public reference data."""

    permission_classes = [IsAuthenticated, CanReadCases]

    @extend_schema(
        summary="Propose rows from a source text",
        description="Patient, tumor, metastases (present or explicitly absent), findings coded to HPO, labs with "
        "units and reference ranges, and interventions with dose, route, cycles and duration, each with the span "
        "of its evidence. Nothing is stored. Any signed-in role. Bodies over the API's limit get 413.",
        request=ExtractRequestSerializer,
        responses={
            200: ExtractResponseSerializer,
            400: OpenApiResponse(ValidationErrorSerializer, description="Empty, non-English text or unknown field."),
            413: error("Request body too large."),
            415: error("Not JSON."),
            **READ_ERRORS,
        },
        examples=[
            OpenApiExample("A short report", value={"text": EXAMPLE_TEXT}, request_only=True),
            OpenApiExample(
                "Its proposals",
                response_only=True,
                value={
                    "proposals": [
                        {
                            "kind": "patient",
                            "fields": {"age_years": 67, "sex": "female"},
                            "span": [2, 19],
                            "quote": "67-year-old woman",
                            "timing": None,
                        },
                        {
                            "kind": "finding",
                            "fields": {"label": "Lethargy", "hpo_id": "HP:0001254", "present": True},
                            "span": [35, 43],
                            "quote": "lethargy",
                            "timing": None,
                        },
                        {
                            "kind": "lab",
                            "fields": {
                                "analyte": "calcium_total",
                                "specimen": "serum",
                                "value": 12.4,
                                "unit": "mg/dL",
                                "ref_low": 8.9,
                                "ref_high": 10.1,
                            },
                            "span": [45, 104],
                            "quote": "Serum calcium was 12.4 mg/dL (normal range, 8.9–10.1 mg/dL)",
                            "timing": None,
                        },
                        {
                            "kind": "intervention",
                            "fields": {
                                "category": "drug",
                                "agent": "zoledronic_acid",
                                "agent_text": "zoledronic acid",
                                "dose_text": "4 mg",
                                "dose_value": 4,
                                "dose_unit": "mg",
                            },
                            "span": [119, 134],
                            "quote": "zoledronic acid",
                            "timing": None,
                        },
                    ],
                    "counts": {"patient": 1, "finding": 1, "lab": 1, "intervention": 1},
                    "messages": [],
                },
            ),
        ],
    )
    def post(self, request) -> Response:
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ['Send a JSON object: {"text": "..."}.']})
        body = ExtractRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        text = body.validated_data["text"]
        proposals = propose(text)
        messages = []
        if not re.search(r"\d", text):
            messages.append(
                "The text contains no numbers: no lab values, ages, doses or durations can be proposed from it."
            )
        if not proposals:
            messages.append("Nothing in the text matched the registry's analytes, agents, sites or HPO terms.")
        counts: dict[str, int] = {}
        for p in proposals:
            counts[p["kind"]] = counts.get(p["kind"], 0) + 1
        return Response({"proposals": proposals, "counts": counts, "messages": messages})
