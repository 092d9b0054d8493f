"""Admin for reference data added by the extraction work: importing sources from citation files, HPO terms."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .citations import CitationError, parse_citations, sources_from_citations
from .models import HpoRelease, HpoTerm

MAX_CITATION_FILE_BYTES = 2 * 1024 * 1024


class CitationFileForm(forms.Form):
    file = forms.FileField(help_text="A RIS, BibTeX, PubMed/MEDLINE (text) or PubMed XML export of one or more papers.")


class CitationImportMixin:
    """An 'Import citation file' page on the Source changelist: each citation becomes a source with its abstract
    as text, unless a duplicate exists (same DOI, PMID or title): then the existing source is offered instead."""

    def get_urls(self):
        return [
            path(
                "import-citation/",
                self.admin_site.admin_view(self.import_citation_view),
                name="cases_source_import_citation",
            ),
            *super().get_urls(),
        ]

    def import_citation_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CitationFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > MAX_CITATION_FILE_BYTES:
                    raise CitationError(f"The file is {upload.size} bytes; the limit is {MAX_CITATION_FILE_BYTES}.")
                citations = parse_citations(upload.read(), upload.name)
                created, offered = sources_from_citations(citations)
            except (CitationError, ValidationError) as exc:
                form.add_error("file", "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
            else:
                for source in created:
                    url = reverse("admin:cases_source_change", args=[source.pk])
                    messages.success(request, format_html('Created source <a href="{}">{}</a>.', url, source))
                for citation, duplicates in offered:
                    links = format_html_join(
                        ", ",
                        '<a href="{}">{}</a>',
                        ((reverse("admin:cases_source_change", args=[d.pk]), str(d)) for d in duplicates),
                    )
                    messages.warning(
                        request,
                        format_html("“{}” is already in the registry: {}. Not created again.", citation.title, links),
                    )
                return HttpResponseRedirect(reverse("admin:cases_source_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import a citation file",
        }
        return TemplateResponse(request, "admin/cases/source/import_citation.html", context)


@admin.register(HpoTerm)
class HpoTermAdmin(admin.ModelAdmin):
    list_display = ("id", "label", "obsolete", "phenotypic_abnormality")
    list_filter = ("obsolete", "phenotypic_abnormality")
    search_fields = ("id", "label")
    readonly_fields = ("id", "label", "synonyms", "parents", "obsolete", "phenotypic_abnormality")

    def has_add_permission(self, request) -> bool:
        return False  # loaded from the ontology file by manage.py load_hpo

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        release = HpoRelease.objects.first()
        extra_context = {**(extra_context or {}), "title": f"HPO terms ({release or 'not loaded: manage.py load_hpo'})"}
        return super().changelist_view(request, extra_context)
