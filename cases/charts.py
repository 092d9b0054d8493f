"""The calcium-course chart as inline SVG, rendered on the server (no JavaScript, no CDN).

Total, corrected and ionized calcium (mg/dL) against the case's day axis when every plotted item has a day
offset, otherwise against its timeline order (labelled with days where known); the reference band; and the
administered (solid) and recommended (dashed) interventions as labelled markers or spans.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from . import measures

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 24, 92
SERIES = {
    measures.CALCIUM_TOTAL: ("Total calcium", "#1f5fa8", ""),
    measures.CALCIUM_CORRECTED: ("Corrected calcium", "#b0451c", "6 3"),
    measures.CALCIUM_IONIZED: ("Ionized calcium", "#2e7d32", "2 3"),
}


def _fmt(value: Decimal | float) -> str:
    return f"{float(value):.1f}"


def calcium_chart_svg(summary: measures.CalciumSummary, interventions: list) -> str:
    """interventions: objects with sequence, day, end_day, status, intent and __str__ (Intervention rows)."""
    points = list(summary.points)
    if not points:
        return '<p class="calcium-chart-empty">No calcium values to plot.</p>'
    shown = [i for i in interventions if i.intent == "calcium_directed" or i.sequence >= points[0].sequence]
    use_days = all(p.day is not None for p in points) and all(i.day is not None for i in shown)
    if use_days:
        positions = sorted(
            {p.day for p in points} | {i.day for i in shown} | {i.end_day for i in shown if i.end_day is not None}
        )
        x_of = {d: d for d in positions}
        lo, hi = min(positions), max(positions)
        axis_label = "Day (day 0 = index event)"
    else:
        orders = sorted({p.sequence for p in points} | {i.sequence for i in shown})
        x_of = {s: n for n, s in enumerate(orders)}
        lo, hi = 0, max(len(orders) - 1, 1)
        axis_label = "Timeline order (days where the source gives them)"
    span = (hi - lo) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(key) -> float:
        return LEFT + (x_of[key] - lo) / span * plot_w

    def key_of(item) -> object:
        return item.day if use_days else item.sequence

    values = [p.low_mg_dl for p in points] + [p.high_mg_dl for p in points]
    limits = [v for p in points for v in (p.uln_mg_dl, p.lln_mg_dl) if v is not None]
    y_min = float(min(values + limits)) - 1
    y_max = float(max(values + limits)) + 1

    def y(value) -> float:
        return TOP + (y_max - float(value)) / (y_max - y_min) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="calcium-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Calcium course">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#bbb"/>',
    ]
    reference = next((p for p in points if p.basis != measures.CALCIUM_IONIZED and p.uln_mg_dl is not None), None)
    if reference is not None:
        top = y(reference.uln_mg_dl)
        bottom = y(reference.lln_mg_dl) if reference.lln_mg_dl is not None else TOP + plot_h
        source = "reported" if reference.limit_basis == measures.BASIS_REPORTED else "default upper limit"
        parts.append(
            f'<rect class="reference-band" x="{LEFT}" y="{top:.1f}" width="{plot_w}" '
            f'height="{bottom - top:.1f}" fill="#e8f3e8"><title>Reference range ({source})</title></rect>'
        )
        parts.append(
            f'<text x="{LEFT + 4}" y="{top - 3:.1f}" font-size="10" fill="#2e7d32">ULN '
            f"{_fmt(reference.uln_mg_dl)} ({source})</text>"
        )
    for tick in range(int(y_min) + 1, int(y_max) + 1):
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 3:.1f}" font-size="10" text-anchor="end">{tick}</text>')
        parts.append(f'<line x1="{LEFT - 3}" x2="{LEFT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#888"/>')
    parts.append(
        f'<text x="14" y="{TOP + plot_h / 2:.0f}" font-size="11" transform="rotate(-90 14 '
        f'{TOP + plot_h / 2:.0f})" text-anchor="middle">Calcium (mg/dL)</text>'
    )

    for n, item in enumerate(shown):
        x0 = x(key_of(item))
        dash = "" if item.status == "administered" else ' stroke-dasharray="4 3"'
        colour = "#7b1fa2" if item.intent == "calcium_directed" else "#757575"
        if use_days and item.end_day is not None and item.end_day != item.day:
            x1 = x(item.end_day)
            parts.append(
                f'<rect class="intervention" x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" height="{plot_h}" '
                f'fill="{colour}" fill-opacity="0.08"/>'
            )
        parts.append(
            f'<line class="intervention" x1="{x0:.1f}" x2="{x0:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{colour}"{dash}><title>{escape(str(item))} ({item.status})</title></line>'
        )
        label_y = TOP + plot_h + 30 + (n % 3) * 12
        parts.append(
            f'<text class="intervention-label" x="{x0:.1f}" y="{label_y}" font-size="10" fill="{colour}" '
            f'text-anchor="middle">{escape(str(item)[:28])}</text>'
        )

    for basis, (label, colour, dash) in SERIES.items():
        series = [p for p in points if p.basis == basis]
        if not series:
            continue
        coords = [(x(key_of(p)), y((p.low_mg_dl + p.high_mg_dl) / 2)) for p in series]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline class="series {basis}" points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash_attr}/>'
            )
        for p in series:
            cx = x(key_of(p))
            value = _fmt(p.low_mg_dl) if p.low_mg_dl == p.high_mg_dl else f"{_fmt(p.low_mg_dl)}–{_fmt(p.high_mg_dl)}"
            if p.low_mg_dl != p.high_mg_dl:
                parts.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(p.low_mg_dl):.1f}" y2="{y(p.high_mg_dl):.1f}" '
                    f'stroke="{colour}" stroke-width="4" stroke-linecap="round"/>'
                )
            parts.append(
                f'<circle class="point {basis}" cx="{cx:.1f}" cy="{y((p.low_mg_dl + p.high_mg_dl) / 2):.1f}" '
                f'r="4" fill="{colour}"><title>{label}: {value} mg/dL</title></circle>'
            )
            parts.append(
                f'<text x="{cx + 6:.1f}" y="{y(p.high_mg_dl) - 6:.1f}" font-size="10" fill="{colour}">{value}</text>'
            )

    for key, pos in x_of.items():
        cx = LEFT + (pos - lo) / span * plot_w
        tick = f"day {key}" if use_days else _order_label(key, points, shown)
        parts.append(f'<text x="{cx:.1f}" y="{TOP + plot_h + 14}" font-size="9" text-anchor="middle">{tick}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">{axis_label}</text>'
    )
    legend_x = LEFT + plot_w - 150
    for n, (basis, (label, colour, _)) in enumerate(SERIES.items()):
        if any(p.basis == basis for p in points):
            parts.append(
                f'<text x="{legend_x}" y="{TOP + 14 + 12 * n}" font-size="10" fill="{colour}">● {label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _order_label(sequence: int, points, interventions) -> str:
    days = [p.day for p in points if p.sequence == sequence and p.day is not None]
    days += [i.day for i in interventions if i.sequence == sequence and i.day is not None]
    return f"day {days[0]}" if days else f"#{sequence}"
