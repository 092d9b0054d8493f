"""The server-rendered charts stay readable whatever the values (cases/charts.py)."""

import re
from decimal import Decimal as D

from cases import charts
from cases.measures import CALCIUM_TOTAL, Measurement, calcium_summary


def _y_tick_labels(svg: str) -> list[str]:
    return re.findall(r'<text x="\d+" y="[\d.]+" font-size="10" text-anchor="end">([^<]+)</text>', svg)


def test_the_course_chart_has_at_most_ten_y_ticks_even_for_an_extreme_value():
    summary = calcium_summary(
        [
            Measurement("a", CALCIUM_TOTAL, "mg/dL", D("9"), 1),
            Measurement("b", CALCIUM_TOTAL, "mg/dL", D("40"), 2),
        ],
        [],
    )
    svg = charts.calcium_chart_svg(summary, [])
    ticks = _y_tick_labels(svg)
    assert 3 <= len(ticks) <= charts.MAX_Y_TICKS
    # round steps: 8..41 spans 33 -> step 5
    assert ticks == ["10", "15", "20", "25", "30", "35", "40"]


def test_a_censored_value_is_an_open_marker_labelled_with_its_comparator():
    summary = calcium_summary([Measurement("a", CALCIUM_TOTAL, "mg/dL", D("15"), 1, comparator=">")], [])
    svg = charts.calcium_chart_svg(summary, [])
    assert 'fill="#fff" stroke="#1f5fa8"' in svg
    assert "Total calcium: &gt;15.0 mg/dL" in svg


def test_a_value_censored_below_keeps_the_svg_well_formed():
    from xml.etree import ElementTree

    summary = calcium_summary([Measurement("a", CALCIUM_TOTAL, "mg/dL", D("6"), 1, comparator="<")], [])
    svg = charts.calcium_chart_svg(summary, [])
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own SVG; raises on a bare "<" in text
    assert any(t.text == "<6.0" for t in root.iter("{http://www.w3.org/2000/svg}text"))
