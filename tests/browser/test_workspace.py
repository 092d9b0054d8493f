"""The case workspace in Chromium: pages that fit the screen, the ECharts chart, quotes chosen by selection.

Screenshots go to test-artifacts/browser/workspace-*.png.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from cases.models import LabResult
from tests.browser.conftest import log_in, select_source_text
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SEEDS_DIR = Path(settings.BASE_DIR) / "fixtures" / "source_texts"
SEED_OF_SOURCE = {1: "000", 2: "001", 3: "002", 4: "003", 5: "004"}
CASE_PAGES = {1: "000", 2: "001", 3: "002"}  # case pk -> seed


def seed_text(source_pk: int) -> str:
    (path,) = SEEDS_DIR.glob(f"{SEED_OF_SOURCE[source_pk]}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def source_cases(roles):
    """The source cases; their sources carry their published text (fixtures/source_cases.json)."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    make_user("curator1", "curator")


def scroll_width(page) -> tuple[int, int]:
    return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_changelist_and_each_source_case_fit_the_screen_width(page, live_server, source_cases, shoot, width):
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/")
    scrolled, inner = scroll_width(page)
    assert scrolled <= inner, f"changelist at {width}px scrolls sideways ({scrolled} > {inner})"
    shoot(page, f"workspace-changelist-{width}")
    for pk, seed in CASE_PAGES.items():
        page.goto(f"{live_server.url}/admin/cases/case/{pk}/change/")
        page.wait_for_selector("#calcium-course canvas, #calcium-course.empty")
        scrolled, inner = scroll_width(page)
        assert scrolled <= inner, f"seed {seed}'s page at {width}px scrolls sideways ({scrolled} > {inner})"
        shoot(page, f"workspace-seed-{seed}-{width}")


def test_seed_000s_page_as_it_opens_is_at_most_six_screens_tall(page, live_server, source_cases, shoot):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/1/change/")
    page.wait_for_function("document.querySelector('#calcium-course canvas') !== null")
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height <= 6 * 800, height
    # Every row is one line: a lab row no taller than two text lines plus its labels.
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('#labs-group .compact-row:not(.empty-form)'))"
        ".map(r => r.getBoundingClientRect().height)"
    )
    assert len(rows) == 6 and max(rows) < 60, rows
    counts = page.locator(".compact-group .inline-heading").all_inner_texts()
    assert [" ".join(c.split()).upper() for c in counts] == [
        "LATER CALCIUM-DISORDER EPISODES (THE FIRST IS THE CASE'S DISORDER AND OUTCOME) (0)",  # issue 13, point 1
        "TUMORS (1)",
        "METASTASES (3)",
        "MECHANISMS (2)",
        "FINDINGS (7)",
        "INTERVENTIONS (13)",
        "DOSE STEPS (0)",  # issue 13: the interventions' dose steps (seed 000 gives none)
        "LAB RESULTS (6)",
    ]


def test_the_chart_is_drawn_by_echarts_with_values_units_and_quotes_on_hover(page, live_server, source_cases, shoot):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/1/change/")
    page.wait_for_function("document.querySelector('#calcium-course canvas') !== null")
    assert page.evaluate("typeof echarts.getInstanceByDom(document.getElementById('calcium-course'))") == "object"
    page.locator("#calcium-course").scroll_into_view_if_needed()
    # The first calcium of seed 000: day 0, reported as a range 12-16 mg/dL.
    x, y = page.evaluate(
        """(() => {
        const el = document.getElementById('calcium-course'), chart = echarts.getInstanceByDom(el);
        const series = chart.getOption().series;
        const n = series.findIndex(s => s.type === 'line' && s.name === 'Total calcium');
        const [x, y] = chart.convertToPixel({seriesIndex: n}, series[n].data[0].value);
        const box = el.getBoundingClientRect();
        return [box.left + x, box.top + y];
        })()"""
    )
    page.mouse.move(x, y)
    tooltip = page.locator(".calcium-course-tooltip")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    lab = LabResult.objects.filter(case_id=1, analyte="calcium_total").order_by("sequence").first()
    assert "Total calcium: 12–16 mg/dL" in text and "mmol/L" in text and "day 0" in text
    assert lab.quote[:40] in " ".join(text.split())
    shoot(page, "workspace-chart-tooltip")

    page.click("#calcium-course-units button[data-unit='mmol/L']")
    names = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('calcium-course')).getOption().yAxis.map(a => a.name)"
    )
    assert "Calcium (mmol/L)" in names


def test_a_quote_chosen_by_selection_is_the_source_text_at_its_offsets(page, live_server, source_cases, shoot):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/1/change/")
    text = seed_text(1)
    passage = "serum calcium level decreased to 10.6 mg/dL"  # a passage of seed 000, chosen by the curator
    start = text.index(passage)
    lab_row = page.locator("#labs-group .compact-row:not(.empty-form)").nth(3)
    lab_row.locator("input[name$='-value']").click()  # the row being edited
    # One text selection, as a curator drags over the words in the source pane; a sloppy one takes the space after
    select_source_text(page, start, start + len(passage) + 1)
    prefix = lab_row.get_attribute("id")
    assert page.input_value(f"#id_{prefix}-quote") == passage
    assert page.input_value(f"#id_{prefix}-quote_start") == str(start)
    assert page.locator("#source-text mark.offsets.active").inner_text() == passage
    shoot(page, "workspace-quote-selected")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    lab = LabResult.objects.get(pk=page.input_value(f"#id_{prefix}-id"))
    assert lab.quote == passage == text[lab.quote_start : lab.quote_end]
