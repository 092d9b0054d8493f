"""The dashboard's cohort charts as inline SVG, rendered on the server.

The case's calcium-course chart is drawn in the browser by ECharts from cases.course_chart's data.
"""

from __future__ import annotations

import math
from decimal import Decimal
from html import escape

MAX_Y_TICKS = 10


def _fmt(value: Decimal | float) -> str:
    return f"{float(value):.1f}"


def _ticks(low: float, high: float, min_step: float = 0) -> list[int | float]:
    """Round tick values (1, 2 or 5 times a power of ten apart, at least min_step) in (low, high], at most
    MAX_Y_TICKS of them."""
    step = max(10 ** math.floor(math.log10(max(high - low, 1e-9) / MAX_Y_TICKS)), min_step)
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= MAX_Y_TICKS:
            step *= factor
            break
    first = math.floor(low / step) + 1
    ticks = [n * step for n in range(first, math.floor(high / step) + 1)]
    return [int(t) if float(t).is_integer() else round(t, 6) for t in ticks]


# --- Cohort charts for the dashboard -------------------------------------------------------------------------

PALETTE = ["#1f5fa8", "#b0451c", "#2e7d32", "#7b1fa2", "#c62828", "#00838f", "#6d4c41", "#ef6c00", "#455a64"]
RESPONSE_COLOURS = {
    "normalised": "#2e7d32",
    "partial": "#9e9d24",
    "transient": "#ef6c00",
    "none": "#c62828",
    "not_assessed": "#bdbdbd",
}


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dashboard-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def crosstab_svg(counts: dict[tuple[str, str], int], rows: list[str], columns: list[str]) -> str:
    """A heat-map grid: rows (mechanisms) x columns (tumor sites), the count in each cell."""
    if not rows or not columns:
        return '<p class="chart-empty">No cases.</p>'
    cell, left, top = 56, 190, 90
    width, height = left + cell * len(columns) + 10, top + cell * len(rows) + 10
    peak = max(counts.values(), default=1) or 1
    body = []
    for j, column in enumerate(columns):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{x:.0f}" y="{top - 8}" font-size="11" transform="rotate(-40 {x:.0f} {top - 8})">'
            f"{escape(column)}</text>"
        )
    for i, row in enumerate(rows):
        y = top + i * cell
        body.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4:.0f}" font-size="11" text-anchor="end">{escape(row)}</text>'
        )
        for j, column in enumerate(columns):
            n = counts.get((row, column), 0)
            shade = 0.08 + 0.85 * n / peak if n else 0
            body.append(
                f'<rect class="cell" x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="#1f5fa8" fill-opacity="{shade:.2f}" stroke="#ddd"><title>{escape(row)} × '
                f"{escape(column)}: {n}</title></rect>"
            )
            if n:
                body.append(
                    f'<text x="{left + j * cell + cell / 2 - 1:.0f}" y="{y + cell / 2 + 4:.0f}" font-size="13" '
                    f'text-anchor="middle" fill="{"#fff" if shade > 0.5 else "#000"}">{n}</text>'
                )
    return _svg(width, height, "Cases by mechanism and tumor site", body)


def strip_plot_svg(values: dict[str, list[tuple[str, Decimal]]], unit: str = "mg/dL") -> str:
    """One row per group (mechanism), one dot per case at its peak calcium, the median marked."""
    groups = [g for g, v in values.items() if v]
    if not groups:
        return '<p class="chart-empty">No peak calcium values.</p>'
    left, right, top, row_h = 190, 30, 20, 34
    width, height = 760, top + row_h * len(groups) + 40
    all_values = [float(v) for g in groups for _, v in values[g]]
    lo, hi = math.floor(min(all_values)) - 1, math.ceil(max(all_values)) + 1
    plot_w = width - left - right

    def x(v) -> float:
        return left + (float(v) - lo) / ((hi - lo) or 1) * plot_w

    body = []
    for tick in _ticks(lo - 1, hi):
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{height - 30}" stroke="#eee"/>')
        body.append(f'<text x="{x(tick):.1f}" y="{height - 16}" font-size="10" text-anchor="middle">{tick}</text>')
    body.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 2}" font-size="11" text-anchor="middle">'
        f"Peak calcium ({unit})</text>"
    )
    for i, group in enumerate(groups):
        y = top + i * row_h + row_h / 2
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<text x="{left - 8}" y="{y + 4:.0f}" font-size="11" text-anchor="end">{escape(group)} '
            f"(n={len(values[group])})</text>"
        )
        ordered = sorted(float(v) for _, v in values[group])
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        body.append(
            f'<line class="median" x1="{x(median):.1f}" x2="{x(median):.1f}" y1="{y - 11:.0f}" '
            f'y2="{y + 11:.0f}" stroke="#000" stroke-width="2"><title>median {median:.2f}</title></line>'
        )
        for k, (case_id, v) in enumerate(values[group]):
            jitter = ((k % 5) - 2) * 3
            body.append(
                f'<circle class="dot" cx="{x(v):.1f}" cy="{y + jitter:.0f}" r="5" fill="{colour}" '
                f'fill-opacity="0.75"><title>{escape(case_id)}: {float(v):.2f} {unit}</title></circle>'
            )
    return _svg(width, height, "Peak calcium by mechanism", body)


def stacked_bars_svg(rows: list[tuple[str, dict[str, int]]]) -> str:
    """One horizontal bar per agent, split by calcium response."""
    rows = [(label, counts) for label, counts in rows if sum(counts.values())]
    if not rows:
        return '<p class="chart-empty">No administered interventions.</p>'
    left, top, bar_h = 220, 30, 22
    width, height = 760, top + (bar_h + 6) * len(rows) + 20
    peak = max(sum(c.values()) for _, c in rows)
    scale = (width - left - 40) / peak
    body = []
    for n, (response, colour) in enumerate(RESPONSE_COLOURS.items()):
        body.append(
            f'<rect x="{left + n * 105}" y="6" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + n * 105 + 14}" y="15" font-size="10">{response}</text>'
        )
    for i, (label, counts) in enumerate(rows):
        y = top + i * (bar_h + 6)
        body.append(
            f'<text x="{left - 8}" y="{y + bar_h / 2 + 4:.0f}" font-size="11" text-anchor="end">'
            f"{escape(label[:32])}</text>"
        )
        x = left
        for response, colour in RESPONSE_COLOURS.items():
            n = counts.get(response, 0)
            if n:
                body.append(
                    f'<rect class="bar {response}" x="{x:.1f}" y="{y}" width="{n * scale:.1f}" '
                    f'height="{bar_h}" fill="{colour}"><title>{escape(label)}: {n} {response}</title></rect>'
                )
                x += n * scale
        body.append(f'<text x="{x + 4:.1f}" y="{y + bar_h / 2 + 4:.0f}" font-size="10">{sum(counts.values())}</text>')
    return _svg(width, height, "Calcium response by agent", body)


def trajectories_svg(series: list[dict]) -> str:
    """Calcium (mg/dL) against days from the first calcium-directed intervention, one line per case."""
    plotted = [(s, [p for p in s["points"] if p["day"] is not None]) for s in series if s["aligned"]]
    plotted = [(s, pts) for s, pts in plotted if pts]
    if not plotted:
        return '<p class="chart-empty">No case has dated calcium values and a dated calcium-directed intervention.</p>'
    left, right, top, bottom = 56, 170, 20, 40
    width, height = 760, 320
    days = [p["day"] for _, pts in plotted for p in pts]
    values = [float(p["value_high"] or p["value"]) for _, pts in plotted for p in pts] + [
        float(p["value"]) for _, pts in plotted for p in pts
    ]
    d_lo, d_hi = min(days + [0]), max(days + [0])
    v_lo, v_hi = math.floor(min(values)) - 1, math.ceil(max(values)) + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(d) -> float:
        return left + (d - d_lo) / ((d_hi - d_lo) or 1) * plot_w

    def y(v) -> float:
        return top + (v_hi - float(v)) / ((v_hi - v_lo) or 1) * plot_h

    body = [
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#bbb"/>',
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#7b1fa2" '
        f'stroke-dasharray="4 3"><title>first calcium-directed intervention</title></line>',
    ]
    for tick in _ticks(v_lo - 1, v_hi):
        body.append(f'<text x="{left - 6}" y="{y(tick) + 3:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for d in _ticks(d_lo - 1, d_hi, min_step=1):
        body.append(f'<text x="{x(d):.1f}" y="{top + plot_h + 14}" font-size="9" text-anchor="middle">{d}</text>')
    body.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" font-size="11" text-anchor="middle">'
        f"Days from the first calcium-directed intervention</text>"
    )
    for i, (s, pts) in enumerate(plotted):
        colour = PALETTE[i % len(PALETTE)]

        def mid(p) -> float:
            return (
                (float(p["value"]) + float(p["value_high"])) / 2 if p["value_high"] is not None else float(p["value"])
            )

        coords = " ".join(f"{x(p['day']):.1f},{y(mid(p)):.1f}" for p in pts)
        body.append(
            f'<polyline class="trajectory" points="{coords}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(s['case_id'])}</title></polyline>"
        )
        for p in pts:
            body.append(f'<circle cx="{x(p["day"]):.1f}" cy="{y(mid(p)):.1f}" r="3" fill="{colour}"/>')
        body.append(
            f'<text x="{width - right + 6}" y="{top + 12 + 13 * i}" font-size="10" fill="{colour}">'
            f"{escape(s['case_id'])} {escape(s['main_mechanism'] or '')}</text>"
        )
    return _svg(width, height, "Calcium trajectories aligned on the first calcium-directed intervention", body)
