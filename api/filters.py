"""Case-list filters (also used by the CSV exports). Filters on child rows use EXISTS subqueries, so that
several conditions on one kind of row (agent + status) must hold for the same row and no case repeats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

import django_filters as filters
from django.db.models import Exists, F, OuterRef, Q

from cases import measures
from cases.models import Case, Episode, Finding, Intervention, LabResult, Mechanism, Metastasis, Tumor
from cases.vocabularies import (
    CalciumResponse,
    Certainty,
    CurationStatus,
    Disorder,
    Intent,
    InterventionCategory,
    InterventionStatus,
    MechanismAgreement,
    MechanismCode,
    MetastasisSite,
    ReceptorStatus,
    Sex,
    TumorSite,
)

CALCIUM_UNITS = [("mg/dL", "mg/dL"), ("mmol/L", "mmol/L")]


def rows(model, **conditions) -> Exists:
    return Exists(model.objects.filter(case=OuterRef("pk"), **conditions))


# Every number filtered on is at least 0. django-filter caps numbers at 1e50 but not below: -1e999999 overflows
# PostgreSQL's numeric (a 500) and takes half a minute to become an int for the integer fields.
NOT_NEGATIVE = {"min_value": 0}


class NullsLastOrderingFilter(filters.OrderingFilter):
    """Cases without the value (no calcium result, no age) sort last in either direction, on SQLite and
    PostgreSQL alike (by default SQLite puts NULL first ascending, PostgreSQL first descending)."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "pk") if value else qs  # ties keep a stable order across pages

    def get_ordering_value(self, param):
        field = F(super().get_ordering_value(param).removeprefix("-"))
        return field.desc(nulls_last=True) if param.startswith("-") else field.asc(nulls_last=True)


class CaseFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=CurationStatus.choices)
    disorder = filters.MultipleChoiceFilter(
        choices=Disorder.choices,
        method="filter_disorder",
        help_text="Cases with an episode of this disorder (any episode, issue 13; the case's disorder is its first's).",
    )
    mechanism = filters.ChoiceFilter(
        choices=MechanismCode.choices,
        method="filter_mechanism",
        help_text="Cases with this mechanism, confirmed, probable or possible (excluded only with "
        "mechanism_certainty=excluded).",
    )
    mechanism_certainty = filters.ChoiceFilter(choices=Certainty.choices, method="filter_mechanism")
    tumor_site = filters.ChoiceFilter(choices=TumorSite.choices, method="filter_tumor")
    histology = filters.CharFilter(method="filter_tumor", help_text="Text contained in the reported histology.")
    er = filters.ChoiceFilter(choices=ReceptorStatus.choices, method="filter_tumor")
    pr = filters.ChoiceFilter(choices=ReceptorStatus.choices, method="filter_tumor")
    her2 = filters.ChoiceFilter(choices=ReceptorStatus.choices, method="filter_tumor")
    hormone_receptor = filters.ChoiceFilter(choices=ReceptorStatus.choices, method="filter_tumor")
    metastasis_present = filters.ChoiceFilter(
        choices=MetastasisSite.choices, method="filter_metastasis", help_text="Cases with a metastasis at this site."
    )
    metastasis_absent = filters.ChoiceFilter(
        choices=MetastasisSite.choices,
        method="filter_metastasis",
        help_text="Cases where the source explicitly found this site free.",
    )
    agent = filters.CharFilter(method="filter_intervention", help_text="Agent code, e.g. zoledronic_acid.")
    intervention_category = filters.ChoiceFilter(choices=InterventionCategory.choices, method="filter_intervention")
    intervention_intent = filters.ChoiceFilter(choices=Intent.choices, method="filter_intervention")
    intervention_status = filters.ChoiceFilter(choices=InterventionStatus.choices, method="filter_intervention")
    calcium_response = filters.ChoiceFilter(choices=CalciumResponse.choices, method="filter_intervention")
    peak_calcium_min = filters.NumberFilter(
        method="filter_peak", help_text="In calcium_unit (default mg/dL).", **NOT_NEGATIVE
    )
    peak_calcium_max = filters.NumberFilter(
        method="filter_peak", help_text="In calcium_unit (default mg/dL).", **NOT_NEGATIVE
    )
    calcium_unit = filters.ChoiceFilter(
        choices=CALCIUM_UNITS,
        method="filter_noop",
        help_text="Unit of peak_calcium_min/max: mg/dL (default) or mmol/L.",
    )
    ctcae_grade = filters.MultipleChoiceFilter(
        field_name="peak_ctcae_grade",
        choices=[(g, str(g)) for g in range(5)],
        help_text="CTCAE v5.0 hypercalcemia grade of the peak calcium.",
    )
    ctcae_grade_min = filters.NumberFilter(field_name="peak_ctcae_grade", lookup_expr="gte", **NOT_NEGATIVE)
    normalised = filters.BooleanFilter(field_name="calcium_normalised")
    mechanism_agreement = filters.ChoiceFilter(
        choices=[(c, c) for c in MechanismAgreement.values],
        help_text="Whether the recorded mechanism fits the lab pattern (disagree = the labs suggest another).",
    )
    suggested_mechanism = filters.ChoiceFilter(choices=MechanismCode.choices)
    completeness_min = filters.NumberFilter(
        field_name="completeness_score",
        lookup_expr="gte",
        help_text="At least this many of the six CARE items.",
        **NOT_NEGATIVE,
    )
    age_min = filters.NumberFilter(field_name="age_years", lookup_expr="gte", **NOT_NEGATIVE)
    age_max = filters.NumberFilter(field_name="age_years", lookup_expr="lte", **NOT_NEGATIVE)
    sex = filters.ChoiceFilter(choices=Sex.choices)
    source_year = filters.NumberFilter(field_name="source__year", **NOT_NEGATIVE)
    source_year_min = filters.NumberFilter(field_name="source__year", lookup_expr="gte", **NOT_NEGATIVE)
    source_year_max = filters.NumberFilter(field_name="source__year", lookup_expr="lte", **NOT_NEGATIVE)
    doi = filters.CharFilter(field_name="source__doi", lookup_expr="iexact")
    pmid = filters.CharFilter(field_name="source__pmid")
    search = filters.CharFilter(
        method="filter_search", help_text="Words in the title, the citation, the source title or any verbatim quote."
    )
    ordering = NullsLastOrderingFilter(
        fields=(
            ("id", "id"),
            ("title", "title"),
            ("updated_at", "updated_at"),
            ("age_years", "age_years"),
            ("peak_calcium_mg_dl", "peak_calcium"),
            ("peak_ctcae_grade", "ctcae_grade"),
            ("source__year", "source_year"),
        ),
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def filter_noop(self, queryset, name, value):
        return queryset

    def filter_disorder(self, queryset, name, value):
        # The case's own column is its first episode's: any of its episodes counts (a later hypocalcemia too).
        return queryset.filter(Q(disorder__in=value) | rows(Episode, disorder__in=value)) if value else queryset

    def _same_row(self, queryset, model, mapping: dict[str, str]):
        conditions = {
            lookup: self.form.cleaned_data[param]
            for param, lookup in mapping.items()
            if self.form.cleaned_data.get(param) not in (None, "")
        }
        return queryset.filter(rows(model, **conditions)) if conditions else queryset

    # Each method applies every parameter of its group at once; later calls of the same group repeat the
    # same EXISTS, which is harmless and keeps the conditions on one row.
    def filter_mechanism(self, queryset, name, value):
        # A mechanism the curator marked "excluded" was ruled out: it matches only when asked for explicitly.
        if self.form.cleaned_data.get("mechanism") and not self.form.cleaned_data.get("mechanism_certainty"):
            code = self.form.cleaned_data["mechanism"]
            return queryset.filter(Exists(Mechanism.objects.recorded().filter(case=OuterRef("pk"), code=code)))
        return self._same_row(queryset, Mechanism, {"mechanism": "code", "mechanism_certainty": "certainty"})

    def filter_tumor(self, queryset, name, value):
        return self._same_row(
            queryset,
            Tumor,
            {
                "tumor_site": "site",
                "histology": "histology__icontains",
                "er": "er",
                "pr": "pr",
                "her2": "her2",
                "hormone_receptor": "hormone_receptor",
            },
        )

    def filter_intervention(self, queryset, name, value):
        return self._same_row(
            queryset,
            Intervention,
            {
                "agent": "agent__code",
                "intervention_category": "category",
                "intervention_intent": "intent",
                "intervention_status": "status",
                "calcium_response": "calcium_response",
            },
        )

    def filter_metastasis(self, queryset, name, value):
        return queryset.filter(rows(Metastasis, site=value, present=(name == "metastasis_present")))

    def filter_peak(self, queryset, name, value):
        unit = self.form.cleaned_data.get("calcium_unit") or "mg/dL"
        mg_dl = measures.convert(Decimal(value), measures.CALCIUM_TOTAL, unit, "mg/dL")
        # The peak is cached rounded to 0.01 mg/dL: round the bound the same way, so that a peak exactly at the
        # bound counts in either unit (3.0 mmol/L = 12.024 mg/dL, cached as 12.02). Bounds are below 1e50.
        mg_dl = mg_dl.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=Context(prec=60))
        lookup = "gte" if name == "peak_calcium_min" else "lte"
        return queryset.filter(**{f"peak_calcium_mg_dl__{lookup}": mg_dl})

    def filter_search(self, queryset, name, value):
        q = Q()
        for word in value.split():
            q &= (
                Q(title__icontains=word)
                | Q(source__citation__icontains=word)
                | Q(source__title__icontains=word)
                | Q(summary__icontains=word)
                | rows(LabResult, quote__icontains=word)
                | rows(Intervention, quote__icontains=word)
                | rows(Finding, quote__icontains=word)
                | rows(Tumor, quote__icontains=word)
                | rows(Metastasis, quote__icontains=word)
                | rows(Mechanism, evidence__icontains=word)
            )
        return queryset.filter(q)
