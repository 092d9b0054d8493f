"""Releases through the API and the admin: the API's document builders for cases.releases, the list and the
downloads (/api/v1/releases/), `manage.py release` and the admin's "Cut a release" page (api/admin.py)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rq.job import Job

from cases import jobs
from cases.document import CaseSerializer
from cases.models import Case, Release
from cases.releases import DocumentBuilders, release_cut, release_path

from .interop.fhir import canonical_base, case_bundle
from .interop.phenopacket import case_phenopacket


def _phenopacket(case: Case) -> dict:
    # A release is read outside the registry: the case's address is its canonical one, not a request's host.
    return case_phenopacket(case, case_url=f"{canonical_base()}/api/v1/cases/{case.registry_id}/")


BUILDERS = DocumentBuilders(
    case_document=lambda case: dict(CaseSerializer(case).data), phenopacket=_phenopacket, fhir_bundle=case_bundle
)


def cut_release(*, user, version: str, notes: str = "") -> Release:
    """release_cut with the API's documents: what `manage.py release` and the admin run."""
    return release_cut(user=user, version=version, notes=notes, builders=BUILDERS)


def start_release(*, user, version: str, notes: str = "") -> Release | Job:
    """The admin's cut: in the request without REDIS_URL (the release), else queued for the worker (the job).
    The version is checked before it is queued, so a taken or malformed one is refused at once."""
    if not jobs.queue_available():
        return cut_release(user=user, version=version, notes=notes)
    Release(version=version, notes=notes).full_clean(
        exclude=["released_on", "cut_at", "cut_by", "case_count", "size_bytes", "sha256"]
    )
    return jobs.enqueue(run_release, version, notes, user.pk, user=user, progress=f"cutting release {version}")


def run_release(version: str, notes: str, user_id: int) -> dict:
    """The job: a refused cut (its version taken meanwhile, say) is an outcome, not a failed job."""
    user = get_user_model().objects.get(pk=user_id)
    try:
        release = cut_release(user=user, version=version, notes=notes)
    except ValidationError as exc:
        return {"release": None, "errors": exc.messages}
    return {"release": release.version, "errors": []}


class ReleaseSerializer(serializers.ModelSerializer):
    cut_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    file_name = serializers.CharField(read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "version",
            "released_on",
            "cut_at",
            "cut_by",
            "case_count",
            "file_name",
            "size_bytes",
            "sha256",
            "notes",
            "download",
        ]

    def get_download(self, release: Release) -> str:
        path = f"/api/v1/releases/{release.version}/download/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Frozen releases of the published cases (cut by reviewers in the admin or with `manage.py release`)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ReleaseSerializer
    queryset = Release.objects.select_related("cut_by")
    lookup_field = "version"
    lookup_value_regex = r"[0-9A-Za-z][0-9A-Za-z.\-]*"

    @extend_schema(
        summary="The release archive (ZIP)",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY), 404: None},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, version: str):
        release = self.get_object()
        path = release_path(release)
        if not path.exists():
            raise Http404("The release's file is missing from the release directory.")
        response = FileResponse(
            path.open("rb"), as_attachment=True, filename=release.file_name, content_type="application/zip"
        )
        response["Digest"] = f"sha-256={release.sha256}"
        return response
