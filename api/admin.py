"""The admin's releases: reviewers cut a release from the "Cut a release" page (the add form: a version and
notes); a release is then read-only. It lives in api/ because the release holds the API's documents."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from cases import jobs
from cases.models import Release

from .releases import cut_release, start_release


class CutReleaseForm(forms.ModelForm):
    class Meta:
        model = Release
        fields = ["version", "notes"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    form = CutReleaseForm
    list_display = ["version", "released_on", "case_count", "size"]
    readonly_fields = [
        "version",
        "notes",
        "released_on",
        "cut_at",
        "cut_by",
        "case_count",
        "size",
        "sha256",
        "download",
    ]

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, release: Release) -> str:
        return (
            f"{release.size_bytes / 1e6:.1f} MB"
            if release.size_bytes >= 100_000
            else f"{release.size_bytes / 1e3:.1f} kB"
        )

    @admin.display(description="Archive")
    def download(self, release: Release):
        return format_html('<a href="/api/v1/releases/{}/download/">{}</a>', release.version, release.file_name)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and request.user.has_perm("cases.view_case")

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff and request.user.has_perm("cases.publish_case")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Cut a release of the published cases"}
        if request.method == "POST" and jobs.queue_available() and self.has_add_permission(request):
            form = CutReleaseForm(request.POST)
            if form.is_valid():  # else the page shows the form's errors as usual
                try:
                    job = start_release(user=request.user, **form.cleaned_data)
                except ValidationError as error:
                    messages.error(request, "; ".join(error.messages))
                    return HttpResponseRedirect(request.path)
                messages.info(
                    request,
                    f"Release {form.cleaned_data['version']} is being cut by the task worker (job {job.id}); it "
                    "appears in this list when the archive is written.",
                )
                return HttpResponseRedirect(reverse("admin:cases_release_changelist"))
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:  # raised by the cut, after the form was valid: nothing was written
            messages.error(request, "; ".join(error.messages))
            return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        release = cut_release(user=request.user, version=obj.version, notes=obj.notes)
        # The admin logs and redirects with the object it saved: give it the record just written.
        obj.__dict__.update({f.attname: getattr(release, f.attname) for f in Release._meta.concrete_fields})
        obj._state.adding = False
