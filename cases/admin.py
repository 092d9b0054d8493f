from django.contrib import admin

from .models import Agent, Case, Finding, Intervention, LabResult, Mechanism, Metastasis, Source, Tumor

TIMING_FIELDS = ("sequence", "day", "day_is_approximate", "timing_text")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "journal", "year", "doi", "pmid")
    list_filter = ("kind", "year")
    search_fields = ("title", "citation", "doi", "pmid", "journal")


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "category", "drug_class", "atc_code")
    list_filter = ("category", "drug_class")
    search_fields = ("name", "code", "atc_code", "drug_class")


class TumorInline(admin.StackedInline):
    model = Tumor
    extra = 0
    fields = (
        ("site", "icdo3_topography", "laterality"),
        ("histology", "icdo3_morphology", "grade"),
        ("hormone_receptor", "er", "pr", "her2"),
        ("tnm_reported", "stage_text"),
        TIMING_FIELDS,
        "quote",
    )


class MetastasisInline(admin.TabularInline):
    model = Metastasis
    extra = 0
    fields = ("site", "detail", "present", *TIMING_FIELDS, "quote")


class MechanismInline(admin.TabularInline):
    model = Mechanism
    extra = 0
    autocomplete_fields = ("suspect_agent",)
    fields = ("rank", "code", "certainty", "evidence", "suspect_agent", "action_taken", "dechallenge", "rechallenge")


class FindingInline(admin.TabularInline):
    model = Finding
    extra = 0
    fields = ("label", "hpo_id", "present", *TIMING_FIELDS, "quote")


class LabResultInline(admin.TabularInline):
    model = LabResult
    extra = 0
    fields = (
        *TIMING_FIELDS,
        "analyte",
        "comparator",
        "value",
        "value_high",
        "unit",
        "qualitative",
        "ref_low",
        "ref_high",
        "follows_intervention",
        "quote",
    )


class InterventionInline(admin.StackedInline):
    model = Intervention
    extra = 0
    autocomplete_fields = ("agent",)
    fields = (
        TIMING_FIELDS,
        ("end_day", "end_day_is_approximate", "end_timing_text"),
        ("category", "agent", "agent_text", "regimen"),
        ("intent", "status"),
        ("dose_text", "dose_value", "dose_unit", "route"),
        ("schedule", "cycles", "cycles_text", "duration_days", "duration_text"),
        ("calcium_response", "tumor_response"),
        ("adverse_events", "adverse_events_text"),
        "quote",
        "notes",
    )


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("registry_id", "title", "disorder", "status", "updated_at")
    list_filter = ("status", "disorder", "mechanisms__code", "tumors__site")
    search_fields = ("title", "source__citation", "source__doi", "source__pmid", "source__title")
    autocomplete_fields = ("source",)
    readonly_fields = ("version", "created_at", "updated_at", "created_by", "updated_by")
    fieldsets = (
        ("Source", {"fields": ("source", "case_label", "title")}),
        ("Patient", {"fields": ("age_years", "sex", "menopausal_status")}),
        ("Disorder", {"fields": ("disorder", "index_event", "summary")}),
        (
            "Outcome",
            {
                "fields": (
                    "vital_status",
                    ("follow_up_days", "follow_up_text"),
                    "calcium_outcome",
                    "tumor_response",
                    "outcome_notes",
                )
            },
        ),
        (
            "Curation",
            {"fields": ("status", "curation_notes", "version", "created_by", "created_at", "updated_by", "updated_at")},
        ),
    )
    inlines = (TumorInline, MetastasisInline, MechanismInline, FindingInline, LabResultInline, InterventionInline)

    @admin.display(description="ID", ordering="id")
    def registry_id(self, obj: Case) -> str:
        return obj.registry_id

    def save_model(self, request, obj: Case, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
