"""The analyte table (admin-editable, like the agents) and the registry that reads it.

Each row is what cases.measures.Analyte describes in memory: code, label, synonyms, the conventional and SI units
with the factor between them, the units stored as printed, a plausible maximum, and its LOINC codes (each with the
units of the property it names and, where the code depends on it, the specimens). measures.py stays free of Django:
it asks for its analytes through measures.analytes(), and this module installs the table as their source
(CasesConfig.ready calls install()).

The table is read once per process and kept until it changes. A change clears this process's copy at once and, when
its transaction commits, writes a new stamp into the shared cache (Redis, or the cache files every process of the
machine shares: registry/settings.py); every process compares the stamp with the one it loaded at most once per
request (and every RECHECK_SECONDS outside requests) and reloads when it differs. Reading the stamp is a cache read,
not a query: a request costs the same queries as before the table existed, and the table's two queries are paid
once per change and process.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.signals import request_started
from django.core.validators import MinValueValidator, RegexValidator
from django.db import IntegrityError, connections, models, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from simple_history.models import HistoricalRecords

from . import measures
from .constraints import InMemoryConstraints
from .vocabularies import Specimen

STAMP_KEY = "cases:analytes:stamp"
RECHECK_SECONDS = 30
UNIT_LENGTH = 20  # LabResult.unit holds any unit of the table

analyte_code_validator = RegexValidator(
    r"^[a-z][a-z0-9_]*$", "Use a snake_case code: lower-case letters, digits and _."
)
loinc_validator = RegexValidator(r"^\d{1,7}-\d$", "Enter a LOINC code such as 17861-6 (digits, a hyphen, a digit).")
unit_validator = RegexValidator(r"^[^,\s](?:[^,]*[^,\s])?$", "A unit has no commas and no spaces at its ends.")


def split_list(text: str) -> tuple[str, ...]:
    """A comma-separated list as entered in the admin ("pg/mL, ng/L"), without blanks."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


class Analyte(InMemoryConstraints):
    """Something a lab result measures. The calcium analytes and albumin drive corrected calcium, CTCAE grades and
    the calcium summaries by their code (measures.PROTECTED_ANALYTES): they can be edited but not renamed or
    deleted. No code of any analyte can change once it exists, since lab results store it."""

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[analyte_code_validator],
        help_text="Stored with each lab result and sent by the API; it cannot change once saved.",
    )
    label = models.CharField(max_length=100, unique=True, help_text="As shown to curators: 'Serum potassium'.")
    synonyms = models.TextField(
        blank=True,
        help_text="Other names case reports print, one per line ('K', 'K+'): proposals from a source text match them.",
    )
    conventional_unit = models.CharField(max_length=UNIT_LENGTH, validators=[unit_validator])
    si_unit = models.CharField("SI unit", max_length=UNIT_LENGTH, validators=[unit_validator])
    si_factor = models.DecimalField(
        "SI factor",
        max_digits=14,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="SI value = conventional value x this factor (1 when both units are the same).",
    )
    printed_units = models.CharField(
        max_length=100,
        blank=True,
        help_text="Units a source may print that are stored as printed and never converted, separated by commas "
        "(PTHrP in pg/mL: no factor is documented). They get no SI value, no range and no LOINC.",
    )
    plausible_max = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="The largest number accepted, in the conventional unit (converted for the SI unit): a bound for "
        "typing and unit errors far above any value a patient can have, not a clinical threshold. Empty: no bound.",
    )
    sources = models.TextField(
        blank=True, help_text="Where the units, the factor and the codes come from (a named source for each)."
    )
    position = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Order in lists and exports; empty: after the others."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(si_factor__gt=0),
                name="analyte_si_factor_positive",
                violation_error_message="The SI factor must be greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    def save(self, *args, **kwargs) -> None:
        if self.position is None:  # a new analyte goes after the others
            last = type(self).objects.aggregate(last=models.Max("position"))["last"] or 0
            self.position = min(last + 10, 32_767)
        super().save(*args, **kwargs)

    @property
    def is_protected(self) -> bool:
        return self.code in measures.PROTECTED_ANALYTES

    @property
    def synonym_list(self) -> list[str]:
        return [line.strip() for line in self.synonyms.splitlines() if line.strip()]

    @property
    def printed_unit_list(self) -> tuple[str, ...]:
        return split_list(self.printed_units)

    @property
    def units(self) -> tuple[str, ...]:
        if self.conventional_unit == self.si_unit:
            return (self.conventional_unit,)
        return (self.conventional_unit, self.si_unit)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("code", flat=True).first()
            if stored is not None and stored != self.code:
                errors["code"] = "The code of an analyte cannot change: lab results store it."
        if self.conventional_unit and self.conventional_unit == self.si_unit and self.si_factor not in (None, 1):
            errors["si_factor"] = "The conventional and SI units are the same: the factor is 1."
        for unit in self.printed_unit_list:
            if unit in self.units:
                errors["printed_units"] = f"{unit} is converted already: list only units stored as printed."
            elif len(unit) > UNIT_LENGTH:
                errors["printed_units"] = f"{unit} is longer than {UNIT_LENGTH} characters."
        if errors:
            raise ValidationError(errors)

    def as_measure(self, loinc: Iterable[AnalyteLoinc] | None = None) -> measures.Analyte:
        codes = self.loinc_codes.all() if loinc is None else loinc
        return measures.Analyte(
            code=self.code,
            label=self.label,
            conventional_unit=self.conventional_unit,
            si_unit=self.si_unit,
            si_factor=self.si_factor.normalize(),
            loinc=tuple(
                measures.Loinc(c.code, split_list(c.units), split_list(c.specimens))
                for c in sorted(codes, key=lambda c: (c.position, c.pk or 0))
            ),
            printed_units=self.printed_unit_list,
            default_range=measures.DEFAULT_RANGES.get(self.code),
            plausible_max=None if self.plausible_max is None else self.plausible_max.normalize(),
            synonyms=tuple(self.synonym_list),
        )


class AnalyteLoinc(models.Model):
    """One LOINC code of an analyte: it names one property (mass or substance concentration, catalytic activity)
    and often one specimen, so it belongs to the units of that property only."""

    analyte = models.ForeignKey(Analyte, on_delete=models.CASCADE, related_name="loinc_codes")
    code = models.CharField("LOINC code", max_length=10, validators=[loinc_validator])
    units = models.CharField(
        max_length=100, help_text="The units of the property the code names, separated by commas ('g/dL, g/L')."
    )
    specimens = models.CharField(
        max_length=60,
        blank=True,
        help_text="Where the code names a specimen: serum, plasma or blood, separated by commas. Empty: any.",
    )
    source = models.CharField(
        max_length=300, help_text="Where the code was confirmed (domain.md, a named LOINC or HL7 page): never guess."
    )
    position = models.PositiveSmallIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["analyte", "position", "id"]
        verbose_name = "LOINC code"
        constraints = [
            models.UniqueConstraint(
                fields=["analyte", "code"],
                name="analyteloinc_code_once",
                violation_error_message="The analyte has this LOINC code already.",
            )
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.analyte_id is not None:
            units = self.analyte.units
            foreign = [u for u in split_list(self.units) if u not in units]
            if foreign:
                errors["units"] = (
                    f"{', '.join(foreign)} is not a converted unit of {self.analyte}; use {' or '.join(units)}."
                )
        specimens = {s.value for s in Specimen if s != Specimen.NOT_REPORTED}
        unknown = [s for s in split_list(self.specimens) if s not in specimens]
        if unknown:
            errors["specimens"] = f"Unknown specimen {', '.join(unknown)}: use {', '.join(sorted(specimens))}."
        if errors:
            raise ValidationError(errors)


# --- the registry ------------------------------------------------------------------------------------------------

_loaded: tuple[str | None, dict[str, measures.Analyte] | None] = (None, None)  # (stamp, analytes), swapped whole
_local = threading.local()
_lock = threading.Lock()


def _shared_stamp() -> str:
    stamp = cache.get(STAMP_KEY)
    if stamp is None:  # never set, or evicted: a new stamp makes every process reload once
        cache.add(STAMP_KEY, uuid.uuid4().hex, timeout=None)
        stamp = cache.get(STAMP_KEY)
    return stamp


def load() -> dict[str, measures.Analyte]:
    """The table as measures.Analyte objects by code (two queries)."""
    rows = Analyte.objects.order_by(F("position").asc(nulls_last=True), "id").prefetch_related("loinc_codes")
    if not rows:
        # The protected analytes cannot be deleted, so an empty table was flushed or truncated (`manage.py flush`,
        # which also reseeds by post_migrate unless told not to; between transactional tests): the registry does
        # not work without them, so they are seeded again (another process seeding at the same time wins).
        try:
            with transaction.atomic():
                seed(Analyte, AnalyteLoinc)
        except IntegrityError:
            pass
        rows = rows.all()
    return {row.code: row.as_measure() for row in rows}


def current() -> Mapping[str, measures.Analyte]:
    """The analytes by code: this process's copy, reloaded when another process changed the table."""
    stamp, data = _loaded
    checked_at = getattr(_local, "checked_at", None)
    now = time.monotonic()
    if data is not None and checked_at is not None and now - checked_at < RECHECK_SECONDS:
        return data
    shared = _shared_stamp()
    _local.checked_at = now
    if data is None or shared != stamp:
        with _lock:
            stamp, data = _loaded
            if data is None or shared != stamp:
                data = _set(shared, load())
    return data


def current_stamp() -> str | None:
    """The stamp of the copy current() returns: it changes whenever the table does (cases.stored_documents)."""
    current()
    return _loaded[0]


def _set(stamp: str | None, data: dict[str, measures.Analyte] | None) -> dict | None:
    global _loaded
    _loaded = (stamp, data)
    return data


def forget() -> None:
    """Drops this process's copy: the next read loads the table again."""
    _set(None, None)


def snapshot() -> tuple:
    return _loaded


def restore(state: tuple) -> None:
    """Puts back a copy taken with snapshot(), and its stamp as the shared one (tests: a test's rows roll back, so
    must the registry)."""
    stamp, _ = state
    if stamp is not None:
        cache.set(STAMP_KEY, stamp, timeout=None)
    _set(*state)


def _bump() -> None:
    cache.set(STAMP_KEY, uuid.uuid4().hex, timeout=None)
    forget()


def _changed(sender, **kwargs) -> None:
    forget()
    transaction.on_commit(_bump)


def reseed_emptied_table(sender, using="default", **kwargs) -> None:
    """After migrate or flush (which empties every table, e.g. between transactional tests): an emptied analyte
    table gets its seed rows again, as the migration made them. A table with rows is left as the admin edited it."""
    connection = connections[using]
    if Analyte._meta.db_table not in connection.introspection.table_names():
        return  # migrated to before the table
    if not Analyte.objects.using(using).exists():
        seed(Analyte, AnalyteLoinc)
        forget()


def _new_request(sender, **kwargs) -> None:
    _local.checked_at = None


def install() -> None:
    measures.use_registry(current)
    for model in (Analyte, AnalyteLoinc):
        post_save.connect(_changed, sender=model, dispatch_uid=f"analytes-changed-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"analytes-changed-delete-{model.__name__}")
    request_started.connect(_new_request, dispatch_uid="analytes-new-request")


def label(code: str) -> str:
    """The analyte's label, or its code when the table no longer has it."""
    a = measures.analytes().get(code)
    return a.label if a is not None else code


def choices() -> list[tuple[str, str]]:
    return [(code, a.label) for code, a in measures.analytes().items()]


def unit_choices() -> list[tuple[str, str]]:
    return sorted({(u, u) for a in measures.analytes().values() for u in a.accepted_units})


# --- seed rows ---------------------------------------------------------------------------------------------------

# Where each built-in LOINC code comes from (the comments beside measures.BUILTIN_ANALYTES).
BUILTIN_LOINC_SOURCES = {
    "17861-6": "domain.md: 17861-6 (mass)",
    "1994-3": "domain.md: 1994-3 (blood); 'Calcium.ionized [Moles/volume] in Blood' (HL7 PDDI CDS IG, ValueSet "
    "valueset-calcium-LOINC, LOINC 2.82)",
    "1995-0": "domain.md: 1995-0 (serum/plasma); 'Calcium.ionized [Moles/volume] in Serum or Plasma' (HL7 PDDI CDS "
    "IG, ValueSet valueset-calcium-LOINC, LOINC 2.82)",
    "29265-6": "domain.md: 29265-6 (moles); the mass code is unconfirmed",
    "1751-7": "domain.md: 1751-7, property implied by g/dL (mass concentration); g/L is the same property",
    "2731-8": "domain.md: 2731-8, property of pg/mL (mass)",
    "15087-0": "domain.md: 15087-0 (moles)",
    "62292-8": "domain.md: 62292-8, property of ng/mL (mass)",
    "62290-2": "domain.md: 62290-2, property of pg/mL (mass)",
    "2777-1": "domain.md: 2777-1, property of mg/dL (mass)",
    "19123-9": "domain.md: 19123-9, property of mg/dL (mass)",
    "2160-0": "domain.md: 2160-0, property of mg/dL (mass)",
    "6768-6": "domain.md: 6768-6 (catalytic activity, its only unit)",
}
BUILTIN_SOURCES = "Units and conversion factor: domain.md's analyte table. LOINC: see each code's source."

# Analytes added with the table (issue 13). Each fact names its source; what no source confirms stays empty.
ADDED_ANALYTES = (
    {
        "analyte": measures.Analyte(
            "potassium",
            "Serum potassium",
            "mEq/L",
            "mmol/L",
            Decimal("1"),
            # HL7 PDDI CDS IG, ValueSet valueset-potassium-LOINC (LOINC 2.82): 2823-3 "Potassium [Moles/volume] in
            # Serum or Plasma": given to mmol/L only (the unit the source names; a value in mEq/L carries none until
            # a source ties the code to it) and only with the specimen known.
            loinc=(measures.Loinc("2823-3", ("mmol/L",), ("serum", "plasma")),),
            synonyms=("potassium", "K", "K+"),
        ),
        "loinc_source": "HL7 PDDI CDS IG, ValueSet valueset-potassium-LOINC (LOINC 2.82): 2823-3 'Potassium "
        "[Moles/volume] in Serum or Plasma'",
        "sources": "mEq/L = mmol/L for a monovalent ion (milliequivalents = millimoles x charge, 1 for K+): Davis's "
        "Lab & Diagnostic Tests, 'Potassium, Blood' (reference values 'in mEq/L or mmol/L', conventional and SI "
        "alike). No plausible maximum is sourced yet: none is applied.",
    },
    {
        "analyte": measures.Analyte(
            "sodium",
            "Serum sodium",
            "mEq/L",
            "mmol/L",
            Decimal("1"),
            # HL7 US Core STU5, example Observation serum-sodium: LOINC 2951-2 "Sodium SerPl-sCnc" (serum or plasma,
            # substance concentration), value in mmol/L: mmol/L only, and only with the specimen known.
            loinc=(measures.Loinc("2951-2", ("mmol/L",), ("serum", "plasma")),),
            synonyms=("sodium", "Na", "Na+"),
        ),
        "loinc_source": "HL7 US Core STU5, example Observation serum-sodium: 2951-2 'Sodium SerPl-sCnc' (mmol/L)",
        "sources": "mEq/L = mmol/L for a monovalent ion (milliequivalents = millimoles x charge, 1 for Na+), as for "
        "potassium (Davis's Lab & Diagnostic Tests prints electrolytes 'in mEq/L or mmol/L'). No plausible maximum "
        "is sourced yet: none is applied.",
    },
    {
        "analyte": measures.Analyte(
            "egfr",
            "Estimated GFR",
            "mL/min/1.73 m²",
            "mL/min/1.73 m²",
            Decimal("1"),
            # No LOINC: the code depends on the estimating equation (MDRD 33914-3, CKD-EPI and others: HL7 FHIR
            # Clinical Guidelines STU1, ValueSet ckd-valueset-egfr), which case reports rarely name.
            synonyms=("eGFR", "estimated glomerular filtration rate", "GFR"),
        ),
        "loinc_source": "",
        "sources": "One unit, no conversion. No LOINC: the code depends on the estimating equation (MDRD 33914-3, "
        "CKD-EPI and others: HL7 FHIR Clinical Guidelines STU1, ValueSet ckd-valueset-egfr), which case reports "
        "rarely name. No plausible maximum is sourced yet: none is applied.",
    },
)


def seed(analyte_model, loinc_model) -> int:
    """Creates the built-in and added analytes that are missing (by code), with the given model classes (a
    migration's historical ones, or these). Rows that exist are never changed. Returns how many were created."""
    existing = set(analyte_model.objects.values_list("code", flat=True))
    entries = [
        (a, BUILTIN_SOURCES, {c.code: BUILTIN_LOINC_SOURCES[c.code] for c in a.loinc})
        for a in measures.BUILTIN_ANALYTES.values()
    ] + [(e["analyte"], e["sources"], {c.code: e["loinc_source"] for c in e["analyte"].loinc}) for e in ADDED_ANALYTES]
    created = 0
    for position, (a, sources, loinc_sources) in enumerate(entries, start=1):
        if a.code in existing:
            continue
        row = analyte_model.objects.create(
            code=a.code,
            label=a.label,
            synonyms="\n".join(a.synonyms),
            conventional_unit=a.conventional_unit,
            si_unit=a.si_unit,
            si_factor=a.si_factor,
            printed_units=", ".join(a.printed_units),
            plausible_max=a.plausible_max,
            sources=sources,
            position=position * 10,
        )
        for n, c in enumerate(a.loinc, start=1):
            loinc_model.objects.create(
                analyte=row,
                code=c.code,
                units=", ".join(c.units),
                specimens=", ".join(c.specimens),
                source=loinc_sources[c.code],
                position=n,
            )
        created += 1
    return created
