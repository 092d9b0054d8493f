"""Proposals from the source text in the workspace (issue 12), in Chromium: seed 001 pasted into a new source, a
case curated from the proposals with few edits; bad texts answered with a message; the panel at 1,280 and 390 px.

Screenshots go to test-artifacts/browser/proposals-*.png.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from cases.models import Case, Source
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_user
from tests.test_fixtures import assert_seed_001_key_facts

pytestmark = pytest.mark.django_db(transaction=True)

SEED_001 = next((Path(settings.BASE_DIR) / "fixtures" / "source_texts").glob("001_*.txt")).read_text(encoding="utf-8")
ROW = ".compact-row:not(.empty-form)"


@pytest.fixture
def curator(roles):
    call_command("loaddata", "agents", verbosity=0)
    make_user("curator1", "curator")


class Edits:
    """What the curator does after "Accept all", counted: an edit is one row (or one section of the case's own
    fields) changed, one row added by hand or one row removed; `fields` counts every field set or changed."""

    def __init__(self, page):
        self.page, self.edits, self.fields = page, [], 0

    def edit(self, what: str, *fields: tuple[str, str]) -> None:
        """One edit: `fields` are (selector, value) pairs; a value of True/False ticks or unticks a checkbox."""
        self.edits.append(what)
        for selector, value in fields:
            element = self.page.locator(selector)
            if value is True or value is False:
                element.set_checked(value)
            elif element.evaluate("e => e.tagName") == "SELECT":
                element.select_option(value)
            else:
                element.fill(value)
            self.fields += 1

    def choose_agent(self, select_id: str, name: str) -> None:
        """A field with an autocomplete (select2): open it, type, pick."""
        self.page.click(f"#{select_id} + .select2 .select2-selection")
        self.page.fill(".select2-container--open .select2-search__field", name)
        self.page.click(f".select2-results__option:has-text('{name}')")
        self.fields += 1


def row_id(page, group: str, condition: str) -> str:
    """The id ("interventions-4") of the first row of a group that satisfies a JavaScript condition on `r`."""
    return page.evaluate(f"Array.from(document.querySelectorAll('#{group}-group {ROW}')).find(r => {condition}).id")


def agent_is(name: str) -> str:
    return f"(r.querySelector('select[name$=-agent]').selectedOptions[0] || {{}}).textContent === '{name}'"


def new_source(page, live_server, text: str, **fields) -> int:
    page.goto(f"{live_server.url}/admin/cases/source/add/")
    page.select_option("#id_kind", fields.get("kind", "case_report"))
    page.fill("#id_citation", fields.get("citation", "A citation."))
    page.fill("#id_title", fields.get("title", "A title"))
    for name in ("year", "doi"):
        if name in fields:
            page.fill(f"#id_{name}", str(fields[name]))
    page.fill("#id_text", text)  # the curator pastes the report's text
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success, .errornote")
    assert not page.locator(".errornote").count(), page.inner_text("#content")
    return Source.objects.order_by("-pk").values_list("pk", flat=True)[0]


def new_case(page, live_server, source_title: str, disorder: str) -> Case:
    page.goto(f"{live_server.url}/admin/cases/case/add/")
    page.click("#id_source + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", source_title[:20])
    page.click(f".select2-results__option:has-text('{source_title[:20]}')")
    page.fill("#id_title", "Cutaneous calcification after long-term zoledronic acid")
    page.select_option("#id_disorder", disorder)
    page.click("input[name=_continue]")
    page.wait_for_selector("#propose-button")
    return Case.objects.order_by("-pk").first()


def propose(page) -> None:
    page.click("#propose-button")
    page.wait_for_selector("#proposals-list:not([hidden]), #proposals-status.errornote")


def test_seed_001_pasted_into_a_new_source_is_curated_from_proposals_with_few_edits(page, live_server, curator, shoot):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    title = "Dystrophic Cutaneous Calcification and Metaplastic Bone Formation"
    new_source(page, live_server, SEED_001, title=title, year=2013, doi="10.1155/2013/871917")
    case = new_case(page, live_server, title, "soft_tissue_calcification")  # disorder: required to create it
    propose(page)
    status = page.inner_text("#proposals-status")
    assert "proposals" in status and "Nothing is saved until you save" in status, status
    kinds = page.eval_on_selector_all(".proposal-kind", "s => s.map(e => e.dataset.kind)")
    assert kinds == ["patient", "lab", "intervention", "metastasis", "tumor"], kinds  # no HPO table loaded here
    # Every mention is highlighted in the text (CSS Custom Highlight API).
    assert page.evaluate("CSS.highlights.get('case-proposal').size") > 20
    # Repeated mentions are one proposal: zoledronic acid once, with its duration from "for 5 years".
    zol = page.locator("#proposals-list li", has_text="Zoledronic acid")
    assert zol.count() == 1 and "for 5 years" in zol.inner_text()

    page.click(".proposal-accept-all")
    assert page.locator("#proposals-list .proposal-accept").count() == 0  # nothing left open
    assert page.input_value("#id_age_years") == "61" and page.input_value("#id_sex") == "female"
    # Accepting again adds nothing: every proposal is marked as in the record.
    assert page.locator(".proposal-accept-all").count() == 0
    shoot(page, "proposals-seed-001-accepted")
    assert Case.objects.get(pk=case.pk).interventions.count() == 0  # nothing saved yet

    edits = Edits(page)
    edits.edit(
        "the case's outcome",
        ("#id_vital_status", "alive"),
        ("#id_calcium_outcome", "not_applicable"),
        ("#id_tumor_response", "no_recurrence"),
    )
    tumor = row_id(page, "tumors", "true")
    page.click(f"#{tumor} .row-details > summary")
    edits.edit(
        "the tumor: right side, about 14 years before presentation ('in 1996')",
        (f"#id_{tumor}-laterality", "right"),
        (f"#id_{tumor}-day", "-5110"),
        (f"#id_{tumor}-day_is_approximate", True),
    )
    # The discussion's "cutaneous" near "bone metastasis" is not a skin metastasis of this patient: removed.
    skin = row_id(page, "metastases", "r.querySelector('select[name$=-site]').value === 'skin'")
    edits.edit("remove the skin metastasis")
    page.click(f"#{skin} a.inline-deletelink")
    zol_row = row_id(page, "interventions", agent_is("Zoledronic acid"))
    page.click(f"#{zol_row} .row-details > summary")
    edits.edit(
        "zoledronic acid: started about 7 years before presentation ('in 2003'), supportive, the adverse event",
        (f"#id_{zol_row}-day", "-2555"),
        (f"#id_{zol_row}-intent", "supportive"),
        (f"#id_{zol_row}-adverse_events", "observed"),
    )
    # Agents the background and discussion name, not given to this patient: removed.
    for name in ("Bisphosphonate (unspecified)", "Calcium gluconate"):
        edits.edit(f"remove {name}")
        page.click(f"#{row_id(page, 'interventions', agent_is(name))} a.inline-deletelink")
    clodronate = row_id(page, "interventions", agent_is("Clodronate"))
    page.click(f"#{clodronate} .row-details > summary")
    edits.edit("clodronate: supportive", (f"#id_{clodronate}-intent", "supportive"))
    # Mechanisms are not proposed (the extractor draws facts, not the curator's judgement of cause).
    page.click("#mechanisms-group .add-row a")
    edits.edit(
        "mechanism: dystrophic calcification, confirmed by biopsy",
        ("#id_mechanisms-0-code", "dystrophic_calcification"),
        ("#id_mechanisms-0-certainty", "confirmed"),
    )
    page.click("#mechanisms-group .add-row a")
    page.click("#mechanisms-1 .row-details > summary")
    edits.edit(
        "mechanism: drug-related, probable, zoledronic acid withdrawn, not re-exposed",
        ("#id_mechanisms-1-code", "drug_related"),
        ("#id_mechanisms-1-certainty", "probable"),
        ("#id_mechanisms-1-action_taken", "drug_withdrawn"),
        ("#id_mechanisms-1-dechallenge", "unknown"),
        ("#id_mechanisms-1-rechallenge", "not_done"),
    )
    edits.choose_agent("id_mechanisms-1-suspect_agent", "Zoledronic acid")
    shoot(page, "proposals-seed-001-edited")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success, .error-summary, .errornote")
    assert not page.locator(".error-summary, .errornote").count(), page.inner_text("#content-main")[:3000]

    # The edit count: at most 10 (here 9 edits, 18 fields, besides creating the case with its source and disorder).
    assert len(edits.edits) <= 10, edits.edits
    assert (len(edits.edits), edits.fields) == (9, 18)
    saved = Case.objects.with_children().get(pk=case.pk)
    assert_seed_001_key_facts(saved)
    # Accepted rows carry their quote and its offsets in the source's text.
    text = saved.source.text
    rows = [*saved.labs.all(), *saved.interventions.all(), *saved.metastases.all(), *saved.tumors.all()]
    assert rows and all(r.quote == text[r.quote_start : r.quote_end] for r in rows)
    tnm = saved.tumors.get()
    assert (tnm.site, tnm.quote) == ("breast", "T2N1M0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The source has no text"),
        ("x" * 600_000, "proposals are drawn from texts of up to 500,000"),
        (
            "Una mujer de 61 años con cáncer de mama presentó una lesión en la pared torácica derecha. La biopsia "
            "mostró calcificación distrófica y formación de hueso metaplásico. Se suspendió el ácido zoledrónico "
            "y la paciente continúa con letrozol sin recurrencia de la enfermedad en el seguimiento.",
            "does not look like English",
        ),
        (
            "A woman with breast cancer was treated with zoledronic acid and letrozole for bone metastasis. "
            "Her calcium and phosphate levels were normal.",
            "contains no numbers",
        ),
    ],
    ids=["empty", "too-long", "not-english", "no-numbers"],
)
def test_texts_without_usable_proposals_get_a_clear_message(page, live_server, curator, text, expected):
    source = Source.objects.create(kind="case_report", citation="C.", title="Bad input", text=text)
    case = Case.objects.create(source=source, title="A case", disorder="hypercalcemia")
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    if not text:
        # No text, no source pane: the record alone, and nothing to propose from.
        assert page.locator("#propose-button").count() == 0
        response = page.request.get(f"{live_server.url}/admin/cases/case/propose/?source={source.pk}")
        assert response.status == 400 and expected in response.json()["error"]
        return
    propose(page)
    assert expected in page.inner_text("#proposals-status")
    if "no numbers" in expected:  # still proposes what needs no number
        assert page.locator(".proposal-kind[data-kind=intervention] li").count() == 2


def test_a_pasted_5_mb_text_is_refused_with_a_message_not_a_server_error(page, live_server, curator):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/source/add/")
    page.select_option("#id_kind", "case_report")
    page.fill("#id_citation", "C.")
    page.fill("#id_title", "Five megabytes")
    page.fill("#id_text", "Calcium was 12 mg/dL. " * 240_000)  # 5.3 MB
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("input[name=_save]")
    assert posted.value.status == 413
    assert "The form is too large to save" in page.inner_text("h1")
    assert "nothing was saved" in page.inner_text("body")
    assert not Source.objects.filter(title="Five megabytes").exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_proposals_panel_fits_the_screen(page, live_server, curator, shoot, width):
    source = Source.objects.create(kind="case_report", citation="C.", title="Seed 001", text=SEED_001)
    case = Case.objects.create(source=source, title="A case", disorder="soft_tissue_calcification")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    propose(page)
    page.locator("#proposals-list li", has_text="Thorax").locator(".proposal-show").click()
    page.locator("#proposals-list li", has_text="Letrozole").locator(".proposal-accept").click()
    assert "accepted" in page.locator("#proposals-list li", has_text="Letrozole").inner_text()
    scrolled, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scrolled <= inner, f"the page with proposals at {width}px scrolls sideways ({scrolled} > {inner})"
    shoot(page, f"proposals-{width}")
    page.locator(".source-pane").screenshot(path=str(ARTIFACTS / f"proposals-{width}-panel.png"))


def test_proposals_already_in_the_record_are_marked_not_added_again_and_reject_edit_work(
    page, live_server, roles, shoot
):
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    make_user("curator1", "curator")
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/2/change/")  # seed 001 as curated in the fixtures
    propose(page)
    held = page.locator("#proposals-list li.in-record")
    texts = " | ".join(held.all_inner_texts())
    for fact in ("61 years, female", "Zoledronic acid", "Tamoxifen", "Thorax", "Abdomen", "TNM T2N1M0"):
        assert fact in texts, (fact, texts)
    assert "in the record" in texts

    skin = page.locator("#proposals-list li", has_text="Skin — present")
    skin.locator(".proposal-reject").click()
    assert "rejected" in page.locator("#proposals-list li", has_text="Skin — present").inner_text()
    intervention_rows = "#interventions-group .compact-row:not(.empty-form)"
    before = page.locator(intervention_rows).count()
    page.locator("#proposals-list li", has_text="Calcium gluconate").locator(".proposal-edit").click()
    assert page.locator(intervention_rows).count() == before + 1
    edited = page.locator(intervention_rows).last
    assert edited.locator(".row-details").evaluate("d => d.open")  # opened for editing
    assert edited.locator("select[name$=-category]").input_value() == "drug"
    page.click(".proposal-accept-all")
    agents = page.eval_on_selector_all(
        f"{intervention_rows} select[name$=-agent]", "s => s.map(e => e.value).filter(Boolean)"
    )
    assert len(agents) == len(set(agents)), agents  # nothing added twice
    sites = page.eval_on_selector_all(
        "#metastases-group .compact-row:not(.empty-form) select[name$=-site]", "s => s.map(e => e.value)"
    )
    assert "skin" not in sites  # rejected, so not accepted by Accept all
    shoot(page, "proposals-seed-001-in-record")
