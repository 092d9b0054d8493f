"""The unit-slip guard: a lab value typed in one unit but left on the analyte's other unit (a calcium of 3.11 from a
report in mmol/L, saved as 3.11 mg/dL) is a warning the curator confirms (cases.warnings), in the admin and the API.

A value is a likely slip when, in the unit chosen, it is at or beyond a laboratory's critical (call-back) value for
the analyte, while the same number read in the analyte's other unit is possible (at most the analyte's plausible
maximum, cases.measures) and less critical: ordinary, or nearer its critical limit (as a ratio to the limit). So
3.11 mg/dL (12.5 mg/dL if meant in mmol/L) and 4 mg/dL (16 mg/dL, seed 000's peak) are asked, while 6.2 mg/dL
(24.8 mg/dL in mmol/L) and 16 mg/dL (64) are taken as meant. A genuine critical value that is asked is confirmed
once.

Bounds: the critical values of Houston Methodist's laboratory list ("Critical Values", houstonmethodist.org/
critical-values: calcium <= 6.5 or >= 13.0 mg/dL; ionized calcium <= 0.75 or >= 1.50 mmol/L; magnesium <= 1.0 or
>= 4.5 mg/dL). The list's "Calcium" is total calcium; albumin-corrected calcium and calcium of unstated type are on
the same scale (domain.md's CTCAE table grades them alike), so they share its limits. Not guarded, because no named
source gives us their limits: albumin (35 "g/dL" is already refused as impossible, plausible_max), phosphate, PTH,
PTHrP, vitamin D metabolites, creatinine, alkaline phosphatase.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from . import measures
from .course_chart import plain_number
from .warnings import CaseWarning, warning_check

if TYPE_CHECKING:
    from .models import Case


@dataclass(frozen=True)
class CriticalLimits:
    low: Decimal  # at or below: critical
    high: Decimal  # at or above: critical
    unit: str


_CALCIUM = CriticalLimits(Decimal("6.5"), Decimal("13.0"), "mg/dL")  # Houston Methodist critical values
CRITICAL_LIMITS: dict[str, CriticalLimits] = {
    measures.CALCIUM_TOTAL: _CALCIUM,
    measures.CALCIUM_CORRECTED: _CALCIUM,
    measures.CALCIUM_UNSPECIFIED: _CALCIUM,
    measures.CALCIUM_IONIZED: CriticalLimits(Decimal("0.75"), Decimal("1.50"), "mmol/L"),
    "magnesium": CriticalLimits(Decimal("1.0"), Decimal("4.5"), "mg/dL"),
}


def _severity(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    """How far beyond a critical limit a value lies, as a ratio (1 at the limit or within the limits)."""
    if value <= 0:
        return Decimal("Infinity")
    if value < low:
        return low / value
    if value > high:
        return value / high
    return Decimal(1)


def unit_slip(analyte_code: str, value: Decimal, unit: str) -> str | None:
    """What looks wrong with `value` in `unit`, if it looks like the number of the analyte's other unit."""
    limits = CRITICAL_LIMITS.get(analyte_code)
    a = measures.analytes().get(analyte_code)
    if limits is None or a is None or unit not in a.units or len(a.units) < 2:
        return None
    other = next(u for u in a.units if u != unit)
    low = measures.convert(limits.low, analyte_code, limits.unit, unit)
    high = measures.convert(limits.high, analyte_code, limits.unit, unit)
    if low < value < high:
        return None
    as_other = measures.convert(value, analyte_code, other, unit)  # the number read in the other unit, in `unit`
    plausible_max = a.plausible_max_in(unit)
    if plausible_max is not None and as_other > plausible_max:
        return None  # impossible in the other unit: the number was meant as typed
    if _severity(as_other, low, high) >= _severity(value, low, high):
        return None  # no less critical in the other unit (6.2 mg/dL, not 24.8): a genuine critical value

    side = "at or below" if value <= low else "at or above"
    limit = limits.low if value <= low else limits.high
    meant = f"{plain_number(value)} {other}"
    if other != limits.unit:
        in_limits_unit = measures.convert(value, analyte_code, other, limits.unit)
        meant += f" = {plain_number(Decimal(f'{in_limits_unit:.3g}'))} {limits.unit}"  # three figures: 12.5
    return (
        f"{plain_number(value)} {unit} is {side} the critical value for {a.in_sentence}"
        f" ({plain_number(limit)} {limits.unit}); did you mean {meant}?"
    )


@warning_check
def unit_slips(case: Case) -> Iterator[CaseWarning]:
    """A warning per lab whose value looks typed in the analyte's other unit (keyed by its place in the document)."""
    for n, lab in enumerate(case.labs.all()):
        if lab.value is None or not lab.unit or lab.unit_not_reported:
            continue
        message = unit_slip(lab.analyte, lab.value, lab.unit)
        if message:
            yield CaseWarning(f"labs[{n}].value", message)
