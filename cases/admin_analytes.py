"""Admin for the analyte table (cases/analytes.py): what lab results measure, their units, factors and LOINC codes.

An analyte's code never changes once saved (lab results store it). The calcium analytes and albumin drive corrected
calcium, CTCAE grades and the stored calcium summaries: their code, units and factor are shown, not edited, and they
cannot be deleted. No analyte that lab results use can be deleted, nor lose a unit they are stored in.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html_join
from simple_history.admin import SimpleHistoryAdmin

from . import measures
from .analytes import Analyte, AnalyteLoinc, split_list
from .models import LabResult

PROTECTED_FIELDS = ("code", "conventional_unit", "si_unit", "si_factor")


class AnalyteLoincInline(admin.StackedInline):  # stacked: the source is long, a table would scroll sideways
    model = AnalyteLoinc
    extra = 0
    fields = ("code", "units", "specimens", "source", "position")
    formfield_overrides = {models.CharField: {"widget": forms.TextInput(attrs={"size": 30})}}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "source":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 60})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    verbose_name_plural = "LOINC codes (each with the units of the property it names)"


class AnalyteForm(forms.ModelForm):
    class Meta:
        model = Analyte
        fields = (
            "code",
            "label",
            "synonyms",
            "position",
            "conventional_unit",
            "si_unit",
            "si_factor",
            "printed_units",
            "plausible_max",
            "sources",
        )
        widgets = {
            "synonyms": forms.Textarea(attrs={"rows": 4, "cols": 40}),
            "sources": forms.Textarea(attrs={"rows": 4, "cols": 60}),
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        stored = Analyte.objects.get(pk=self.instance.pk)
        kept = {
            cleaned.get("conventional_unit", stored.conventional_unit),
            cleaned.get("si_unit", stored.si_unit),
            *split_list(cleaned.get("printed_units", stored.printed_units) or ""),
        }
        used = set(
            LabResult.objects.filter(analyte=stored.code).exclude(unit="").values_list("unit", flat=True).distinct()
        )
        lost = sorted(used - kept)
        if lost:
            raise ValidationError(
                f"Lab results of {stored.label} are stored in {', '.join(lost)}: keep the unit (as SI, conventional "
                "or printed unit)."
            )
        return cleaned


@admin.register(Analyte)
class AnalyteAdmin(SimpleHistoryAdmin):
    form = AnalyteForm
    inlines = [AnalyteLoincInline]
    list_display = ("label", "code", "units_shown", "factor_shown", "loinc_shown", "plausible_shown", "lab_count")
    search_fields = ("code", "label", "synonyms")
    actions = None  # no bulk delete: each deletion is checked on its own page
    fieldsets = (
        (None, {"fields": ("code", "label", "synonyms", "position")}),
        (
            "Units",
            {
                "fields": ("conventional_unit", "si_unit", "si_factor", "printed_units", "plausible_max", "bounds"),
                "description": "SI value = conventional value x SI factor. A value in a printed unit is stored as "
                "printed and never converted. The calcium analytes and albumin drive corrected calcium, CTCAE grades "
                "and the stored calcium summaries: their units and factor are shown, not edited.",
            },
        ),
        ("Sources", {"fields": ("sources",)}),
    )

    def get_queryset(self, request):
        labs = LabResult.objects.filter(analyte=OuterRef("code")).order_by().values("analyte")
        n = Subquery(labs.annotate(n=Count("id")).values("n"))
        return super().get_queryset(request).prefetch_related("loinc_codes").annotate(lab_n=Coalesce(n, 0))

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("bounds",)
        if obj.is_protected:
            return (*PROTECTED_FIELDS, "bounds")
        return ("code", "bounds")

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.is_protected or LabResult.objects.filter(analyte=obj.code).exists()):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="units")
    def units_shown(self, obj: Analyte) -> str:
        units = " ↔ ".join(obj.units)
        printed = obj.printed_unit_list
        return f"{units} (also as printed: {', '.join(printed)})" if printed else units

    @admin.display(description="SI factor", ordering="si_factor")
    def factor_shown(self, obj: Analyte) -> str:
        return format(obj.si_factor.normalize(), "f")

    @admin.display(description="LOINC")
    def loinc_shown(self, obj: Analyte) -> str:
        codes = obj.loinc_codes.all()
        if not codes:
            return "none confirmed"
        return "; ".join(f"{c.code} ({c.units}{', ' + c.specimens if c.specimens else ''})" for c in codes)

    @admin.display(description="plausible max")
    def plausible_shown(self, obj: Analyte) -> str:
        if obj.plausible_max is None:
            return "no bound"
        return f"{format(obj.plausible_max.normalize(), 'f')} {obj.conventional_unit}"

    @admin.display(description="lab results", ordering="lab_n")
    def lab_count(self, obj: Analyte) -> int:
        return obj.lab_n

    @admin.display(description="bounds per unit")
    def bounds(self, obj: Analyte | None):
        """The plausible maximum in each converted unit (a printed unit has none), as saved."""
        if obj is None or obj.pk is None:
            return "Shown once saved."
        a = obj.as_measure()
        if a.plausible_max is None:
            return "No bound in any unit."
        rows = [
            (unit, format(measures.round_for_unit(a.plausible_max_in(unit), unit).normalize(), "f")) for unit in a.units
        ]
        return format_html_join(", ", "at most {1} {0}", rows)
