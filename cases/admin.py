"""The curators' admin: one page per case, validated inlines, derived measures, chart, workflow, history."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.forms.models import BaseInlineFormSet, ModelChoiceIteratorValue
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join, json_script
from simple_history.admin import SimpleHistoryAdmin

from . import admin_analytes, analytes, measures, quality, quotes, workflow  # noqa: F401  (admin_analytes registers)
from .admin_proposals import ProposalsMixin
from .admin_reference import CitationImportMixin
from .anchors import AnchorCycle, Timing, intervention_days
from .citations import LikelySourceDuplicate, check_source_duplicates
from .course_chart import calcium_course, plain_number
from .document import ImportFailed, confirm_in_documents, export_documents
from .history import RevertRefused, case_changes, case_revert
from .hpo import hpo_lookup
from .models import (
    REGISTRY_ID_PREFIX,
    Agent,
    Case,
    DoseStep,
    Episode,
    Finding,
    Intervention,
    LabResult,
    Mechanism,
    Metastasis,
    Source,
    Tumor,
    parse_registry_id,
)
from .rows import CASE_SERVER_FIELDS, QUOTE_PLACE, RowKind, row_kind
from .services import (
    NeedsConfirmation,
    NotDeletable,
    VersionConflict,
    case_delete,
    case_edit,
    case_transition,
    lab_links_write,
    reference_check_change,
)
from .vocabularies import MechanismAgreement, MechanismCode, TumorSite, mechanism_contradiction
from .warnings import CaseWarning
from .workspace import error_summary, field_name, pending_warnings, row_label, transitions_for


def mechanism_label(code: str | None) -> str:
    """A mechanism in words ("Humoral (PTHrP)"), never its code."""
    if not code:
        return "—"
    return str(MechanismCode(code).label) if code in MechanismCode.values else code


class MissingVersion(Exception):
    """A form that acts on a case did not post the case version the user saw."""

    def __init__(self) -> None:
        super().__init__(
            "The page did not say which version of the case you saw, so nothing was done: reload it and try again."
        )


def posted_version(request) -> int:
    """The case version the user's page showed (the `version` field it posts), or MissingVersion."""
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        raise MissingVersion from None


class ReferenceAdmin(SimpleHistoryAdmin):
    """Sources and agents: the API's rules for changing them (services.reference_check_change), as form errors."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change, **kwargs)

        class ReferenceForm(base):
            def clean(self) -> dict:
                cleaned = super().clean()
                if self.instance.pk is None:
                    return cleaned
                # Against the stored row, not the form's initial data: simple_history's revert form starts
                # from an old version, so its "unchanged" fields may be changes.
                stored = type(self.instance).objects.filter(pk=self.instance.pk).first()
                if stored is None:
                    return cleaned
                try:
                    reference_check_change(obj=stored, changes=cleaned, user=request.user)
                except PermissionDenied as exc:
                    raise ValidationError(str(exc)) from exc
                return cleaned

        return ReferenceForm


@admin.register(Source)
class SourceAdmin(CitationImportMixin, ReferenceAdmin):
    list_display = ("title", "kind", "journal", "year", "doi", "pmid")
    list_filter = ("kind", "year")
    search_fields = ("title", "citation", "doi", "pmid", "journal")

    def get_queryset(self, request):  # the source list and the case page's source autocomplete
        return super().get_queryset(request) & Source.objects.visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        """A new source (or a changed DOI, PMID or title) that cases.citations.source_duplicates finds in the registry
        is refused, naming the existing source, with a checkbox to save it all the same (shown once a save was
        tried: a page just opened has nothing to confirm)."""
        if kwargs.get("fields"):  # the fieldsets of a posted page name the checkbox, which the model does not have
            kwargs["fields"] = [name for name in kwargs["fields"] if name != "confirm_duplicate"]
        base = super().get_form(request, obj, change, **kwargs)
        if request.method != "POST":
            return base

        class SourceForm(base):
            confirm_duplicate = forms.BooleanField(
                label="Different paper",
                required=False,
                help_text="Tick to save although the registry has a source that looks like the same paper.",
            )

            def clean(self) -> dict:
                cleaned = super().clean()
                identity = ("doi", "pmid", "title")
                if self.instance.pk is not None and not any(name in self.changed_data for name in identity):
                    return cleaned
                try:
                    check_source_duplicates(
                        **{name: cleaned.get(name) or "" for name in identity},
                        confirm=["duplicate"] if cleaned.get("confirm_duplicate") else [],
                        exclude=self.instance.pk,
                    )
                except LikelySourceDuplicate as exc:
                    names = "; ".join(f"{s} (id {s.pk})" for s in exc.found[:5])
                    raise ValidationError(
                        f"The registry already has this paper: {names}. Use that source, or tick "
                        "“Different paper” and save again."
                    ) from exc
                return cleaned

        return SourceForm


@admin.register(Agent)
class AgentAdmin(ReferenceAdmin):
    list_display = ("name", "code", "category", "drug_class", "atc_code")
    list_filter = ("category", "drug_class")
    search_fields = ("name", "code", "atc_code", "drug_class", "synonyms")


class NamedRowFormSet(BaseInlineFormSet):
    """Repeats each row's errors above the inline, naming the row ("Lab result 3 (Serum total calcium)")."""

    def clean(self) -> None:
        super().clean()
        named = []
        for n, form in enumerate(self.forms, start=1):
            if not form.errors or (self.can_delete and self._should_delete_form(form)):
                continue
            label = row_label(form, n)
            for field, errors in form.errors.items():
                field_label = field_name(form, field)
                for error in errors:
                    named.append(f"{label}, {field_label}: {error}")
        if named:
            raise ValidationError(named)


class LabFormSet(NamedRowFormSet):
    """A lab following an intervention added in the same save names an intervention row of the same POST that
    is not being deleted."""

    def clean(self) -> None:
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            for prefix in getattr(form, "new_interventions", ()):
                n = int(prefix.rsplit("-", 1)[1])
                try:
                    total = int(self.data.get("interventions-TOTAL_FORMS", 0))
                except ValueError:
                    total = 0
                if n >= total or not self.data.get(f"{prefix}-category"):
                    form.add_error("follows", "The intervention it follows is not on the page any more.")
                elif self.data.get(f"{prefix}-DELETE"):
                    form.add_error("follows", "The intervention it follows is being deleted.")
        super().clean()


class MechanismFormSet(NamedRowFormSet):
    """A mechanism must fit the disorder on the form (domain.md's table), or its later episode's (issue 13)."""

    def _later_episodes(self) -> dict[int, str]:
        if not hasattr(self, "_later"):
            episodes = list(self.instance.episodes.values_list("pk", "disorder")) if self.instance.pk else []
            self._later = dict(episodes[1:])
        return self._later

    def clean(self) -> None:
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data.get("code") or (self.can_delete and self._should_delete_form(form)):
                continue
            # The case form's disorder is the first episode's; a mechanism of a later episode fits that one's.
            later = self._later_episodes() if form.instance.episode_id else {}
            disorder = later.get(form.instance.episode_id, self.instance.disorder)
            reason = mechanism_contradiction(data["code"], disorder, data.get("certainty", ""))
            if reason and "code" not in form.errors:
                form.add_error("code", reason)
        super().clean()


class RowAutocompleteSelect(AutocompleteSelect):
    """An autocomplete that labels its selected option from `known` (filled by CaseRowForm from the row's own
    related object, loaded with the rows) instead of querying it: Django's widget queries once per row."""

    known: dict[str, str] | None = None

    def optgroups(self, name, value, attr=None):
        selected = [str(v) for v in value if str(v) not in self.choices.field.empty_values]
        if not selected or self.known is None or any(v not in self.known for v in selected):
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        for v in selected:
            options.append(self.create_option(name, v, self.known[v], True, len(options)))
        return [(None, options, 0)]


class PlainDecimalInput(forms.TextInput):
    """A decimal as people write it: 12, 15.1, 8.7 (the database keeps four places: 12.0000)."""

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", **(attrs or {})})

    def format_value(self, value):
        return plain_number(value) if isinstance(value, Decimal) else super().format_value(value)


# Column labels of the one-line rows (the full names stay in help texts and error messages).
SHORT_LABELS = {
    "comparator": "< >",
    "value_high": "High",
    "qualitative": "Word",
    "ref_low": "Ref. low",
    "ref_high": "Ref. high",
    "agent_text": "As reported",
    "hpo_id": "HPO id",
    "day": "Day",
    "end_day": "End day",
    "suspect_agent": "Suspect drug",
}

# Filled by the page, not typed: the position on the timeline (up/down buttons) and the quote's place in the
# source (selecting the passage).
PAGE_FILLED_FIELDS = ("sequence", "quote_start", "quote_end")


class CaseRowForm(forms.ModelForm):
    """A case's inline row; tells its autocomplete widgets the related object already loaded with the row."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # column labels above one-line rows
        super().__init__(*args, **kwargs)
        for name, label in SHORT_LABELS.items():
            if name in self.fields:
                self.fields[name].label = label
        for name in PAGE_FILLED_FIELDS:
            if name in self.fields:
                self.fields[name].widget = forms.HiddenInput(attrs={"class": f"row-{name.replace('_', '-')}"})
        for name, field in self.fields.items():
            if isinstance(field, forms.DecimalField):
                field.widget = PlainDecimalInput(attrs={"class": "vDecimalField"})
            widget = getattr(field.widget, "widget", field.widget)  # inside the admin's RelatedFieldWidgetWrapper
            if isinstance(widget, RowAutocompleteSelect):
                model_field = self.instance._meta.get_field(name)
                related = getattr(self.instance, name) if model_field.is_cached(self.instance) else None
                if related is not None:
                    widget.known = {str(related.pk): field.label_from_instance(related)}

    def clean_quote(self) -> str:
        """Browsers send a textarea's line breaks as CRLF: a quote selected across a line of a source whose text
        breaks lines with LF alone is given back those line breaks, so that it is the source's text verbatim."""
        quote = self.cleaned_data.get("quote") or ""
        if "\r\n" in quote and getattr(self.instance, "case_id", None):
            source = self.instance.case.source  # the page's case, shared by its rows: read once
            if source is not None and "\r\n" not in (source.text or ""):
                quote = quote.replace("\r\n", "\n")
        return quote


# A lab may follow an intervention added in the same save: the page (new_interventions.js) offers each added
# intervention row in the labs' "follows intervention" as this token, naming the row's form prefix.
NEW_INTERVENTION = re.compile(r"^new:(interventions-\d+)$")


class FollowsInterventionsField(forms.TypedMultipleChoiceField):
    """The case's saved interventions a lab follows (several for a combination), and tokens of interventions added
    in the same save (checked by LabFormSet). Choices are set per request by LabResultInline."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            label="Follows interventions",
            help_text="The interventions this result is reported after, where the source links them (hold Ctrl or "
            "⌘ to choose several).",
            widget=forms.SelectMultiple(attrs={"size": 3}),
            **kwargs,
        )

    def valid_value(self, value) -> bool:
        return bool(NEW_INTERVENTION.match(str(value))) or super().valid_value(value)


def _analyte_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *analytes.choices()]


def _unit_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *analytes.unit_choices()]


class LabResultForm(CaseRowForm):
    new_interventions: tuple[str, ...] = ()  # the form prefixes of interventions added in the same save
    follows = FollowsInterventionsField()
    # The analyte table's codes and units, read when the form is shown (the table is edited in the admin).
    analyte = forms.ChoiceField(choices=_analyte_choices, help_text=LabResult._meta.get_field("analyte").help_text)
    unit = forms.ChoiceField(
        choices=_unit_choices, required=False, help_text=LabResult._meta.get_field("unit").help_text
    )

    def __init__(self, *args, follows_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["follows"]
        field.choices = list(follows_choices)
        if self.instance.pk is not None:
            self.initial.setdefault("follows", [str(pk) for pk in self.instance.followed_ids()])
        tokens = [t for t in (self.data.getlist(self.add_prefix("follows")) if self.is_bound else [])]
        for token in tokens:
            if NEW_INTERVENTION.match(token):
                field.choices = [*field.choices, (token, "The intervention added on this page")]  # shown on errors

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        follows = cleaned.get("follows") or []
        # Tokens: linked when the interventions are saved (CaseAdmin.save_formset).
        self.new_interventions = tuple(NEW_INTERVENTION.match(v)[1] for v in follows if NEW_INTERVENTION.match(v))
        self.followed_pks = {int(v) for v in follows if not NEW_INTERVENTION.match(v)}
        # A lab entered only as a word ("elevated") keeps no unit: the page preselects one when the analyte is
        # chosen (lab_units.js), before the curator knows there will be no number.
        if all(cleaned.get(name) is None for name in ("value", "value_high", "ref_low", "ref_high")):
            cleaned["unit"] = ""
        return cleaned


# The form's names for fields of a row kind (cases.rows) it enters otherwise: a lab's links are one multiple choice.
ADMIN_NAMES = {"follow_links": "follows"}


def _row_fieldsets(kind: RowKind, leave_out: tuple[str, ...] = ()) -> tuple:
    """An inline row from its row kind (cases.rows): the essentials on one line (led by the row's hidden place on the
    timeline), the rest of its fields under "details", the quote with its place in the source."""
    kind.check_names(leave_out, "The admin's leave_out")
    shown = [name for name in kind.fields if name not in leave_out]
    line = sorted((name for name in shown if name in kind.essentials), key=lambda name: name != "sequence")
    details = [ADMIN_NAMES.get(name, name) for name in shown if name not in kind.essentials]
    details = [part for name in details for part in ((name, *QUOTE_PLACE) if name == "quote" else (name,))]
    return ((None, {"fields": tuple(line)}), ("Details", {"fields": tuple(details)}))


class CaseRowInline(admin.StackedInline):
    """Inline rows of a case, validated with named errors, rendered without a query per row.

    case_intervention_fields: foreign keys to one of the case's saved interventions (a dose step's intervention, a
    row's anchor), offered from one list read once per request."""

    case_intervention_fields: tuple[str, ...] = ("anchor",)

    form = CaseRowForm
    formset = NamedRowFormSet
    template = "admin/cases/edit_inline/compact.html"
    extra = 0

    def get_queryset(self, request):
        # The rows' autocomplete choices (agents) come with the rows (see RowAutocompleteSelect), and so does
        # what their __str__ shows in the inline's header (an intervention's agent).
        return super().get_queryset(request).select_related(*self.autocomplete_fields)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.case_intervention_fields:
            case_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = Intervention.objects.filter(case_id=case_id).select_related("agent")
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            field.label_from_instance = intervention_choice_label
            if not hasattr(request, "_case_interventions"):  # the choices ModelChoiceIterator gives, from one read
                empty = [("", field.empty_label)] if field.empty_label is not None else []
                request._case_interventions = empty + [
                    (ModelChoiceIteratorValue(i.pk, i), intervention_choice_label(i))
                    for i in case_interventions(request, case_id)
                ]
            field.choices = request._case_interventions  # validation still uses the queryset
            return field
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = RowAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class RowInline(CaseRowInline):
    """A case's rows of one kind (cases.rows gives their fields, whether they are timed, and the agent loaded with
    them)."""

    leave_out: tuple[str, ...] = ()  # fields of the row kind this page does not show
    timed: bool  # rows placed on the case timeline by `sequence` (assigned by the page, not typed)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        kind = row_kind(cls.model)
        cls.fieldsets = _row_fieldsets(kind, cls.leave_out)
        cls.timed = kind.timed
        cls.autocomplete_fields = kind.related


class TumorInline(RowInline):
    model = Tumor


class MetastasisInline(RowInline):
    model = Metastasis


class EpisodeFormSet(NamedRowFormSet):
    """The later episodes: each starts after the first (the case's disorder above) on the case's timeline."""

    def clean(self) -> None:
        first = (
            Episode.objects.filter(case=self.instance).order_by("sequence", "id").values_list("pk", "sequence").first()
            if self.instance.pk
            else None
        )
        start = first[1] if first else 1
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or (self.can_delete and self._should_delete_form(form)):
                continue
            if data.get("sequence") is not None and data["sequence"] <= start and "sequence" not in form.errors:
                form.add_error(
                    "sequence",
                    f"A later episode starts after the first (the case's disorder above, at timeline position "
                    f"{start}): give it a later position.",
                )
        super().clean()


class EpisodeInline(RowInline):
    """Calcium-disorder episodes after the first (issue 13): the first is the case's disorder and calcium outcome on
    the case form; its mechanisms and theirs are in the mechanisms' table, each naming its episode."""

    model = Episode
    formset = EpisodeFormSet
    leave_out = ("mechanisms",)
    verbose_name = "later calcium-disorder episode"
    verbose_name_plural = "later calcium-disorder episodes (the first is the case's disorder and outcome)"

    def get_queryset(self, request):
        first = Episode.objects.filter(case=OuterRef("case")).order_by("sequence", "id").values("pk")[:1]
        return super().get_queryset(request).exclude(pk=Subquery(first))


class MechanismInline(RowInline):
    model = Mechanism
    formset = MechanismFormSet

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name != "episode":
            return super().formfield_for_foreignkey(db_field, request, **kwargs)
        # The case's episodes, read once per request; left empty, a mechanism is the first episode's.
        case_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        kwargs["queryset"] = Episode.objects.filter(case_id=case_id)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        field.required = False
        field.empty_label = "1. (the case's disorder)"
        field.label_from_instance = lambda episode: episode.get_disorder_display()
        if not hasattr(request, "_case_episodes"):  # numbered in timeline order: "2. Hypocalcemia"
            empty, *episodes = field.choices
            request._case_episodes = [empty, *((v, f"{n}. {label}") for n, (v, label) in enumerate(episodes, 1))]
        field.choices = request._case_episodes
        return field


class FindingInline(RowInline):
    model = Finding

    class Media:
        js = ("cases/hpo_lookup.js",)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "label":  # typing a label offers HPO terms (hpo_lookup.js); choosing one fills the id
            field.widget.attrs.update({"data-hpo-lookup": reverse("admin:cases_case_hpo_terms"), "autocomplete": "off"})
        return field


class LabResultInline(RowInline):
    model = LabResult
    form = LabResultForm
    formset = LabFormSet
    leave_out = ("specimen", "notes")  # not on the case page (they never were): entered through the API

    class Media:
        js = ("cases/lab_units.js", "cases/new_interventions.js")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("follow_links")

    def get_formset(self, request, obj=None, **kwargs):
        """Every lab row's "follows interventions" offers the case's interventions, read once per request."""
        choices = [
            (str(i.pk), intervention_choice_label(i))
            for i in (case_interventions(request, obj.pk) if obj is not None and obj.pk else ())
        ]
        formset = super().get_formset(request, obj, **kwargs)
        form = formset.form
        formset.form = type(form.__name__, (form,), {"__init__": _with_choices(form.__init__, choices)})
        return formset


def case_interventions(request, case_id) -> list[Intervention]:
    """The case's saved interventions with their agents, read once per request: offered to every lab's "follows
    interventions", to the dose steps and to every row's "timed from" (each formset's form class asks)."""
    if case_id is None:
        return []
    read = request.__dict__.setdefault("_case_intervention_rows", {})
    if str(case_id) not in read:
        read[str(case_id)] = list(Intervention.objects.filter(case_id=case_id).select_related("agent"))
    return read[str(case_id)]


def intervention_choice_label(intervention: Intervention) -> str:
    """An intervention as offered to a lab, a dose step or a row timed from it: two of the same drug differ by
    their place on the timeline."""
    day = f", day {intervention.day}" if intervention.day is not None else ""
    return f"{intervention} (timeline {intervention.sequence}{day})"


def _with_choices(init, choices):
    def __init__(self, *args, **kwargs):
        init(self, *args, follows_choices=choices, **kwargs)

    return __init__


class DoseStepInline(CaseRowInline):
    """The dose steps of the case's interventions (a titration), each naming its intervention: a sub-form of the
    interventions, saved with the case. An intervention added on the page can be chosen once the case is saved."""

    model = DoseStep
    timed = False
    verbose_name = "dose step"
    fieldsets = (
        (None, {"fields": ("intervention", "position", "dose_text", "value", "unit", "day")}),
        ("Details", {"fields": ("day_is_approximate", "timing_text")}),
    )

    case_intervention_fields = ("intervention",)


class InterventionFormSet(NamedRowFormSet):
    """Interventions may be timed from each other, never in a circle (cases.anchors)."""

    def clean(self) -> None:
        timings = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or form.instance.pk is None or (self.can_delete and self._should_delete_form(form)):
                continue
            anchor = data.get("anchor")
            timings.append(Timing(form.instance.pk, None, False, anchor.pk if anchor else None, 0))
        try:
            intervention_days(timings)
        except AnchorCycle as exc:
            for form in self.forms:
                if form.instance.pk in exc.keys and "anchor" not in form.errors:
                    form.add_error("anchor", "These interventions are timed from each other in a circle.")
        super().clean()


class InterventionInline(RowInline):
    model = Intervention
    formset = InterventionFormSet
    leave_out = ("dose_steps",)  # entered in their own inline (DoseStepInline), each naming its intervention


class CaseForm(forms.ModelForm):
    """Carries the version the curator started from, so that a concurrent edit is refused, not overwritten."""

    edited_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Case
        exclude: list[str] = []

    # The warnings the curator confirms (cases.warnings): the admin's way of sending "confirm" with a document.
    confirm = forms.Field(label="Warnings", required=False, widget=forms.CheckboxSelectMultiple)
    pending_warnings: list[CaseWarning] = []  # set by CaseAdmin.get_form when the last Save raised warnings

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Required on change: without it a save could not be checked against a concurrent edit.
            self.fields["edited_version"].required = True
            self.fields["edited_version"].initial = self.instance.version
        # The checkboxes are drawn by the page's warning list at the top (change_form.html, workspace.pending_warnings),
        # one line per warning naming its row in words; the field only reads them.
        self.fields["confirm"].widget.choices = [(w.key, w.message) for w in self.pending_warnings]

    def clean(self):
        cleaned = super().clean()
        unticked = [w for w in self.pending_warnings if w.key not in (cleaned.get("confirm") or [])]
        if unticked:
            # On the (unrendered) confirm field, not the form: the warnings are listed once, at the top, with
            # their checkboxes; this error only keeps the form from saving.
            self.add_error("confirm", ValidationError("Tick each warning you mean.", code="unconfirmed"))
            return cleaned
        if not self.instance.pk:
            return cleaned
        edited = cleaned.get("edited_version")
        if edited is None:  # missing or not a number; the field is hidden, so say it for the whole form
            raise ValidationError(
                "This form did not say which version of the case you started from, so it was not saved: "
                "open the case again and redo your changes."
            )
        current = Case.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
        if current != edited:
            raise ValidationError(
                f"Someone else saved this case while you were editing it (you started from version {edited}; "
                f"it is now version {current}). Your changes were not saved: open the case again and redo them."
            )
        return cleaned


class MechanismAgreementFilter(admin.SimpleListFilter):
    title = "mechanism vs labs"
    parameter_name = "mechanism_agreement"

    def lookups(self, request, model_admin):
        return MechanismAgreement.choices

    def queryset(self, request, queryset):
        return queryset.filter(mechanism_agreement=self.value()) if self.value() else queryset


class CompletenessFilter(admin.SimpleListFilter):
    title = "reporting completeness (CARE)"
    parameter_name = "completeness_min"

    def lookups(self, request, model_admin):
        return [(str(n), f"at least {n}/6") for n in (6, 5, 4, 3)]

    def queryset(self, request, queryset):
        return queryset.filter(completeness_score__gte=int(self.value())) if self.value() else queryset


def share_rows(case: Case, inline_admin_formsets) -> None:
    """The case's rows as the page's inlines read them, handed to the case as if prefetched: the computed panel and
    chart (calcium_summary, mechanism_suggestions, completeness, the course chart) read prefetched rows, so each
    kind is read once for the page instead of again for them (the labs six times). The same rows in the same order
    (the models' ordering); only for opening the page: a POST's rows change before the panel is drawn."""
    cache = case.__dict__.setdefault("_prefetched_objects_cache", {})
    for inline in inline_admin_formsets:
        if inline.has_view_permission:
            formset = inline.formset
            cache.setdefault(formset.fk.remote_field.get_accessor_name(), formset.get_queryset())


def transition_action(name: str):
    transition = workflow.TRANSITIONS[name]
    permission = "publish" if transition.permission == "cases.publish_case" else "submit"

    @admin.action(description=f"{transition.label} (selected cases)", permissions=[permission])
    def run(modeladmin, request, queryset):
        done, refused = 0, []
        for pk in queryset.values_list("pk", flat=True):
            # A bulk action from the changelist has no edited version: the reviewer picked cases, not versions.
            # So each case is read inside its own transaction, and its transition is checked against the status
            # read there and claims the version read there (services.case_claim_version): a change saved after
            # that read makes the claim fail and is reported below, never overwritten. One refused case does not
            # undo the others.
            try:
                with transaction.atomic():
                    case = Case.objects.filter(pk=pk).first()
                    if case is None:
                        continue  # deleted since the changelist was shown
                    case_transition(case=case, name=name, user=request.user, expected_version=case.version)
                done += 1
            except (ValidationError, PermissionDenied, VersionConflict) as exc:
                message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
                refused.append(f"{Case(pk=pk).registry_id}: {message}")
        if done:
            modeladmin.message_user(request, f"{transition.label}: {done} case(s).", messages.SUCCESS)
        for message in refused:
            modeladmin.message_user(request, message, messages.ERROR)

    run.__name__ = f"action_{name}"
    return run


@admin.register(Case)
class CaseAdmin(ProposalsMixin, admin.ModelAdmin):
    form = CaseForm
    change_form_template = "admin/cases/case/change_form.html"
    change_list_template = "admin/cases/case/change_list.html"
    # The changelist counts the cases it lists (its paginator's COUNT), not also every case without the filters:
    # a second COUNT(*) over the registry (~20 ms at 100,000 cases, issue 16). A filtered list shows "Show all".
    show_full_result_count = False
    list_display = (
        "registry_id",
        "case_title",
        "tumor_site",
        "disorder",
        "main_mechanism_label",
        "labs_suggest",
        "peak_calcium",
        "grade",
        "care_score",
        "status",
        "updated",
    )
    list_filter = (
        "status",
        "disorder",
        "mechanisms__code",
        MechanismAgreementFilter,
        CompletenessFilter,
        "tumors__site",
        "tumors__hormone_receptor",
        "tumors__er",
        "tumors__pr",
        "tumors__her2",
        ("interventions__agent", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = (
        "title",
        "source__citation",
        "source__title",
        "source__doi",
        "source__pmid",
        "labs__quote",
        "interventions__quote",
        "findings__quote",
        "tumors__quote",
        "metastases__quote",
        "mechanisms__evidence",
    )
    autocomplete_fields = ("source",)
    readonly_fields = (*sorted(CASE_SERVER_FIELDS), "calcium_panel", "calcium_chart")
    fieldsets = (
        ("Source", {"fields": (("source", "case_label"), "title")}),
        ("Patient", {"fields": (("age_years", "sex", "menopausal_status"),)}),
        (
            "Disorder and mechanisms",
            {
                "fields": ("disorder", "index_event", "summary"),
                "description": "Mechanisms are entered in the table below.",
            },
        ),
        ("Calcium course (computed)", {"fields": ("calcium_panel", "calcium_chart")}),
        (
            "Outcome",
            {
                "fields": (
                    ("vital_status", "calcium_outcome", "tumor_response"),
                    ("follow_up_days", "follow_up_text"),
                    "outcome_notes",
                )
            },
        ),
        (
            "Curation",
            {
                "fields": (
                    "status",
                    "curation_notes",
                    "version",
                    ("created_by", "created_at"),
                    ("updated_by", "updated_at"),
                    "edited_version",
                ),
                "classes": ("collapse",),  # status and version are shown at the top of the page
            },
        ),
    )
    inlines = (
        *(EpisodeInline, TumorInline, MetastasisInline, MechanismInline, FindingInline, InterventionInline),
        DoseStepInline,
        LabResultInline,
    )
    actions = ["delete_selected"] + [transition_action(name) for name in workflow.TRANSITIONS]
    actions += ["export_json", "export_csv"]

    # --- changelist ---

    def get_queryset(self, request):
        first_tumor = Tumor.objects.filter(case=OuterRef("pk")).order_by("sequence", "id")
        main_mechanism = Mechanism.objects.recorded().filter(case=OuterRef("pk")).order_by("rank", "id")
        cases = super().get_queryset(request).visible_to(request.user)
        return cases.annotate(
            first_tumor_site=Subquery(first_tumor.values("site")[:1]),
            main_mechanism_code=Subquery(main_mechanism.values("code")[:1]),
        )

    @admin.display(description="ID", ordering="id")
    def registry_id(self, obj: Case) -> str:
        return obj.registry_id

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj: Case) -> str:
        return obj.updated_at.date().isoformat()

    @admin.display(description="Title", ordering="title")
    def case_title(self, obj: Case) -> str:
        return format_html('<span class="case-title" title="{}">{}</span>', obj.title, obj.title)

    @admin.display(description="Tumor site", ordering="first_tumor_site")
    def tumor_site(self, obj: Case) -> str:
        site = obj.first_tumor_site
        return str(TumorSite(site).label) if site in TumorSite.values else site or "—"

    @admin.display(description="Main mechanism", ordering="main_mechanism_code")
    def main_mechanism_label(self, obj: Case) -> str:
        # Not named main_mechanism: the admin would show the model's cached field of that name (a code).
        return mechanism_label(obj.main_mechanism_code)

    @admin.display(description="Labs suggest", ordering="suggested_mechanism")
    def labs_suggest(self, obj: Case) -> str:
        if obj.mechanism_agreement == MechanismAgreement.DISAGREE:
            return format_html(
                '<strong class="mechanism-disagrees" title="The lab pattern suggests another '
                'mechanism than the one recorded">⚠ {}</strong>',
                mechanism_label(obj.suggested_mechanism),
            )
        return mechanism_label(obj.suggested_mechanism)

    @admin.display(description="CARE", ordering="completeness_score")
    def care_score(self, obj: Case) -> str:
        return "—" if obj.completeness_score is None else f"{obj.completeness_score}/{len(quality.CARE_ITEMS)}"

    @admin.display(description="Peak Ca", ordering="peak_calcium_mg_dl")
    def peak_calcium(self, obj: Case) -> str:
        if obj.peak_calcium_mg_dl is None:
            return "—"
        return f"{obj.peak_calcium_comparator}{plain_number(obj.peak_calcium_mg_dl)} mg/dL"

    @admin.display(description="CTCAE", ordering="peak_ctcae_grade")
    def grade(self, obj: Case) -> str:
        return "—" if obj.peak_ctcae_grade is None else f"grade {obj.peak_ctcae_grade}"

    def get_search_results(self, request, queryset, search_term):
        """A registry id ("CCR-000004", "ccr-4") finds its case; anything else searches the usual fields."""
        term = search_term.strip()
        pk = parse_registry_id(term) if term[:3].upper() == REGISTRY_ID_PREFIX[:3] else None
        if pk is not None:
            return queryset.filter(pk=pk), False
        return super().get_search_results(request, queryset, search_term)

    # --- permissions for workflow actions ---

    def has_submit_permission(self, request) -> bool:
        return request.user.has_perm("cases.submit_case")

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm("cases.publish_case")

    # --- deleting: drafts and cases in review only, through services.case_delete ---

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and not workflow.is_deletable(obj.status):
            return False  # published and retracted cases stay in the registry: retract instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj: Case) -> None:
        # The delete page posts the version it showed: a case changed since then is not deleted.
        case_delete(case=obj, user=request.user, expected_version=posted_version(request))

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (MissingVersion, NotDeletable, VersionConflict) as exc:  # the deletion was rolled back
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:cases_case_change", args=[object_id]))

    @admin.action(description="Delete selected cases (drafts and cases in review)", permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Replaces Django's action of the same name: the same confirmation page, but only for the deletable
        cases, the others named and kept; each deletion goes through services.case_delete (the no-delete rule,
        a version claim, the deleting user in the history)."""
        cases = list(queryset)
        if not request.POST.get("post"):  # first step: the confirmation page
            for case in cases:
                if not workflow.is_deletable(case.status):
                    self.message_user(
                        request,
                        f"{case.registry_id} is {case.get_status_display().lower()} and cannot be deleted; "
                        "retract a published case instead.",
                        messages.ERROR,
                    )
            deletable = queryset.filter(pk__in=[c.pk for c in cases if workflow.is_deletable(c.status)])
            return django_delete_selected(self, request, deletable) if deletable.exists() else None
        deletable = [c for c in cases if workflow.is_deletable(c.status)]
        _, _, perms_needed, protected = self.get_deleted_objects(deletable, request)
        if perms_needed or protected:
            return django_delete_selected(self, request, queryset.filter(pk__in=[c.pk for c in deletable]))
        deleted = []
        for case in cases:
            registry_id = case.registry_id
            try:
                with transaction.atomic():
                    self.log_deletions(request, [case])
                    # No edited version here either (see transition_action): the version just read.
                    case_delete(case=case, user=request.user, expected_version=case.version)
                deleted.append(registry_id)
            except (NotDeletable, VersionConflict) as exc:
                self.message_user(request, f"{registry_id}: {exc}", messages.ERROR)
        if deleted:
            self.message_user(request, f"Deleted {len(deleted)} case(s): {', '.join(deleted)}.", messages.SUCCESS)
        return None

    # --- computed panel and chart (from cases.measures; nothing re-implemented here) ---

    def _summary(self, obj: Case) -> measures.CalciumSummary | None:
        if not obj.pk:
            return None
        if not hasattr(obj, "_admin_summary"):
            obj._admin_summary = obj.calcium_summary()
        return obj._admin_summary

    @admin.display(description="Derived measures")
    def calcium_panel(self, obj: Case) -> str:
        summary = self._summary(obj)
        if summary is None:
            return "Shown once the case is saved."
        rows = []
        extremes = [("Peak calcium", summary.peak), ("Nadir calcium", summary.nadir)]
        if summary.ionized_peak is not None:
            extremes += [
                ("Peak ionized calcium", summary.ionized_peak),
                ("Nadir ionized calcium", summary.ionized_nadir),
            ]
        for name, extreme in extremes:
            c = extreme.comparator if extreme else ""
            rows.append(
                (
                    name,
                    "—"
                    if extreme is None
                    else f"{c}{extreme.mg_dl.normalize():f} mg/dL = {c}{extreme.mmol_l.normalize():f} mmol/L "
                    f"({extreme.basis.replace('_', ' ')}{', censored' if c else ''})",
                )
            )
        corrected = [p for p in summary.points if p.basis == measures.CALCIUM_CORRECTED]
        rows.append(
            (
                "Corrected calcium",
                ", ".join(
                    f"{measures.round_for_unit(p.high_mg_dl, 'mg/dL').normalize():f} mg/dL"
                    f" = {measures.to_si(p.high_mg_dl, measures.CALCIUM_TOTAL, 'mg/dL').normalize():f} mmol/L"
                    for p in corrected
                )
                or "not computable (no albumin measured with a calcium value)",
            )
        )
        grades = [
            ("CTCAE hypercalcemia (peak)", summary.peak_grade),
            ("CTCAE hypocalcemia (nadir)", summary.nadir_grade),
        ]
        if summary.ionized_peak is not None:
            grades += [
                ("CTCAE hypercalcemia (ionized peak)", summary.ionized_peak_grade),
                ("CTCAE hypocalcemia (ionized nadir)", summary.ionized_nadir_grade),
            ]
        for name, grade in grades:
            if grade is None:
                rows.append((name, "—"))
            else:
                text = "not determinable" if grade.grade is None else f"grade {grade.grade}"
                rows.append(
                    (
                        name,
                        f"{text} — from {grade.basis.replace('_', ' ')}, limits: "
                        f"{grade.limit_basis.replace('_', ' ')}{'; ' + grade.note if grade.note else ''}",
                    )
                )
        n = summary.normalisation
        if n is None:
            normal = (
                "not assessable (no administered calcium-directed intervention followed by a calcium value whose "
                "place against the reference limit on the disorder's side is known)"
            )
        elif n.normalised:
            normal = "yes" + (f", after {n.days} days" if n.days is not None else " (days not given by the source)")
        else:
            normal = "no"
        rows.append(("Normalised after first calcium-directed intervention", normal))
        suggestions = obj.mechanism_suggestions()
        recorded = [m.code for m in obj.mechanisms.all() if m.is_recorded]
        agreement = quality.mechanism_agreement(recorded, suggestions)
        suggested = "; ".join(f"{mechanism_label(s.code)} ({s.rule})" for s in suggestions) or (
            "no rule applies to these labs"
        )
        verdicts: dict[str, str] = {  # keyed by the stored code
            MechanismAgreement.AGREE: "agrees with the recorded mechanism",
            MechanismAgreement.DISAGREE: "⚠ DISAGREES with the recorded mechanism ("
            + ", ".join(map(mechanism_label, recorded))
            + ")",
            MechanismAgreement.NO_SUGGESTION: "",
            MechanismAgreement.NO_MECHANISM: "no mechanism recorded",
        }
        verdict = verdicts[agreement]
        rows.append(("Mechanism suggested by the labs", f"{suggested}{' — ' + verdict if verdict else ''}"))
        completeness = obj.completeness()
        missing = ", ".join(quality.CARE_ITEMS[m] for m in completeness.missing) or "nothing"
        rows.append(
            ("Reporting completeness (CARE)", f"{completeness.score}/{len(quality.CARE_ITEMS)}; missing: {missing}")
        )
        return format_html(
            '<table class="calcium-panel">{}</table>', format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    @admin.display(description="Calcium course")
    def calcium_chart(self, obj: Case) -> str:
        summary = self._summary(obj)
        if summary is None:
            return "Shown once the case is saved."
        # The interventions the page's inline read, with their agents (share_rows), or read here with them.
        prefetched = "interventions" in getattr(obj, "_prefetched_objects_cache", {})
        data = calcium_course(
            summary,
            list(obj.interventions.all() if prefetched else obj.interventions.select_related("agent")),
            {lab.pk: lab for lab in obj.labs.all()},
        )
        if data["empty"]:
            return format_html(
                '<p id="calcium-course" class="calcium-course empty">{}</p>', "No calcium values to plot."
            )
        toggle = format_html_join(
            "",
            '<button type="button" class="button" data-unit="{}" aria-pressed="false">{}</button>',
            ((u, u) for u in (data.get("unit", "mg/dL"), data.get("other_unit", "mmol/L"))),
        )
        return format_html(
            '<div class="calcium-course-tools" id="calcium-course-units">Show in {}</div>'
            '<div id="calcium-course" class="calcium-course" role="img" aria-label="Calcium course"></div>{}',
            toggle,
            json_script(data, "calcium-course-data"),
        )

    # --- saving: version check, published cases back to review, derived measures ---

    def save_model(self, request, obj: Case, form, change: bool) -> None:
        """Nothing here: the case is saved with its rows in save_related, through the edit service (only there are
        the inline formsets known)."""

    def save_related(self, request, form, formsets, change) -> None:
        case = form.instance

        def write(case: Case) -> None:
            case.save()  # the case before its rows (cases.history relies on it)
            # Saves only the rows that changed; whether anything changed at all is case_edit's to decide.
            super(CaseAdmin, self).save_related(request, form, formsets, change)

        edit = case_edit(  # VersionConflict, NeedsConfirmation: see changeform_view
            case=case,
            user=request.user,
            change=write,
            expected_version=form.cleaned_data["edited_version"] if change else None,
            reason="Added in the admin" if not change else "Changed in the admin",
            confirm=form.cleaned_data.get("confirm") or (),
        )
        case.version, case.status = edit.case.version, edit.case.status
        case._admin_unchanged = not edit.changed

    def save_formset(self, request, form, formset, change) -> None:
        """The rows' history records the user and reason of the case's edit, as the case's does."""
        reason = getattr(form.instance, "_change_reason", None)
        instances = formset.save(commit=False)
        for row in [*formset.deleted_objects, *instances]:
            row._history_user, row._change_reason = request.user, reason
        # An intervention deleted in this save: the rows saved after it (labs, dose steps) still hold it as loaded.
        gone = request.__dict__.setdefault("_deleted_interventions", set())
        if formset.model is Intervention:
            gone.update(row.pk for row in formset.deleted_objects)
        for row in formset.deleted_objects:
            row.delete()
        for row in list(instances):
            if getattr(row, "anchor_id", None) in gone:  # as the database's SET NULL does for rows not on the form
                row.anchor = None
            if isinstance(row, DoseStep) and row.intervention_id in gone:
                instances.remove(row)  # deleted with its intervention
        # Labs may follow an intervention added in this save (LabResultForm.new_interventions, form prefixes): the
        # interventions' inline is saved before the labs' (CaseAdmin.inlines), keeping {form prefix: saved row}.
        saved_interventions = request.__dict__.setdefault("_saved_interventions", {})
        if formset.model is Mechanism and any(row.episode_id is None for row in instances):
            # A mechanism added here is the first episode's (the case form's disorder is the first episode's).
            first = form.instance.episodes.order_by("sequence", "id").first()
            if first is None:  # a case saved before it had episodes
                first = Episode.objects.create(
                    case=form.instance, disorder=form.instance.disorder, calcium_outcome=form.instance.calcium_outcome
                )
            for row in instances:
                if row.episode_id is None:
                    row.episode = first
        for row in instances:
            row.save()
        if formset.model is Intervention:
            saved_interventions.update({form.prefix: form.instance for form in formset.forms if form.instance.pk})
        if formset.model is LabResult:
            # The links of every lab on the page (those of the others stay as they are), as cases.services writes
            # a document's: only the links that change are written, with the edit's user and reason.
            deleted = {row.pk for row in formset.deleted_objects}
            shown = [f for f in formset.forms if f.instance.pk and f.instance.pk not in deleted and f.has_changed()]
            wanted = set()
            for f in shown:
                followed = set(getattr(f, "followed_pks", ()))
                followed |= {saved_interventions[p].pk for p in getattr(f, "new_interventions", ())}
                wanted |= {(f.instance.pk, i) for i in followed if i not in gone}  # not one deleted in this save
            if shown:
                lab_links_write(form.instance, wanted, labs={f.instance.pk for f in shown})
        formset.save_m2m()

    def response_change(self, request, obj: Case):
        if getattr(obj, "_admin_unchanged", False):
            self.message_user(request, f"Nothing was changed: {obj} stays as it was (version {obj.version}).")
            if "_continue" in request.POST:
                return HttpResponseRedirect(request.path)
            return HttpResponseRedirect(reverse("admin:cases_case_changelist"))
        return super().response_change(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except VersionConflict as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)
        except NeedsConfirmation as exc:
            # Nothing was saved (the edit was rolled back). Show the same posted form again, refused until the
            # curator ticks the warnings: get_form gives it the warnings, get_fieldsets their checkboxes on top.
            request._case_warnings = exc.warnings
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        pending = getattr(request, "_case_warnings", None)
        if pending:
            form = type(form.__name__, (form,), {"pending_warnings": pending})
        return form

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["analyte_units"] = {code: a.conventional_unit for code, a in measures.analytes().items()}
        if obj is not None:
            context["full_history_url"] = reverse("admin:cases_case_full_history", args=[obj.pk])
            context["transitions"] = transitions_for(request.user, obj) if obj.pk else []
        context["source_text"] = quotes.source_text_of(getattr(obj, "source", None) if obj is not None else None)
        if obj is not None and obj.pk and request.method == "GET":
            share_rows(obj, context["inline_admin_formsets"])
        context["error_summary"] = error_summary(context["adminform"], context["inline_admin_formsets"])
        context["pending_warnings"] = pending_warnings(
            context["adminform"].form, context["inline_admin_formsets"], getattr(request, "_case_warnings", None) or ()
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- history, revert, import, export ---

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/full-history/",
                self.admin_site.admin_view(self.full_history_view),
                name="cases_case_full_history",
            ),
            path(
                "<int:object_id>/revert/<int:history_id>/",
                self.admin_site.admin_view(self.revert_view),
                name="cases_case_revert",
            ),
            path(
                "<int:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="cases_case_transition",
            ),
            path("hpo-terms/", self.admin_site.admin_view(self.hpo_terms_view), name="cases_case_hpo_terms"),
            path("import/", self.admin_site.admin_view(self.import_view), name="cases_case_import"),
            path(
                "import/<str:job_id>/", self.admin_site.admin_view(self.import_job_view), name="cases_case_import_job"
            ),
        ]
        return own + super().get_urls()

    def history_view(self, request, object_id, extra_context=None):
        """The case's one history: every change to it and its rows (Django's own log misses the API's writes)."""
        return HttpResponseRedirect(reverse("admin:cases_case_full_history", args=[object_id]))

    def full_history_view(self, request, object_id: int):
        case = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "case": case,
            "title": f"History of {case}",
            "changes": case_changes(case),
            "can_revert": self.has_change_permission(request, case),
        }
        return TemplateResponse(request, "admin/cases/case/full_history.html", context)

    def revert_view(self, request, object_id: int, history_id: int):
        case = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, case):
            raise PermissionDenied
        try:
            case_revert(case=case, history_id=history_id, user=request.user, expected_version=posted_version(request))
            self.message_user(request, f"{case.registry_id} reverted; the revert is itself in the history.")
        except (MissingVersion, VersionConflict, LookupError, RevertRefused) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:cases_case_full_history", args=[object_id]))

    def transition_view(self, request, object_id: int, name: str):
        """A workflow button on the case page: the transition, checked against the version the page showed."""
        case = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.method != "POST" or not self.has_view_permission(request, case):
            raise PermissionDenied
        try:
            with transaction.atomic():
                case_transition(case=case, name=name, user=request.user, expected_version=posted_version(request))
            self.message_user(
                request,
                f"{case.registry_id}: {workflow.TRANSITIONS[name].label} — now {case.get_status_display().lower()}.",
                messages.SUCCESS,
            )
        except (ValidationError, PermissionDenied, VersionConflict, MissingVersion) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, f"{case.registry_id}: {message}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:cases_case_change", args=[object_id]))

    def hpo_terms_view(self, request):
        """The findings' HPO lookup (hpo_lookup.js): current terms whose label or a synonym contains `q`."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return JsonResponse({"results": hpo_lookup(request.GET.get("q", ""))})

    def import_view(self, request):
        from .jobs import start_import

        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Import cases from JSON"}
        if request.method == "POST":
            upload = request.FILES.get("file")
            try:
                if upload is None:
                    raise ImportFailed(["Choose a JSON file exported by the registry."])
                try:
                    documents = json.loads(upload.read().decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ImportFailed([f"The file is not valid JSON: {exc}"]) from exc
                except RecursionError as exc:
                    raise ImportFailed(["The file is not valid JSON: it is nested too deeply."]) from exc
                if request.POST.get("confirm_duplicate"):  # the page's "duplicate" confirmation for every document
                    context["confirm_duplicate"] = True
                    documents = confirm_in_documents(documents, "duplicate")
                cases = start_import(documents, user=request.user)
            except ImportFailed as exc:
                context["errors"] = exc.errors
            else:
                if not isinstance(cases, list):  # queued for the worker (REDIS_URL): follow it on its own page
                    return HttpResponseRedirect(reverse("admin:cases_case_import_job", args=[cases.id]))
                self.message_user(
                    request,
                    f"Imported {len(cases)} case(s) as drafts: {', '.join(c.registry_id for c in cases)}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:cases_case_changelist"))
        return TemplateResponse(request, "admin/cases/case/import.html", context)

    def import_job_view(self, request, job_id: str):
        from .jobs import import_status

        job = import_status(job_id, request.user) if self.has_add_permission(request) else None
        if job is None:
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Import job", "job": job}
        return TemplateResponse(request, "admin/cases/case/import_job.html", context)

    @admin.action(description="Export selected cases as JSON (the API document)")
    def export_json(self, request, queryset):
        body = json.dumps(export_documents(queryset, request=request), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="cases.json"'
        return response

    @admin.action(description="Export selected cases as CSV (one row per case)")
    def export_csv(self, request, queryset):
        from django.http import StreamingHttpResponse

        from . import tables

        cases = Case.objects.filter(pk__in=queryset.values("pk"))
        response = StreamingHttpResponse(tables.table_csv(tables.CASES, cases), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="cases.csv"'
        return response
