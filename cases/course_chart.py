"""The data of a case's calcium-course chart, prepared on the server; drawn in the browser by ECharts
(cases/static/cases/course_chart.js, library vendored in cases/static/vendor/echarts/).

Pure: takes the case's CalciumSummary, its interventions and its lab rows, returns plain JSON-ready data.
Every number is given in both units (mg/dL and mmol/L) as people write them ("12", "3.02"), so the page can show
the unit the curator entered and the other one on hover or toggle without converting anything itself.

Time: a plotted item with a day offset sits on the **day** axis; one without sits on a separate **timeline
order** axis (its position among the undated items, by sequence), never mixed with days.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from . import measures

UNITS = ("mg/dL", "mmol/L")
SERIES_LABELS = {
    measures.CALCIUM_TOTAL: "Total calcium",
    measures.CALCIUM_CORRECTED: "Corrected calcium (albumin)",
    measures.CALCIUM_IONIZED: "Ionized calcium",
    measures.CALCIUM_UNSPECIFIED: "Calcium (type not stated)",
}
LIMIT_SOURCES = {measures.BASIS_REPORTED: "reported", measures.BASIS_DEFAULT: "default"}


def plain_number(value: Decimal | int | float | None) -> str | None:
    """A number as people write it: 12, 15.1, 8.7 (no padding zeros, no exponent)."""
    if value is None:
        return None
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _both_units(value: Decimal | None, basis: str, unit: str) -> dict[str, dict] | None:
    """{"mg/dL": {"v": 12.1, "text": "12.1"}, "mmol/L": {...}} rounded per unit; the entered unit is not rounded."""
    if value is None:
        return None
    out = {}
    for target in UNITS:
        if target == unit:
            converted = Decimal(value)
        else:
            converted = measures.round_for_unit(measures.convert(value, basis, unit, target), target)
        out[target] = {"v": float(converted), "text": plain_number(converted)}
    return out


def _entered_unit(points) -> str:
    """The unit the curator entered most for serum calcium (ionized calcium is on its own scale)."""
    serum = [p.unit for p in points if p.basis != measures.CALCIUM_IONIZED] or [p.unit for p in points]
    counts = Counter(serum)
    return max(serum, key=lambda u: (counts[u], -serum.index(u))) if serum else "mg/dL"


def _reference(points) -> dict | None:
    """The serum calcium limits actually known (reported, else the documented default upper limit): a band only
    between two known limits, otherwise a single line."""
    for p in points:
        if p.basis == measures.CALCIUM_IONIZED or (p.uln is None and p.lln is None):
            continue
        return {
            "low": _both_units(p.lln, p.basis, p.unit),
            "high": _both_units(p.uln, p.basis, p.unit),
            "source": LIMIT_SOURCES.get(p.limit_basis, p.limit_basis.replace("_", " ")),
        }
    return None


def calcium_course(summary: measures.CalciumSummary, interventions: list, labs: dict) -> dict:
    """The chart's data.

    interventions: Intervention rows (sequence, day, end_day, status, intent, __str__);
    labs: {lab id: LabResult} for the quotes and the values as entered.
    """
    points = list(summary.points)
    if not points:
        return {"empty": True}
    shown = [i for i in interventions if i.intent == "calcium_directed" or i.sequence >= points[0].sequence]
    undated = sorted({p.sequence for p in points if p.day is None} | {i.sequence for i in shown if i.day is None})
    order_of = {s: n for n, s in enumerate(undated, start=1)}

    def place(item) -> dict:
        if item.day is not None:
            return {"axis": "day", "x": item.day}
        return {"axis": "order", "x": order_of[item.sequence]}

    series = []
    for basis, label in SERIES_LABELS.items():
        rows = []
        for p in (p for p in points if p.basis == basis):
            lab = labs.get(p.measurement_id)
            entered = lab.display_value if lab is not None else ""
            if basis == measures.CALCIUM_CORRECTED:
                albumin = labs.get(p.albumin_id)
                entered = f"measured {entered}, corrected (Payne) for albumin " + (
                    albumin.display_value if albumin is not None else "measured with it"
                )
            quote = lab.quote if lab is not None else ""
            rows.append(
                {
                    **place(p),
                    "sequence": p.sequence,
                    "day": p.day,
                    "unit": p.unit,
                    "comparator": p.comparator,
                    "low": _both_units(p.low, p.basis, p.unit),
                    "high": _both_units(p.high, p.basis, p.unit),
                    "entered": entered,
                    "quote": quote,
                }
            )
        if rows:
            series.append({"basis": basis, "label": label, "points": rows})

    bars = []
    for lane, item in enumerate(shown):
        ends = item.end_day if item.day is not None and item.end_day is not None else None
        bars.append(
            {
                **place(item),
                "lane": lane,
                "end": ends,
                "label": str(item),
                "status": item.get_status_display() if hasattr(item, "get_status_display") else item.status,
                "administered": item.status == "administered",
                "calcium_directed": item.intent == "calcium_directed",
                "timing": item.timing_text,
                "sequence": item.sequence,
            }
        )

    has_days = any(s["axis"] == "day" for ser in series for s in ser["points"]) or any(b["axis"] == "day" for b in bars)
    unit = _entered_unit(points)
    return {
        "empty": False,
        "unit": unit,
        "other_unit": next(u for u in UNITS if u != unit),
        "series": series,
        "reference": _reference(points),
        "interventions": bars,
        "axes": {
            "day": has_days,
            "order": [{"x": n, "sequence": s} for s, n in order_of.items()],
        },
    }
