"""Cohort analytics endpoints: the case-list filters pick the cohort; cases.analytics does the arithmetic
in the database."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from cases import analytics
from cases.models import Case

from .filters import CaseFilter
from .permissions import RolePermissions
from .query_parameters import KnownQueryParameters
from .views import QUERY_ERRORS


class CohortView(KnownQueryParameters, GenericAPIView):
    permission_classes = [IsAuthenticated, RolePermissions]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()
    pagination_class = None

    def cohort(self):
        return self.filter_queryset(Case.objects.visible_to(self.request.user))


def _choice(name: str, allowed: list[str], default: str, request) -> str:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise serializers.ValidationError({name: [f"Use one of: {', '.join(allowed)}."]})
    return value


class SummaryView(CohortView):
    @extend_schema(
        summary="Cohort counts and distributions (same filters as the case list)",
        responses={200: OpenApiTypes.OBJECT, **QUERY_ERRORS},
    )
    def get(self, request) -> Response:
        return Response(analytics.summary(self.cohort()))


class InterventionsView(CohortView):
    extra_query_parameters = ("by",)

    @extend_schema(
        summary="Interventions per agent, drug class and intent: use, calcium response, calcium before/after",
        parameters=[
            OpenApiParameter(
                "by",
                str,
                enum=["mechanism"],
                required=False,
                description="Also split each table by the case's main mechanism.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **QUERY_ERRORS},
    )
    def get(self, request) -> Response:
        by = request.query_params.get("by")
        if by not in (None, "", "mechanism"):
            raise serializers.ValidationError({"by": ["Use by=mechanism or leave it out."]})
        cohort = self.cohort()
        tables = analytics.intervention_tables(cohort, by_mechanism=by == "mechanism")
        return Response({f"by_{group}": table for group, table in tables.items()})


class TrajectoriesView(CohortView):
    """Capped: at most analytics.TRAJECTORIES_PER_PAGE cases per response, in id order; `page` reads on. The
    headers tell the whole: X-Total-Count (cases in the cohort) and Link rel="next" while more pages follow."""

    extra_query_parameters = ("align", "page")

    @extend_schema(
        summary="Per case: the calcium series (mg/dL) and intervention spans, aligned for plotting",
        parameters=[
            OpenApiParameter(
                "align",
                str,
                enum=["index", "first_calcium_directed"],
                required=False,
                description="Day 0 = the index event (default) or the start of the first "
                "administered calcium-directed intervention.",
            ),
            OpenApiParameter(
                "page",
                int,
                required=False,
                description=f"At most {analytics.TRAJECTORIES_PER_PAGE} cases per response, in id order: page 1 "
                "(default) holds the first. X-Total-Count gives the cohort's size; Link rel=\"next\" the next page.",
            ),
        ],
        responses={200: {"type": "array", "items": {"type": "object"}}, **QUERY_ERRORS},  # one object per case
    )
    def get(self, request) -> Response:
        align = _choice("align", ["index", "first_calcium_directed"], "index", request)
        page = request.query_params.get("page", "1")
        if not page.isdigit() or int(page) < 1:
            raise serializers.ValidationError({"page": ["A page number: 1, 2, ..."]})
        size, cohort = analytics.TRAJECTORIES_PER_PAGE, self.cohort().order_by("pk")
        total = cohort.count()
        start = (int(page) - 1) * size
        # A page past the end is empty without asking the database (an OFFSET beyond bigint would be a 500).
        response = Response(analytics.trajectories(cohort[start : start + size], align) if start < total else [])
        response["X-Total-Count"] = str(total)
        if start + size < total:
            following = replace_query_param(request.build_absolute_uri(), "page", int(page) + 1)
            response["Link"] = f'<{following}>; rel="next"'
        return response
