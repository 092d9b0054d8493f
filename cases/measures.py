"""Derived calcium measures: pure functions with no Django imports.

Everything here is computed, never typed in: unit conversion, albumin-corrected calcium (Payne),
interpretation against a reference range, CTCAE v5.0 grades, and per-case summaries (peak, nadir,
normalisation after the first calcium-directed intervention).

Sources: ../shared/docs/domain.md (conversion factors, Payne formulas, CTCAE v5.0 thresholds,
the default upper limit of 10.5 mg/dL used in seed 002's worked example). No other threshold is
invented: where a limit is unknown the result says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import overload

CONVENTIONAL = "conventional"
SI = "si"

CALCIUM_TOTAL = "calcium_total"
CALCIUM_IONIZED = "calcium_ionized"
CALCIUM_CORRECTED = "calcium_corrected"
CALCIUM_UNSPECIFIED = "calcium_unspecified"
ALBUMIN = "albumin"

HIGH = "high"
LOW = "low"
NORMAL = "normal"
INDETERMINATE = "indeterminate"

BASIS_REPORTED = "reported_range"
BASIS_DEFAULT = "default_range"
BASIS_QUALITATIVE = "reported_qualitative"
BASIS_NONE = "no_range"

# Decimal places used when a converted value is shown; the stored value is never rounded.
UNIT_DECIMALS = {
    "mg/dL": 2,
    "mmol/L": 2,
    "g/dL": 2,
    "g/L": 1,
    "pg/mL": 1,
    "pmol/L": 2,
    "ng/mL": 1,
    "nmol/L": 1,
    "µmol/L": 0,
    "U/L": 0,
    "mEq/L": 1,
    "mL/min/1.73 m²": 0,
}

# UCUM codes for the unit strings we store (used by exports).
UCUM = {
    "mg/dL": "mg/dL",
    "mmol/L": "mmol/L",
    "g/dL": "g/dL",
    "g/L": "g/L",
    "pg/mL": "pg/mL",
    "pmol/L": "pmol/L",
    "ng/mL": "ng/mL",
    "nmol/L": "nmol/L",
    "µmol/L": "umol/L",
    "U/L": "U/L",
    # FHIR's example Observation f205 (eGFR): value in "mL/min/1.73m2", UCUM code mL/min/{1.73_m2}.
    "mL/min/1.73 m²": "mL/min/{1.73_m2}",
}


@dataclass(frozen=True)
class ReferenceRange:
    low: Decimal | None
    high: Decimal | None
    unit: str
    source: str


@dataclass(frozen=True)
class Loinc:
    """A LOINC code names one property (mass or substance concentration, catalytic activity) and often one
    specimen: it belongs to the units of that property only, never to a value in another property's unit."""

    code: str
    units: tuple[str, ...]
    specimens: tuple[str, ...] = ()  # empty: the code does not depend on the specimen


@dataclass(frozen=True)
class Analyte:
    code: str
    label: str
    conventional_unit: str
    si_unit: str
    si_factor: Decimal  # SI value = conventional value x si_factor
    # Each code with the units of its property (and its specimens); a unit no code covers gets none.
    loinc: tuple[Loinc, ...] = ()
    # Units a source may print that the registry stores as printed and never converts (PTHrP in pg/mL: no
    # conversion factor is documented). They get no SI/conventional value, no default range and no LOINC.
    printed_units: tuple[str, ...] = ()
    default_range: ReferenceRange | None = None
    # The largest number accepted, in the conventional unit: a bound for typing and unit errors (albumin
    # entered in g/L as g/dL, say), far above any value a patient can have; not a clinical threshold.
    plausible_max: Decimal | None = None
    # Other names case reports print for it ("ALP", "iPTH"): the extractor's proposals match them.
    synonyms: tuple[str, ...] = ()

    def plausible_max_in(self, unit: str) -> Decimal | None:
        if self.plausible_max is None or unit not in self.units:
            return None
        return convert(self.plausible_max, self.code, self.conventional_unit, unit)

    @property
    def units(self) -> tuple[str, ...]:
        """The units values are converted between."""
        if self.conventional_unit == self.si_unit:
            return (self.conventional_unit,)
        return (self.conventional_unit, self.si_unit)

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return self.units + self.printed_units

    @property
    def in_sentence(self) -> str:
        """The label inside a sentence: "serum total calcium", but "PTH-related protein" (an acronym stays)."""
        if len(self.label) > 1 and self.label[1].isupper():
            return self.label
        return self.label[0].lower() + self.label[1:]

    @property
    def loinc_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.loinc)

    def loinc_for(self, unit: str | None, specimen: str | None = None) -> str | None:
        """The code for a value in this unit (and specimen, where the code depends on it), or None."""
        for c in self.loinc:
            if unit in c.units and (not c.specimens or specimen in c.specimens):
                return c.code
        return None


# Default used only when a source reports no range. domain.md gives the upper limit (10.5 mg/dL, seed 002's
# worked example); it gives no default lower limit, so none is assumed.
DEFAULT_CALCIUM_RANGE = ReferenceRange(
    low=None, high=Decimal("10.5"), unit="mg/dL", source="domain.md default upper limit (10.5 mg/dL)"
)

# The analytes the registry started with: migration 0013 made them rows of the admin-editable analyte table
# (cases.models.Analyte), and the running registry reads that table (cases/analytes.py, installed with
# use_registry below). This list stays as the seed (an emptied table is seeded from it again) and as the registry
# of code that runs without Django; edit analytes in the admin, not here.
#
# LOINC: only the codes of domain.md's analyte table, each tied to the units of the property it names. domain.md
# marks the property of some ("mass", "moles"); for the others it is the property of the conventional unit
# ("the property marked or implied by its conventional unit"). Every other analyte x unit carries no code until
# one is looked up and sourced (domain.md: "Never attach a mass code to a molar value").
BUILTIN_ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in (
        Analyte(
            CALCIUM_TOTAL,
            "Serum total calcium",
            "mg/dL",
            "mmol/L",
            Decimal("0.2495"),
            loinc=(Loinc("17861-6", ("mg/dL",)),),  # domain.md: 17861-6 (mass)
            default_range=DEFAULT_CALCIUM_RANGE,
            plausible_max=Decimal("40"),
        ),
        # domain.md: 1994-3 (blood), 1995-0 (serum/plasma). Both are substance concentrations: "Calcium.ionized
        # [Moles/volume] in Blood" / "... in Serum or Plasma" (LOINC displays in HL7's PDDI CDS implementation
        # guide, ValueSet valueset-calcium-LOINC, LOINC 2.82), so mmol/L only, and only with the specimen known.
        Analyte(
            CALCIUM_IONIZED,
            "Ionized calcium",
            "mg/dL",
            "mmol/L",
            Decimal("0.2495"),
            loinc=(
                Loinc("1994-3", ("mmol/L",), ("blood",)),
                Loinc("1995-0", ("mmol/L",), ("serum", "plasma")),
            ),
            plausible_max=Decimal("20"),
        ),
        Analyte(
            CALCIUM_CORRECTED,
            "Albumin-corrected calcium",
            "mg/dL",
            "mmol/L",
            Decimal("0.2495"),
            loinc=(Loinc("29265-6", ("mmol/L",)),),  # domain.md: 29265-6 (moles); the mass code is unconfirmed
            default_range=DEFAULT_CALCIUM_RANGE,
            plausible_max=Decimal("40"),
        ),
        # "Calcium" a source prints without saying total or corrected: total calcium's units and factor (the same
        # element), no LOINC (none is sourced for an unstated type), the same default upper limit as total and
        # corrected calcium. Never albumin-corrected (it may be corrected already).
        Analyte(
            CALCIUM_UNSPECIFIED,
            "Serum calcium (total or corrected not stated)",
            "mg/dL",
            "mmol/L",
            Decimal("0.2495"),
            default_range=DEFAULT_CALCIUM_RANGE,
            plausible_max=Decimal("40"),
        ),
        # domain.md: 1751-7, property implied by g/dL (mass concentration); g/L is the same property.
        Analyte(
            ALBUMIN,
            "Serum albumin",
            "g/dL",
            "g/L",
            Decimal("10"),
            loinc=(Loinc("1751-7", ("g/dL", "g/L")),),
            plausible_max=Decimal("10"),
        ),
        Analyte(
            "pth_intact",
            "Intact PTH",
            "pg/mL",
            "pmol/L",
            Decimal("0.106"),
            loinc=(Loinc("2731-8", ("pg/mL",)),),  # domain.md: 2731-8, property of pg/mL (mass)
            plausible_max=Decimal("100000"),
        ),
        Analyte(
            "pthrp",
            "PTH-related protein",
            "pmol/L",
            "pmol/L",
            Decimal("1"),
            loinc=(Loinc("15087-0", ("pmol/L",)),),  # domain.md: 15087-0 (moles)
            # domain.md: "some labs print PTHrP in mass units ... store what the source prints"; no factor known.
            printed_units=("pg/mL",),
            plausible_max=Decimal("100000"),
        ),
        Analyte(
            "vitamin_d_25oh",
            "25-hydroxyvitamin D",
            "ng/mL",
            "nmol/L",
            Decimal("2.496"),
            loinc=(Loinc("62292-8", ("ng/mL",)),),  # domain.md: 62292-8, property of ng/mL (mass)
            plausible_max=Decimal("10000"),
        ),
        Analyte(
            "vitamin_d_125oh2",
            "1,25-dihydroxyvitamin D",
            "pg/mL",
            "pmol/L",
            Decimal("2.4"),
            loinc=(Loinc("62290-2", ("pg/mL",)),),  # domain.md: 62290-2, property of pg/mL (mass)
            plausible_max=Decimal("100000"),
        ),
        Analyte(
            "phosphate",
            "Serum phosphate",
            "mg/dL",
            "mmol/L",
            Decimal("0.3229"),
            loinc=(Loinc("2777-1", ("mg/dL",)),),  # domain.md: 2777-1, property of mg/dL (mass)
            plausible_max=Decimal("100"),
        ),
        Analyte(
            "magnesium",
            "Serum magnesium",
            "mg/dL",
            "mmol/L",
            Decimal("0.4114"),
            loinc=(Loinc("19123-9", ("mg/dL",)),),  # domain.md: 19123-9, property of mg/dL (mass)
            plausible_max=Decimal("100"),
        ),
        Analyte(
            "creatinine",
            "Serum creatinine",
            "mg/dL",
            "µmol/L",
            Decimal("88.4"),
            loinc=(Loinc("2160-0", ("mg/dL",)),),  # domain.md: 2160-0, property of mg/dL (mass)
            plausible_max=Decimal("100"),
        ),
        Analyte(
            "alkaline_phosphatase",
            "Alkaline phosphatase",
            "U/L",
            "U/L",
            Decimal("1"),
            loinc=(Loinc("6768-6", ("U/L",)),),  # domain.md: 6768-6 (catalytic activity, its only unit)
            plausible_max=Decimal("1000000"),
        ),
    )
}

# Usual names and abbreviations of the built-in analytes, as case reports print them (domain.md's analyte list):
# the seed of the analyte table's synonyms.
BUILTIN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "calcium_total": ("calcium", "total calcium", "serum calcium", "Ca"),
    "calcium_ionized": ("ionized calcium", "ionised calcium", "iCa", "free calcium"),
    "calcium_corrected": ("corrected calcium", "albumin-corrected calcium", "adjusted calcium"),
    "albumin": ("albumin",),
    "pth_intact": ("PTH", "intact PTH", "iPTH", "parathyroid hormone", "intact parathyroid hormone"),
    "pthrp": ("PTHrP", "PTH-related protein", "PTH-related peptide", "parathyroid hormone-related protein",
              "parathyroid hormone-related peptide", "PTH-rP"),
    "vitamin_d_25oh": ("25-hydroxyvitamin D", "25-OH vitamin D", "25(OH)D", "25-(OH) D", "25-OH D",
                       "25-hydroxy vitamin D", "calcidiol"),
    "vitamin_d_125oh2": ("1,25-dihydroxyvitamin D", "1,25-(OH)2 D", "1,25(OH)2D", "1,25-(OH)2 vitamin D",
                         "1,25-dihydroxy vitamin D", "1,25(OH)2 vitamin D"),
    "phosphate": ("phosphate", "phosphorus", "inorganic phosphate"),
    "magnesium": ("magnesium", "Mg"),
    "creatinine": ("creatinine",),
    "alkaline_phosphatase": ("alkaline phosphatase", "ALP"),
}  # fmt: skip


BUILTIN_ANALYTES = {code: replace(a, synonyms=BUILTIN_SYNONYMS.get(code, ())) for code, a in BUILTIN_ANALYTES.items()}

# Serum calcium summarised together (peak, nadir, grades); ionized calcium is on its own scale.
SERUM_CALCIUM_ANALYTES = (CALCIUM_TOTAL, CALCIUM_CORRECTED, CALCIUM_UNSPECIFIED)
CALCIUM_ANALYTES = (*SERUM_CALCIUM_ANALYTES, CALCIUM_IONIZED)
# Codes the logic here names (corrected calcium, CTCAE grades, summaries): their rows can be edited but never
# renamed or deleted.
PROTECTED_ANALYTES = (*CALCIUM_ANALYTES, ALBUMIN)

# The default range belongs to the code (domain.md's default upper limit for serum calcium), not to a table row.
DEFAULT_RANGES: dict[str, ReferenceRange] = {code: DEFAULT_CALCIUM_RANGE for code in SERUM_CALCIUM_ANALYTES}

_registry: Callable[[], Mapping[str, Analyte]] = lambda: BUILTIN_ANALYTES  # noqa: E731


def use_registry(registry: Callable[[], Mapping[str, Analyte]]) -> None:
    """Installs where the analytes come from (cases/analytes.py: the analyte table); without it, BUILTIN_ANALYTES."""
    global _registry
    _registry = registry


def analytes() -> Mapping[str, Analyte]:
    """Every analyte by code, in the registry's order."""
    return _registry()


class UnitError(ValueError):
    """A unit that does not belong to the analyte."""


def analyte(code: str) -> Analyte:
    try:
        return analytes()[code]
    except KeyError:
        raise ValueError(f"unknown analyte {code!r}") from None


def unit_is_valid(analyte_code: str, unit: str) -> bool:
    a = analytes().get(analyte_code)
    return a is not None and unit in a.accepted_units


def is_convertible(analyte_code: str, unit: str) -> bool:
    """Whether a value in this unit has SI and conventional values (not for a unit stored as printed)."""
    a = analytes().get(analyte_code)
    return a is not None and unit in a.units


def unit_system(analyte_code: str, unit: str) -> str:
    a = analyte(analyte_code)
    if unit == a.conventional_unit:
        return CONVENTIONAL
    if unit == a.si_unit:
        return SI
    raise UnitError(f"{unit!r} is not a unit of {a.label} (use {' or '.join(a.units)})")


MULTIPLY = "*"
DIVIDE = "/"


def conversion(analyte_code: str, from_unit: str, to_unit: str) -> tuple[str, Decimal]:
    """How a value gets from one of the analyte's units to the other: multiplied or divided by a factor."""
    a = analyte(analyte_code)
    source = unit_system(analyte_code, from_unit)
    target = unit_system(analyte_code, to_unit)
    if source == target or a.si_factor == 1:
        return MULTIPLY, Decimal(1)
    return (MULTIPLY if target == SI else DIVIDE), a.si_factor


def convert(value: Decimal, analyte_code: str, from_unit: str, to_unit: str) -> Decimal:
    """Exact (unrounded) conversion between an analyte's conventional and SI units."""
    operation, factor = conversion(analyte_code, from_unit, to_unit)
    return Decimal(value) * factor if operation == MULTIPLY else Decimal(value) / factor


@overload
def round_for_unit(value: Decimal, unit: str) -> Decimal: ...
@overload
def round_for_unit(value: None, unit: str) -> None: ...
@overload
def round_for_unit(value: Decimal | None, unit: str) -> Decimal | None: ...
def round_for_unit(value: Decimal | None, unit: str) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(1).scaleb(-unit_places(unit)), rounding=ROUND_HALF_UP)


def unit_places(unit: str) -> int:
    """Decimal places a converted value in this unit is rounded to (half up)."""
    return UNIT_DECIMALS.get(unit, 2)


def to_si(value: Decimal, analyte_code: str, unit: str) -> Decimal:
    a = analyte(analyte_code)
    return round_for_unit(convert(value, analyte_code, unit, a.si_unit), a.si_unit)


def to_conventional(value: Decimal, analyte_code: str, unit: str) -> Decimal:
    a = analyte(analyte_code)
    return round_for_unit(convert(value, analyte_code, unit, a.conventional_unit), a.conventional_unit)


# --- Albumin-corrected calcium (Payne) ---------------------------------------------------------------


def corrected_calcium(calcium: Decimal, calcium_unit: str, albumin: Decimal, albumin_unit: str) -> Decimal:
    """Payne-corrected calcium in the calcium's own unit system (unrounded).

    conventional: Ca + 0.8 x (4.0 - albumin g/dL); SI: Ca + 0.02 x (40 - albumin g/L).
    """
    system = unit_system(CALCIUM_TOTAL, calcium_unit)
    if system == CONVENTIONAL:
        alb = convert(albumin, ALBUMIN, albumin_unit, "g/dL")
        return Decimal(calcium) + Decimal("0.8") * (Decimal("4.0") - alb)
    alb = convert(albumin, ALBUMIN, albumin_unit, "g/L")
    return Decimal(calcium) + Decimal("0.02") * (Decimal("40") - alb)


# --- Interpretation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpretation:
    flag: str | None  # high / low / normal / indeterminate, or None when nothing can be said
    basis: str  # reported_range / default_range / reported_qualitative / no_range
    ref_low: Decimal | None = None
    ref_high: Decimal | None = None
    ref_unit: str | None = None
    note: str = ""


def effective_range(
    analyte_code: str, unit: str, ref_low: Decimal | None, ref_high: Decimal | None
) -> tuple[Decimal | None, Decimal | None, str]:
    """The reference limits to judge a value by, in the value's unit, and where they come from."""
    if ref_low is not None or ref_high is not None:
        return ref_low, ref_high, BASIS_REPORTED
    default = analyte(analyte_code).default_range
    if default is None or not is_convertible(analyte_code, unit):  # a default needs the value's unit
        return None, None, BASIS_NONE
    low = None if default.low is None else convert(default.low, analyte_code, default.unit, unit)
    high = None if default.high is None else convert(default.high, analyte_code, default.unit, unit)
    return low, high, BASIS_DEFAULT


def _censored_ends(value: Decimal, comparator: str) -> tuple[Decimal, Decimal]:
    if comparator in ("<", "<="):
        return Decimal("-Infinity"), value
    return value, Decimal("Infinity")


def _side(
    low_end: Decimal,
    high_end: Decimal,
    ref_low: Decimal | None,
    ref_high: Decimal | None,
    *,
    comparator: str = "",
) -> str | None:
    """Classify [low_end, high_end] against reference limits.

    For a reported range (several values spread over the interval) any part outside a limit counts; for a
    censored value (one unknown value somewhere in the interval) only a side the whole interval is on counts.
    A strict bound excludes its end: ">10.1" with an upper limit of 10.1 is high, ">=10.1" is not known to be.
    """
    above = ref_high is not None and high_end > ref_high
    below = ref_low is not None and low_end < ref_low
    if comparator:
        if ref_high is not None and (low_end > ref_high or (comparator == ">" and low_end == ref_high)):
            return HIGH
        if ref_low is not None and (high_end < ref_low or (comparator == "<" and high_end == ref_low)):
            return LOW
        if above or below:
            return INDETERMINATE
    if above and below:
        return INDETERMINATE
    if above:
        return HIGH
    if below:
        return LOW
    # Inside the known limits; "normal" needs both limits, otherwise we only know one side.
    if ref_low is not None and ref_high is not None:
        return NORMAL
    return None


# A result without a number, by the source's own word (the other words say nothing about the range).
QUALITATIVE_FLAGS = {"high": HIGH, "low": LOW, "normal": NORMAL}


def interpret(
    analyte_code: str,
    unit: str,
    value: Decimal | None,
    *,
    value_high: Decimal | None = None,
    comparator: str = "",
    qualitative: str = "",
    ref_low: Decimal | None = None,
    ref_high: Decimal | None = None,
) -> Interpretation:
    """Interpret one lab result against its reported range, else a documented default.

    A reported range (value..value_high) is high when any part of it lies above the upper limit, low when
    any part lies below the lower limit, indeterminate when it crosses both. A censored value ("<5")
    is judged by every value it allows: "<5" is low only if 5 is below the lower limit.
    A result without a number is interpreted from the source's own qualitative word.
    """
    if value is None:
        flag = QUALITATIVE_FLAGS.get(qualitative)
        return Interpretation(flag, BASIS_QUALITATIVE if flag else BASIS_NONE)
    low, high, basis = effective_range(analyte_code, unit, ref_low, ref_high)
    if basis == BASIS_NONE:
        return Interpretation(None, BASIS_NONE, note="no reference range reported and no default")
    value = Decimal(value)
    if comparator:
        low_end, high_end = _censored_ends(value, comparator)
    else:
        low_end, high_end = value, Decimal(value_high) if value_high is not None else value
    flag = _side(low_end, high_end, low, high, comparator=comparator)
    note = ""
    if flag is None:
        note = "within the only known limit; the other limit is not reported"
    return Interpretation(flag, basis, low, high, unit, note)


# --- CTCAE v5.0 ---------------------------------------------------------------------------------------

HYPER = "hypercalcemia"
HYPO = "hypocalcemia"

# Lower bounds (exclusive) of grades 2, 3 and 4; grade 1 starts above the ULN. domain.md's table.
_HYPER_THRESHOLDS = {
    "mg/dL": (Decimal("11.5"), Decimal("12.5"), Decimal("13.5")),
    "mmol/L": (Decimal("2.9"), Decimal("3.1"), Decimal("3.4")),
    "ionized": (Decimal("1.5"), Decimal("1.6"), Decimal("1.8")),
}
# Upper bounds (exclusive) of grades 2, 3 and 4; grade 1 starts below the LLN.
_HYPO_THRESHOLDS = {
    "mg/dL": (Decimal("8.0"), Decimal("7.0"), Decimal("6.0")),
    "mmol/L": (Decimal("2.0"), Decimal("1.75"), Decimal("1.5")),
    "ionized": (Decimal("1.0"), Decimal("0.9"), Decimal("0.8")),
}


@dataclass(frozen=True)
class Grade:
    grade: int | None  # 0 = within limits; None = cannot be determined
    direction: str  # hypercalcemia / hypocalcemia
    basis: str  # calcium_corrected / calcium_total / calcium_ionized
    limit_basis: str  # reported_range / default_range / no_range
    note: str = ""


def ctcae_grade(
    direction: str,
    basis: str,
    value: Decimal,
    unit: str,
    *,
    uln: Decimal | None = None,
    lln: Decimal | None = None,
    limit_basis: str = BASIS_REPORTED,
    comparator: str = "",
) -> Grade:
    """CTCAE v5.0 grade (0-4) of one calcium value. Grade 5 (death) is not a laboratory grade.

    Corrected and total calcium use the thresholds of the unit the value is in (mg/dL or mmol/L), so a
    value is never pushed across a boundary by a conversion; ionized calcium is graded in mmol/L on its own
    scale. uln/lln are in the value's unit. A censored value (">15") gets the lowest grade every value it
    allows reaches, noted as "at least"; one censored towards the other side ("<8" for hypercalcemia)
    cannot be graded.
    """
    if basis not in CALCIUM_ANALYTES:
        raise ValueError(f"cannot grade {basis!r}")
    if direction not in (HYPER, HYPO):
        raise ValueError(f"unknown direction {direction!r}")
    value = Decimal(value)
    if basis == CALCIUM_IONIZED:
        value = convert(value, basis, unit, "mmol/L")
        uln = None if uln is None else convert(uln, basis, unit, "mmol/L")
        lln = None if lln is None else convert(lln, basis, unit, "mmol/L")
        scale = "ionized"
    else:
        unit_system(basis, unit)
        scale = unit
    towards = {HYPER: (">", ">="), HYPO: ("<", "<=")}[direction]
    if comparator and comparator not in towards:
        return Grade(None, direction, basis, limit_basis, f"a value censored as {comparator}{value} cannot be graded")
    # "> x" allows only values above x: it reaches a grade whose threshold x already equals.
    strict = comparator in (">", "<")
    note = "at least: the value is censored" if comparator else ""
    if direction == HYPER:

        def beyond(limit: Decimal) -> bool:
            return value >= limit if strict else value > limit

        thresholds, limit, missing = _HYPER_THRESHOLDS[scale], uln, "no upper limit of normal to grade against"
    else:

        def beyond(limit: Decimal) -> bool:
            return value <= limit if strict else value < limit

        thresholds, limit, missing = _HYPO_THRESHOLDS[scale], lln, "no lower limit of normal to grade against"
    t2, t3, t4 = thresholds
    if beyond(t4):
        grade = 4
    elif beyond(t3):
        grade = 3
    elif beyond(t2):
        grade = 2
    elif limit is None:
        return Grade(None, direction, basis, BASIS_NONE, missing)
    else:
        grade = 1 if beyond(limit) else 0
    if grade == 0 and comparator:
        # ">9" with ULN 10.1 allows values on both sides of the limit: no grade is certain.
        return Grade(
            None, direction, basis, limit_basis, f"not determinable: {comparator}{value} may lie beyond the limit"
        )
    return Grade(grade, direction, basis, limit_basis, note)


# --- Per-case summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One lab result as the case summary needs it (built from a LabResult row or an API payload)."""

    id: object
    analyte: str
    unit: str
    value: Decimal | None
    sequence: int
    day: int | None = None
    value_high: Decimal | None = None
    comparator: str = ""
    qualitative: str = ""
    ref_low: Decimal | None = None
    ref_high: Decimal | None = None
    follows: tuple = ()  # ids of the interventions the source reports this result after (one or several)


@dataclass(frozen=True)
class Treatment:
    id: object
    intent: str
    status: str
    sequence: int
    start_day: int | None = None


@dataclass(frozen=True)
class CalciumPoint:
    """A calcium value on the case's course, kept in the unit it was reported in (a corrected value in its
    calcium's unit), with its limits and what it was derived from; the *_mg_dl properties put every point
    on one scale for comparing and plotting."""

    measurement_id: object
    basis: str  # calcium_total / calcium_corrected / calcium_ionized
    sequence: int
    day: int | None
    unit: str
    low: Decimal  # low end of a reported range, or the value (the bound of a censored value)
    high: Decimal  # high end of a reported range, or the value
    uln: Decimal | None
    lln: Decimal | None
    limit_basis: str
    comparator: str = ""  # "<", "<=", ">", ">=" for a censored value
    albumin_id: object = None
    follows: tuple = ()

    def _mg_dl(self, value: Decimal | None) -> Decimal | None:
        return None if value is None else convert(value, self.basis, self.unit, "mg/dL")

    @property
    def low_mg_dl(self) -> Decimal:
        return convert(self.low, self.basis, self.unit, "mg/dL")

    @property
    def high_mg_dl(self) -> Decimal:
        return convert(self.high, self.basis, self.unit, "mg/dL")

    @property
    def uln_mg_dl(self) -> Decimal | None:
        return self._mg_dl(self.uln)

    @property
    def lln_mg_dl(self) -> Decimal | None:
        return self._mg_dl(self.lln)


@dataclass(frozen=True)
class Extreme:
    measurement_id: object
    basis: str
    mg_dl: Decimal
    mmol_l: Decimal
    day: int | None
    comparator: str = ""  # ">" when the peak is a censored value (">15": the peak is above 15)


@dataclass(frozen=True)
class Normalisation:
    """intervention_id: the administered intervention that preceded the first normal calcium (the first
    calcium-directed one when calcium never normalised); days count from the start of the first calcium-directed
    intervention. first_intervention_id /
    first_normalised: whether the first calcium-directed intervention itself worked (its own "calcium after" was
    normal), None when that cannot be told."""

    intervention_id: object
    normalised: bool
    measurement_id: object = None
    days: int | None = None
    first_intervention_id: object = None
    first_normalised: bool | None = None


@dataclass(frozen=True)
class AroundIntervention:
    """after: the calcium value reported after the intervention; after_word: instead, a result the source links to
    it with only a word ("normalised"); normal_after: whether calcium was normal after it (from either)."""

    intervention_id: object
    before: CalciumPoint | None
    after: CalciumPoint | None
    after_word: Measurement | None = None
    normal_after: bool | None = None

    @property
    def after_day(self) -> int | None:
        after = self.after or self.after_word
        return after.day if after else None


@dataclass(frozen=True)
class CalciumSummary:
    """Serum (total or corrected) calcium and ionized calcium are summarised separately: they are on
    different scales with different CTCAE thresholds."""

    points: tuple[CalciumPoint, ...]
    peak: Extreme | None
    nadir: Extreme | None
    peak_grade: Grade | None
    nadir_grade: Grade | None
    normalisation: Normalisation | None
    around: tuple[AroundIntervention, ...]
    ionized_peak: Extreme | None = None
    ionized_nadir: Extreme | None = None
    ionized_peak_grade: Grade | None = None
    ionized_nadir_grade: Grade | None = None


def pair_albumin(calcium: Measurement, albumins: Sequence[Measurement]) -> Measurement | None:
    """The albumin measured with this calcium: same day offset when both are known, else same timeline
    position. domain.md asks for an albumin "close in time"; we take only simultaneous ones."""
    for alb in albumins:
        if alb.value is None or alb.comparator or alb.value_high is not None:
            continue
        if calcium.day is not None and alb.day is not None:
            if calcium.day == alb.day:
                return alb
        elif calcium.sequence == alb.sequence:
            return alb
    return None


def calcium_points(measurements: Iterable[Measurement]) -> list[CalciumPoint]:
    """Total (corrected where a simultaneous albumin exists), reported corrected, and ionized calcium,
    censored values included, in timeline order."""
    measurements = list(measurements)
    albumins = [m for m in measurements if m.analyte == ALBUMIN]
    points = []
    for m in measurements:
        if m.analyte not in CALCIUM_ANALYTES or m.value is None or not is_convertible(m.analyte, m.unit):
            continue  # without a unit (not reported) a calcium cannot be put on a scale or graded
        basis, albumin_id = m.analyte, None
        low, high = Decimal(m.value), Decimal(m.value_high if m.value_high is not None else m.value)
        if m.analyte == CALCIUM_TOTAL:
            alb = pair_albumin(m, albumins)
            if alb is not None:
                corrected_low = corrected_calcium(low, m.unit, alb.value, alb.unit)
                # A correction that leaves no calcium is an entry error (albumin in the wrong unit, say):
                # the total is kept rather than a corrected value that cannot exist.
                if corrected_low > 0:
                    low, high = corrected_low, corrected_calcium(high, m.unit, alb.value, alb.unit)
                    basis, albumin_id = CALCIUM_CORRECTED, alb.id
        ref_low, ref_high, limit_basis = effective_range(m.analyte, m.unit, m.ref_low, m.ref_high)
        points.append(
            CalciumPoint(
                measurement_id=m.id,
                basis=basis,
                sequence=m.sequence,
                day=m.day,
                unit=m.unit,
                low=low,
                high=high,
                uln=ref_high,
                lln=ref_low,
                limit_basis=limit_basis,
                comparator=m.comparator,
                albumin_id=albumin_id,
                follows=m.follows,
            )
        )
    points.sort(key=lambda p: (p.sequence, p.day if p.day is not None else 0))
    return points


def _grade_point(point: CalciumPoint, direction: str) -> Grade:
    # The limit basis names where the limit this direction uses comes from: a default upper limit says nothing
    # about a nadir graded without a lower limit.
    limit = point.uln if direction == HYPER else point.lln
    return ctcae_grade(
        direction,
        point.basis,
        point.high if direction == HYPER else point.low,
        point.unit,
        uln=point.uln,
        lln=point.lln,
        limit_basis=point.limit_basis if limit is not None else BASIS_NONE,
        comparator=point.comparator,
    )


def _extreme(point: CalciumPoint, value_mg_dl: Decimal) -> Extreme:
    return Extreme(
        point.measurement_id,
        point.basis,
        round_for_unit(value_mg_dl, "mg/dL"),
        to_si(value_mg_dl, point.basis, "mg/dL"),
        point.day,
        point.comparator,
    )


def disorder_direction(disorder: str | None) -> str | None:
    """The side of the reference range a disorder is about: hypercalcemia the upper, hypocalcemia the lower."""
    return {HYPER: HYPER, HYPO: HYPO}.get(disorder or "")


def is_within_limits(point: CalciumPoint, direction: str | None = None) -> bool | None:
    """Whether the point is back within its reference limits: True, False, or None when it cannot be told.

    With a direction, only the limit on the disorder's side counts — at or below the upper limit for
    hypercalcemia, at or above the lower limit for hypocalcemia — whether or not the source reports the other
    one (an overshoot shows in the nadir and its grade). Without a direction both limits are needed. A
    censored value counts only when every value it allows is on the same side.
    """
    if point.comparator:
        low_end, high_end = _censored_ends(point.low, point.comparator)
    else:
        low_end, high_end = point.low, point.high
    if direction == HYPER:
        if point.uln is None:
            return None
        side = _side(low_end, high_end, None, point.uln, comparator=point.comparator)
    elif direction == HYPO:
        if point.lln is None:
            return None
        side = _side(low_end, high_end, point.lln, None, comparator=point.comparator)
    else:
        if point.uln is None or point.lln is None:
            return None
        side = _side(low_end, high_end, point.lln, point.uln, comparator=point.comparator)
    if side in (NORMAL, None):  # None: inside the one limit that counts
        return True
    if side in (HIGH, LOW):
        return False
    return None


def _word_is_normal(word: str, direction: str | None) -> bool | None:
    """A calcium result given only as the source's word, judged like a value: on the disorder's side of the range
    ("low" after treating hypercalcemia is no longer high; the overshoot is not this measure's concern)."""
    flag = {"high": HIGH, "low": LOW, "normal": NORMAL}.get(word)
    if flag is None:
        return None
    if flag == NORMAL:
        return True
    if direction is None:
        return False
    return flag != (HIGH if direction == HYPER else LOW)


def _before_next(t: Treatment, administered: list[Treatment], together: tuple = ()):
    """Whether a result lies after t and before the next administered intervention: a value measured after a
    later intervention reflects that one, never t (even when the source links it to t). `together`: the
    interventions a result is linked to; a later one of them is not "next" for that result (a combination the
    source reports one result after)."""
    following = next((o for o in administered if o.sequence > t.sequence and o.id not in together), None)

    def within(sequence: int, day: int | None) -> bool:
        if sequence <= t.sequence:
            return False
        if following is None:
            return True
        if day is not None and following.start_day is not None and day > following.start_day:
            return False
        return sequence < following.sequence

    return within


def _calcium_after(
    t: Treatment,
    serum: list[CalciumPoint],
    words: list[Measurement],
    administered: list[Treatment],
    direction: str | None,
) -> AroundIntervention:
    """The calcium the source reports after this intervention: a result it explicitly links to it (a value, or
    only a word such as "normalised"), else the first value after it; in both cases before the next administered
    intervention (which would confound the reading)."""
    within = _before_next(t, administered)

    def linked_within(m) -> bool:  # linked to t (maybe with others given with it), before any other intervention
        return t.id in m.follows and _before_next(t, administered, m.follows)(m.sequence, m.day)

    candidates = [p for p in serum if within(p.sequence, p.day)]
    linked = next((p for p in serum if linked_within(p)), None)
    linked_word = next((m for m in words if linked_within(m)), None)
    before = next((p for p in reversed(serum) if p.sequence < t.sequence), None)
    if linked is None and linked_word is not None:
        return AroundIntervention(t.id, before, None, linked_word, _word_is_normal(linked_word.qualitative, direction))
    after = linked or (candidates[0] if candidates else None)
    return AroundIntervention(t.id, before, after, None, is_within_limits(after, direction) if after else None)


def _worst_grade(points: list[CalciumPoint], direction: str, extreme: CalciumPoint) -> Grade:
    """The highest CTCAE grade among the points (each graded on its own unit's scale), the extreme's own grade on
    a tie. Usually the extreme's, but a value just below the peak in mg/dL can grade higher than a peak reported
    in mmol/L, whose scale has other boundaries."""
    own = _grade_point(extreme, direction)
    grades = [own] + [_grade_point(p, direction) for p in points if p is not extreme]
    return max(grades, key=lambda g: -1 if g.grade is None else g.grade)


def _extremes(points: list[CalciumPoint]) -> tuple[Extreme | None, Extreme | None, Grade | None, Grade | None]:
    """Peak and nadir with their grades. A value censored upwards (">15") can be the peak (the peak is then
    above 15) but says nothing about the nadir, and the other way round. On a tie the censored value wins:
    ">13.5" beside 13.5 means the peak was above 13.5."""
    peak = nadir = peak_grade = nadir_grade = None
    upper = [p for p in points if p.comparator not in ("<", "<=")]
    lower = [p for p in points if p.comparator not in (">", ">=")]
    if upper:
        peak_point = max(upper, key=lambda p: (p.high_mg_dl, bool(p.comparator)))
        peak = _extreme(peak_point, peak_point.high_mg_dl)
        peak_grade = _worst_grade(upper, HYPER, peak_point)
    if lower:
        nadir_point = min(lower, key=lambda p: (p.low_mg_dl, not p.comparator))
        nadir = _extreme(nadir_point, nadir_point.low_mg_dl)
        nadir_grade = _worst_grade(lower, HYPO, nadir_point)
    return peak, nadir, peak_grade, nadir_grade


def _normalisation(
    administered: list[Treatment],
    serum: list[CalciumPoint],
    words: list[Measurement],
    direction: str | None,
    around: dict,
) -> Normalisation | None:
    """Whether calcium normalised after the first administered calcium-directed intervention, on the disorder's
    side (values or the source's word), and which intervention preceded the first normal reading: the one the
    source links the reading to, else the last administered one before it (of any intent: seed 000's calcium
    normalised after embolization of the PTHrP-secreting metastases, not after the fluids and bisphosphonates)."""
    calcium_directed = [t for t in administered if t.intent == "calcium_directed"]
    if not calcium_directed:
        return None
    first = calcium_directed[0]
    first_normalised = around[first.id].normal_after if first.id in around else None
    readings = [(p.sequence, p.day, p.measurement_id, p.follows, is_within_limits(p, direction)) for p in serum]
    readings += [(m.sequence, m.day, m.id, m.follows, _word_is_normal(m.qualitative, direction)) for m in words]
    later = sorted((r for r in readings if r[0] > first.sequence), key=lambda r: (r[0], r[1] is None, r[1] or 0))
    hit = next((r for r in later if r[4]), None)
    if hit is None:
        if later and all(r[4] is False for r in later):
            return Normalisation(first.id, False, first_intervention_id=first.id, first_normalised=False)
        return None
    sequence, day, measurement_id, follows, _ = hit
    before = [t for t in administered if t.sequence < sequence]
    linked = [t for t in before if t.id in follows]
    # Interventions at the same timeline position were given together: the first listed stands for them. Of several
    # the reading is linked to, the latest started is credited (it immediately preceded the normal value).
    last = linked or before
    credited = next(t for t in last if t.sequence == last[-1].sequence)
    # Days count from the start of calcium-directed treatment (the first one), whichever intervention is credited.
    days = day - first.start_day if day is not None and first.start_day is not None else None
    return Normalisation(credited.id, True, measurement_id, days, first.id, first_normalised)


def calcium_summary(
    measurements: Iterable[Measurement], treatments: Iterable[Treatment], disorder: str | None = None
) -> CalciumSummary:
    """Peak and nadir calcium, their CTCAE grades, and the course around calcium-directed interventions.

    Peak and nadir are taken over total/corrected calcium; ionized calcium is on another scale and gets its
    own peak, nadir and grades. "After an intervention" means later on the case's timeline (a larger
    sequence number); days are counted only when both offsets are known. Normalisation is judged on the
    disorder's side of the range (disorder_direction, is_within_limits). The grades are the worst of the
    case's values (_worst_grade).
    """
    measurements = list(measurements)
    points = calcium_points(measurements)
    serum = [p for p in points if p.basis != CALCIUM_IONIZED]
    ionized = [p for p in points if p.basis == CALCIUM_IONIZED]
    peak, nadir, peak_grade, nadir_grade = _extremes(serum)
    ionized_peak, ionized_nadir, ionized_peak_grade, ionized_nadir_grade = _extremes(ionized)
    direction = disorder_direction(disorder)

    ordered = sorted(treatments, key=lambda t: t.sequence)
    administered = [t for t in ordered if t.status == "administered"]
    # Serum calcium results the source gives only as a word ("normal", "normalised"): no number, still a reading.
    words = [m for m in measurements if m.analyte in SERUM_CALCIUM_ANALYTES and m.value is None and m.qualitative]
    around = tuple(_calcium_after(t, serum, words, administered, direction) for t in administered)
    normalisation = _normalisation(administered, serum, words, direction, {a.intervention_id: a for a in around})
    return CalciumSummary(
        tuple(points),
        peak,
        nadir,
        peak_grade,
        nadir_grade,
        normalisation,
        around,
        ionized_peak,
        ionized_nadir,
        ionized_peak_grade,
        ionized_nadir_grade,
    )
