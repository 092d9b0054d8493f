"""HTTP concerns only: roles, ETags and preconditions, status codes. Writes go through cases.services."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.paginator import Paginator as DjangoPaginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from cases import reading, stored_documents, workflow
from cases.document import AgentSerializer, CaseSerializer, SourceSerializer
from cases.models import REGISTRY_ID_PATTERN, Agent, Case, Source, parse_registry_id
from cases.rows import ROW_KINDS
from cases.services import (
    case_delete,
    case_save_document,
    case_transition,
    reference_check_change,
)
from cases.vocabularies import CurationStatus

from . import vocabularies
from .conditional import list_etag, not_modified, state_etag
from .errors import PreconditionFailed, PreconditionRequired, RequestTooLarge
from .filters import CaseFilter
from .parsers import JSONParser
from .permissions import RolePermissions
from .query_parameters import KnownQueryParameters, requested_fields
from .throttling import AnonThrottle, TokenThrottle, TokenUsernameThrottle, UserThrottle

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the case as last read (e.g. "v3"). Missing: 428; stale: 412.',
)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text='Path of the field, e.g. "labs[2].unit".')
    reason = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


READ_ERRORS = {
    401: error("Not signed in."),
    403: error("Your role may not do this."),
    404: error("No such case (or a draft, for an analyst)."),
    429: error("Too many requests."),
}
BAD_REQUEST = {
    400: OpenApiResponse(ValidationErrorSerializer, description="Invalid input: every field path with its reason.")
}
QUERY_ERRORS = {**BAD_REQUEST, **READ_ERRORS}  # GETs whose filters or parameters can be invalid
WRITE_ERRORS = {
    **READ_ERRORS,
    **BAD_REQUEST,
    413: error("Request body too large."),
    415: error("Not JSON."),
}
DUPLICATE_CASE = {
    409: OpenApiResponse(
        ValidationErrorSerializer,
        description="A likely duplicate: a case of the same paper and patient exists (same source, age, sex and "
        "disorder; or same DOI or PMID, age and sex). `detail` names it (CCR-...); `errors` lists every unconfirmed "
        'warning, the "duplicate" one included. Send the case again with "duplicate" in `confirm` to create it all '
        "the same. (Other warnings alone are a 400.)",
    )
}
DUPLICATE_SOURCE = {
    409: OpenApiResponse(
        ValidationErrorSerializer,
        description="A likely duplicate: a source with the same DOI, the same PMID or (nearly) the same title exists "
        '(`detail` names it). Send `"confirm": ["duplicate"]` to write it all the same.',
    )
}
VERSION_ERRORS = {
    **WRITE_ERRORS,
    412: error("The case changed since it was read (stale If-Match)."),
    428: error("If-Match header missing."),
}


class BodySizeLimitMixin:
    """413 for bodies over REGISTRY_API_MAX_BODY_BYTES (or the view's max_body_bytes), before anything reads them."""

    max_body_bytes: int | None = None

    def initial(self, request, *args, **kwargs):
        limit = self.max_body_bytes or settings.REGISTRY_API_MAX_BODY_BYTES
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > limit:
            raise RequestTooLarge(f"The request body is {int(length)} bytes; the limit is {limit}.")
        super().initial(request, *args, **kwargs)


class CountedPaginator(DjangoPaginator):
    """Django's paginator, told the number of objects when it is already known instead of asking COUNT(*)."""

    def __init__(self, object_list, per_page, count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        if count is not None:
            self.count = count  # Paginator.count is a cached_property: the instance's value stands for the query


class CasePagination(PageNumberPagination):
    """Numbered pages (`page`), or keyset pages for deep scans (`cursor`: the cases after that id, in id order).

    A deep numbered page makes the database walk every case before it; `cursor=0` starts a scan whose pages cost
    the same at any depth (the response's `next` carries the next cursor, `previous` is null). The envelope is
    the same in both modes."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"
    cursor = None
    known_count: int | None = None  # the number of cases, when the caller has already counted them (list_etag)

    @property
    def django_paginator_class(self):
        return functools.partial(CountedPaginator, count=self.known_count)

    def paginate_queryset(self, queryset, request, view=None):
        value = request.query_params.get(self.cursor_query_param)
        if value is None:
            self.cursor = None
            return super().paginate_queryset(queryset, request, view)
        if not value.isdigit():
            raise serializers.ValidationError({"cursor": ["A cursor is a case's number: 0 to start, then `next`."]})
        if self.page_query_param in request.query_params:
            raise serializers.ValidationError({"cursor": ["Give page or cursor, not both."]})
        if request.query_params.get("ordering", "id") != "id":
            raise serializers.ValidationError({"cursor": ["Cursor pages go in id order: leave out ordering."]})
        self.request, self.cursor, size = request, int(value), self.get_page_size(request)
        self.count = queryset.count() if self.known_count is None else self.known_count
        rows = list(queryset.filter(pk__gt=self.cursor).order_by("pk")[: size + 1])
        last = rows[size - 1] if len(rows) > size else None
        self.next_cursor = None if last is None else last["id"] if isinstance(last, dict) else last.pk
        return rows[:size]

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset pages for deep scans: 0 for the first page, then the `next` link. Not with "
                "`page`.",
                "schema": {"type": "integer", "minimum": 0},
            },
        ]

    def get_paginated_response(self, data):
        if self.cursor is None:
            return super().get_paginated_response(data)
        url = self.request.build_absolute_uri()
        next_url = replace_query_param(url, self.cursor_query_param, self.next_cursor) if self.next_cursor else None
        return Response({"count": self.count, "next": next_url, "previous": None, "results": data})


def etag(case: Case) -> str:
    return f'"v{case.version}"'


def _plain_json(request) -> bool:
    """Whether the response is JSONRenderer's without options (no `indent`): the bytes a case's document is stored
    as. The browsable API and indented JSON are rendered as usual."""
    return type(request.accepted_renderer) is JSONRenderer and "indent" not in request.accepted_media_type


ROW_RULES = (
    "A list sent replaces the case's rows of that kind: a row with its `id` keeps the id but gets exactly the fields "
    "sent (the others take their defaults, as in a new row); a row without `id` is added; rows left out are deleted. "
    "An id may appear once per list. A change to a published case sends it back to review; a request that changes "
    "nothing keeps the case's status and version (ETag)."
)


FIELDS = OpenApiParameter(
    "fields",
    OpenApiTypes.STR,
    description="Only these top-level keys of each case document, comma-separated (e.g. id,title,patient); "
    "an unknown key is a 400.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="An ETag you hold: 304 Not Modified (no body) while it is still current.",
)
NOT_MODIFIED = {304: OpenApiResponse(description="Not modified since the ETag sent in If-None-Match.")}
QUERY_ERROR = {400: OpenApiResponse(ValidationErrorSerializer, description="An unknown query parameter or field.")}


@extend_schema_view(
    list=extend_schema(
        summary="List cases (filterable, paginated); a weak ETag fingerprints the filtered cases",
        parameters=[FIELDS, IF_NONE_MATCH],
        responses={200: CaseSerializer(many=True), **NOT_MODIFIED, **QUERY_ERROR},
    ),
    retrieve=extend_schema(
        summary="One case as a nested document; ETag header carries its version",
        parameters=[FIELDS, IF_NONE_MATCH],
        responses={200: CaseSerializer, **NOT_MODIFIED, **QUERY_ERROR, **READ_ERRORS},
    ),
    create=extend_schema(
        summary="Create a whole case in one atomic request",
        responses={201: CaseSerializer, **WRITE_ERRORS, **DUPLICATE_CASE},
    ),
    update=extend_schema(
        summary="Replace a whole case (absent lists become empty)",
        description=ROW_RULES,
        parameters=[IF_MATCH],
        responses={200: CaseSerializer, **VERSION_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change part of a case (absent lists are kept)",
        description=ROW_RULES,
        parameters=[IF_MATCH],
        responses={200: CaseSerializer, **VERSION_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a draft or in-review case",
        parameters=[IF_MATCH],
        responses={204: None, 409: error("Published: retract instead."), **VERSION_ERRORS},
    ),
)
class CaseViewSet(KnownQueryParameters, BodySizeLimitMixin, viewsets.ModelViewSet):
    serializer_class = CaseSerializer
    permission_classes = [IsAuthenticated, RolePermissions]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    pagination_class = CasePagination
    lookup_value_regex = REGISTRY_ID_PATTERN
    queryset = Case.objects.none()  # for the schema and permissions; get_queryset gives the real one

    def get_queryset(self) -> QuerySet[Case]:
        return Case.objects.visible_to(self.request.user).with_children()

    def known_query_parameters(self) -> set[str]:
        reads = self.action in ("list", "retrieve")
        return super().known_query_parameters() | ({"fields"} if reads else set())

    def _fields(self) -> list[str] | None:
        return requested_fields(self.request, reading.readable_keys())

    # Reading goes through cases.reading: the serializer's document from `.values()` rows, without its per-field
    # machinery (issue 16); tests/cases/test_reading.py holds the two equal. Writes answer with the serializer.

    def list(self, request, *args, **kwargs) -> Response:
        fields = self._fields()
        cases = Case.objects.visible_to(request.user)
        filtered = any(name in request.query_params for name in CaseFilter.base_filters if name != "ordering")
        if filtered or "ordering" in request.query_params:  # else the FilterSet changes nothing (~8 ms to build)
            cases = self.filter_queryset(cases)
        statuses = None if workflow.can_see_unpublished(request.user) else [CurationStatus.PUBLISHED]
        state = None if filtered else state_etag(statuses)  # None on SQLite
        tag, self.paginator.known_count = state or list_etag(cases)
        if unchanged := not_modified(request, tag):
            return unchanged
        if fields is None and _plain_json(request):
            return self._stored_page(cases, tag)
        data = reading.render(self.paginate_queryset(reading.case_rows(cases, fields)), fields)
        response = self.get_paginated_response(data)
        response["ETag"] = tag
        return response

    def _stored_page(self, cases: QuerySet[Case], tag: str) -> HttpResponse:
        """A page of whole documents as JSON: the page's stored documents (rendered and stored where not current,
        cases.stored_documents) spliced into the envelope JSONRenderer makes, so the bytes are the ones it would
        make of the rendered page (tests/cases/test_stored_documents.py)."""
        states = self.paginate_queryset(stored_documents.case_states(cases))
        documents = stored_documents.documents_json(cases, states)
        envelope = JSONRenderer().render(self.get_paginated_response([]).data)
        if not envelope.endswith(b'"results":[]}'):  # the envelope's last key, which the documents go into
            raise RuntimeError(f"Unexpected list envelope: {envelope[-80:]!r}")
        body = b"".join((envelope[: -len(b"[]}")], b"[", b",".join(documents), b"]}"))
        return HttpResponse(body, content_type=JSONRenderer.media_type, headers={"ETag": tag})

    def get_object(self) -> Case:
        pk = parse_registry_id(self.kwargs["pk"])
        case = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        if case is None:
            raise Http404
        self.check_object_permissions(self.request, case)
        return case

    def _expected_version(self, case: Case) -> int:
        header = self.request.headers.get("If-Match")
        if not header or header.strip() == "*":
            raise PreconditionRequired()
        tags = {t.strip().removeprefix("W/") for t in header.split(",")}
        if etag(case) not in tags:
            raise PreconditionFailed(
                f"You edited version {', '.join(sorted(tags))}; the case is now {etag(case)}. Reload and try again."
            )
        return case.version

    def _document(self, case: Case, status_code: int = 200) -> Response:
        return Response(self.get_serializer(case).data, status=status_code, headers={"ETag": etag(case)})

    def retrieve(self, request, *args, **kwargs) -> Response | HttpResponse:
        fields = self._fields()
        pk = parse_registry_id(self.kwargs["pk"])
        if pk is None:
            raise Http404
        cases = Case.objects.visible_to(request.user).filter(pk=pk)
        if fields is None and _plain_json(request):
            return self._stored(request, cases)
        row = reading.case_rows(cases, fields).first()
        if row is None:
            raise Http404
        self.check_object_permissions(request, row)
        tag = f'"v{row["version"]}"'  # etag(case)
        if unchanged := not_modified(request, tag):
            return unchanged
        return Response(reading.render([row], fields)[0], headers={"ETag": tag})

    def _stored(self, request, cases: QuerySet[Case]) -> Response | HttpResponse:
        """The whole document as JSON: its stored bytes, what JSONRenderer makes of it (cases.stored_documents)."""
        state = stored_documents.case_state(cases)
        if state is None:
            raise Http404
        self.check_object_permissions(request, state)
        if unchanged := not_modified(request, f'"v{state["version"]}"'):
            return unchanged
        found = stored_documents.case_json(cases, state)
        if found is None:
            raise Http404
        version, body = found
        return HttpResponse(body, content_type=JSONRenderer.media_type, headers={"ETag": f'"v{version}"'})

    def create(self, request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = case_save_document(data=serializer.validated_data, user=request.user, reason="Created through the API")
        response = self._document(case, status.HTTP_201_CREATED)
        response["Location"] = f"{request.path}{case.registry_id}/"
        return response

    def update(self, request, *args, **kwargs) -> Response:
        partial = kwargs.pop("partial", False)
        case = self.get_object()
        expected = self._expected_version(case)
        serializer = self.get_serializer(case, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            for relation in ROW_KINDS:
                if relation != "episodes":  # a PUT without them keeps them (the short form writes the first)
                    data.setdefault(relation, [])
        case = case_save_document(
            data=data, user=request.user, case=case, expected_version=expected, reason="Changed through the API"
        )
        return self._document(case)

    def destroy(self, request, *args, **kwargs) -> Response:
        case = self.get_object()
        case_delete(case=case, user=request.user, expected_version=self._expected_version(case))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Move a case through the curation workflow",
        parameters=[IF_MATCH],
        request=inline_serializer("Transition", {"name": serializers.ChoiceField(choices=[*workflow.TRANSITIONS])}),
        responses={
            200: CaseSerializer,
            403: error("Your role may not do this."),
            **VERSION_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None) -> Response:
        case = self.get_object()
        expected = self._expected_version(case)
        name = request.data.get("name") if isinstance(request.data, dict) else None
        if not isinstance(name, str):
            raise serializers.ValidationError({"name": [f"Give a transition: {', '.join(workflow.TRANSITIONS)}."]})
        case_transition(case=case, name=name, user=request.user, expected_version=expected)
        return self._document(self.get_object())


class ReferenceWriteMixin:
    """Sources and agents shown by published cases change only by a reviewer; an agent's category and code stay
    while rows use them (cases.services.reference_check_change: 403 / 400)."""

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            reference_check_change(obj=serializer.instance, changes=serializer.validated_data, user=self.request.user)
            serializer.save()


SOURCE_UPDATE = "A source shown by a published case can be changed by a reviewer only (403)."


@extend_schema_view(
    list=extend_schema(
        description="Analysts see only the sources that a published case uses.",
        responses={200: SourceSerializer(many=True), **QUERY_ERRORS},
    ),
    retrieve=extend_schema(responses={200: SourceSerializer, **READ_ERRORS}),
    create=extend_schema(responses={201: SourceSerializer, **WRITE_ERRORS, **DUPLICATE_SOURCE}),
    update=extend_schema(
        description=SOURCE_UPDATE, responses={200: SourceSerializer, **WRITE_ERRORS, **DUPLICATE_SOURCE}
    ),
    partial_update=extend_schema(
        description=SOURCE_UPDATE, responses={200: SourceSerializer, **WRITE_ERRORS, **DUPLICATE_SOURCE}
    ),
)
class SourceViewSet(
    KnownQueryParameters,
    BodySizeLimitMixin,
    ReferenceWriteMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    serializer_class = SourceSerializer
    permission_classes = [IsAuthenticated, RolePermissions]
    queryset = Source.objects.all()
    pagination_class = CasePagination

    def get_queryset(self) -> QuerySet[Source]:
        return Source.objects.visible_to(self.request.user)


AGENT_UPDATE = (
    "An agent shown by a published case can be changed by a reviewer only (403); its category cannot change while "
    "interventions use it, nor its code while any row refers to it (400)."
)


@extend_schema_view(
    list=extend_schema(responses={200: AgentSerializer(many=True), **QUERY_ERRORS}),
    retrieve=extend_schema(responses={200: AgentSerializer, **READ_ERRORS}),
    create=extend_schema(responses={201: AgentSerializer, **WRITE_ERRORS}),
    update=extend_schema(description=AGENT_UPDATE, responses={200: AgentSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(description=AGENT_UPDATE, responses={200: AgentSerializer, **WRITE_ERRORS}),
)
class AgentViewSet(
    KnownQueryParameters,
    BodySizeLimitMixin,
    ReferenceWriteMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    serializer_class = AgentSerializer
    permission_classes = [IsAuthenticated, RolePermissions]
    queryset = Agent.objects.all()
    lookup_field = "code"
    pagination_class = None


class VocabularyView(KnownQueryParameters, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Every controlled list with codes, labels and external codes",
        responses=vocabularies.VocabulariesSerializer,
    )
    def get(self, request) -> Response:
        return Response(vocabularies.all_vocabularies())


class TokenView(BodySizeLimitMixin, ObtainAuthToken):
    """POST username and password for a token; DELETE (authenticated by that token) revokes it.

    Password attempts are throttled per client (REGISTRY_API_RATES["token"]); ObtainAuthToken itself has none.
    """

    throttle_classes = [AnonThrottle, UserThrottle, TokenThrottle, TokenUsernameThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]  # ObtainAuthToken's, with the API's JSON parser
    max_body_bytes = 16 * 1024  # a username and a password: a larger body is refused before it is parsed
    throttle_scope = "token"
    throttle_username_scope = "token_username"

    @extend_schema(
        summary="Get an API token",
        description="Throttled per client: too many attempts in a minute are refused with 429.",
        auth=[{}],  # no authentication needed: the username and password are the credentials
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={
            200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
            **BAD_REQUEST,
            401: error("A token sent in the Authorization header is not valid (send none to get one)."),
            413: error("Request body too large (over 16 KiB)."),
            415: error("Neither JSON nor a form."),
            429: error("Too many attempts from this client or for this username."),
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    @extend_schema(
        summary="Revoke your API token",
        request=None,
        responses={204: None, 401: error("Not signed in."), 429: error("Too many requests.")},
    )
    def delete(self, request, *args, **kwargs) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
