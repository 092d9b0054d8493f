"""Seed 000 entered from its text in the workspace (issue 11): a curator creates the case for the loaded source,
proposes from its text, accepts the proposals that are about this patient, adds what the extractor does not draw
(mechanisms, the imaging findings, the second embolization), links the labs to the embolizations, and saves. Every
interaction is counted: one per field typed or chosen, one per click (opening a row, adding a row, accepting a
proposal, deleting a row, saving, the select2 box opened and its option picked), one per text selection. The
saved case has the fixture case's rows, kind by kind, and passes seed 000's key-fact checks.

Screenshots go to test-artifacts/browser/seed-000-entry-*.png.
"""

import re
from collections import Counter

import pytest
from django.core.management import call_command

from cases.models import Case
from cases.proposals import case_section
from tests.browser.conftest import ARTIFACTS, log_in, select_source_text
from tests.factories import make_user
from tests.test_fixtures import assert_seed_000_key_facts

pytestmark = pytest.mark.django_db(transaction=True)

ROW = ".compact-row:not(.empty-form)"
KINDS = ("tumors", "metastases", "mechanisms", "findings", "labs", "interventions")


class Curator:
    """Drives the page and counts what a curator does, by kind of interaction."""

    def __init__(self, page):
        self.page, self.counts = page, Counter()

    # --- clicks ---
    def click(self, selector: str, kind: str = "click") -> None:
        self.page.click(selector)
        self.counts[kind] += 1

    def accept(self, kind: str, text: str) -> None:
        """Accept the proposal of `kind` whose line reads `text` (a regular expression)."""
        line = self.page.locator(f"#proposals-list .proposal-kind[data-kind={kind}] li", has_text=re.compile(text))
        assert line.count() == 1, (kind, text, line.all_inner_texts())
        line.locator(".proposal-accept").click()
        self.counts["accept"] += 1
        assert "accepted" in line.inner_text(), (kind, text, line.inner_text())  # the click was not swallowed

    def add_row(self, group: str) -> str:
        self.click(f"#{group}-group .add-row a", "add row")
        return self.page.locator(f"#{group}-group {ROW}").last.get_attribute("id")

    def open_row(self, row: str) -> None:
        self.click(f"#{row} .row-details > summary", "open row")

    # --- fields ---
    def set(self, row: str, name: str, value) -> None:
        """One field typed, chosen or ticked (True/False)."""
        element = self.page.locator(f"#id_{row}-{name}")
        if value is True or value is False:
            element.set_checked(value)
        elif element.evaluate("e => e.tagName") == "SELECT":
            element.select_option(value)
        else:
            element.fill(value)
        self.counts["field"] += 1

    def choose(self, select_id: str, typed: str, option: str) -> None:
        """An autocomplete (select2): open it, type, pick."""
        self.click(f"#{select_id} + .select2 .select2-selection")
        self.page.fill(".select2-container--open .select2-search__field", typed)
        self.counts["field"] += 1
        self.click(f".select2-results__option:has-text('{option}')")

    def hpo(self, row: str, typed: str, term: str) -> None:
        """A finding's label typed, its HPO term chosen from the offered ones."""
        self.set(row, "label", typed)
        option = self.page.locator(".hpo-options li", has_text=term).first
        option.click()
        self.counts["click"] += 1

    def select_passage(self, passage: str) -> None:
        """One text selection in the source pane (it fills the quote of the row being edited)."""
        text = self.page.evaluate("JSON.parse(document.getElementById('source-text-data').textContent)")
        loose = "".join(r"\s+" if c == " " else re.escape(c) + r"(?:-?\n)?" for c in passage)
        found = re.search(loose, text)
        assert found, passage
        select_source_text(self.page, found.start(), found.end())
        self.counts["selection"] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def last_row(page, group: str) -> str:
    """The id of a group's last row (the one just added or accepted)."""
    return page.locator(f"#{group}-group {ROW}").last.get_attribute("id")


@pytest.fixture
def seed_000_source_without_its_case(roles):
    """The source cases loaded from the fixtures (seed 000's source with its text), seed 000's case removed; the
    real HPO table (the shipped hp.obo, as load_hpo loads it)."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    call_command("load_hpo", verbosity=0)
    fixture = Case.objects.with_children().get(pk=1)
    expected = {kind: getattr(fixture, kind).count() for kind in KINDS}
    fixture.delete()
    make_user("curator1", "curator")
    return expected


def test_seed_000_is_entered_from_its_text_in_at_most_100_interactions(
    page, live_server, seed_000_source_without_its_case, shoot
):
    expected = seed_000_source_without_its_case
    assert expected == {"tumors": 1, "metastases": 3, "mechanisms": 2, "findings": 7, "labs": 6, "interventions": 13}
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/")
    c = Curator(page)

    # The new case: its source and disorder (required), its title.
    c.click("a.addlink")
    c.choose("id_source", "Transarterial embol", "Transarterial embolization of hepatic")
    page.fill("#id_title", "PTHrP-mediated hypercalcemia in metastatic breast carcinoma, controlled by embolization")
    c.counts["field"] += 1
    page.select_option("#id_disorder", "hypercalcemia")
    c.counts["field"] += 1
    c.click("input[name=_continue]", "save")
    page.wait_for_selector("#propose-button")
    case = Case.objects.order_by("-pk").first()
    assert case.source_id == 1

    c.click("#propose-button")
    page.wait_for_selector("#proposals-list:not([hidden])")

    # In the order of the case's course, so that the rows' timeline positions follow it.
    c.accept("patient", "67 years, female")
    c.accept("tumor", "breast carcinoma with neuroendocrine")
    c.accept("tumor", "hormone receptor positive")
    c.accept("tumor", "HER2 negative")
    c.accept("metastasis", "^Liver — present")
    c.accept("metastasis", "^Lymph node — present")
    c.accept("intervention", "^Cyclophosphamide")
    c.accept("intervention", "^Doxorubicin")
    c.accept("intervention", "^Letrozole")
    row = c.add_row("findings")
    c.set(row, "label", "Disease progression in the liver on follow-up imaging")
    c.select_passage("follow-up imaging studies demonstrated disease progression in the liver")
    c.accept("intervention", "^Carboplatin")
    c.accept("intervention", "^Paclitaxel")
    c.accept("intervention", "^Radioembolization")
    radio = last_row(page, "interventions")
    c.set(radio, "day", "-240")  # "Eight months after radioembolization, she presented": day 0
    c.open_row(radio)
    c.set(radio, "day_is_approximate", True)
    c.set(radio, "intent", "cancer_directed")  # a procedure's intent: required, not proposed
    c.accept("intervention", "^Capecitabine")
    for label in ("Lethargy", "Generalized weakness", "Hypercalcemia \\(HP:0003072\\) — present"):
        c.accept("finding", f"^{label}")
        c.set(last_row(page, "findings"), "day", "0")
    c.accept("lab", "12–16 mg/dL")
    for name in ("IV hydration", "Bisphosphonate \\(unspecified\\)"):
        c.accept("intervention", f"^{name}")
        row = last_row(page, "interventions")
        c.open_row(row)
        c.set(row, "intent", "calcium_directed")
        c.set(row, "calcium_response", "transient")
    c.accept("lab", ": high")
    c.accept("lab", "15.1 pg/mL")
    row = c.add_row("findings")
    c.set(row, "label", "Multiple subcentimeter-enhancing liver nodules on CT (metastatic disease progression)")
    c.select_passage("multiple subcentimeter-enhancing nodules in both lobes of the liver")
    c.accept("metastasis", "^Bone — absent")
    c.accept("intervention", "^Transarterial bland embolization")
    right = last_row(page, "interventions")
    c.open_row(right)
    c.set(right, "intent", "cancer_directed")
    c.set(right, "adverse_events", "none_observed")
    c.set(right, "calcium_response", "partial")
    c.accept("lab", "10.6 mg/dL")
    row = last_row(page, "labs")
    c.open_row(row)
    c.set(row, "follows", f"new:{right}")
    # The left lobe's treatment ("using 100 μm embolization microspheres"): not drawn by the extractor.
    left = c.add_row("interventions")
    c.set(left, "category", "procedure")
    c.choose(f"id_{left}-agent", "bland", "Transarterial bland embolization")
    c.set(left, "agent_text", "100 μm embolization microspheres")  # as the text names it
    c.select_passage("treatment of the left hepatic lobe using 100 μm embolization microspheres")
    c.open_row(left)
    c.set(left, "intent", "cancer_directed")
    c.set(left, "adverse_events", "none_observed")
    c.set(left, "calcium_response", "normalised")
    c.set(left, "tumor_response", "complete_response")
    c.accept("lab", "9.8 mg/dL")
    row = last_row(page, "labs")
    c.open_row(row)
    c.set(row, "follows", f"new:{left}")
    c.accept("lab", "8.7 mg/dL")
    c.accept("intervention", "^Exemestane")
    c.accept("intervention", "^Everolimus")
    row = c.add_row("findings")
    c.hpo(row, "hepatic calcif", "Hepatic calcification")
    c.select_passage("multiple, tiny calcified nodules in the liver")
    row = c.add_row("findings")
    c.set(row, "label", "Enhancing liver lesion on CT")
    c.set(row, "present", False)
    c.select_passage("No enhancing lesion in the liver was observed")

    # Mechanisms: the curator's judgement, not proposed.
    for code, certainty in (("humoral_pthrp", "confirmed"), ("local_osteolytic", "excluded")):
        row = c.add_row("mechanisms")
        c.set(row, "code", code)
        c.set(row, "certainty", certainty)
    page.select_option("#id_calcium_outcome", "normalised")
    page.select_option("#id_tumor_response", "complete_response")
    c.counts["field"] += 2
    shoot(page, "seed-000-entry-before-save")

    c.click("input[name=_continue]", "save")
    page.wait_for_selector(".messagelist .success, .error-summary, .errornote")
    assert not page.locator(".error-summary, .errornote").count(), page.inner_text("#content-main")[:3000]
    shoot(page, "seed-000-entry-saved")
    for width in (1280, 390):  # screens as the curator sees them: the top, the rows
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), width
        for group in ("content", "tumors-group", "findings-group", "interventions-group", "labs-group"):
            page.locator(f"#{group}").scroll_into_view_if_needed()
            page.evaluate(f"document.getElementById('{group}').scrollIntoView()")
            page.screenshot(path=str(ARTIFACTS / f"seed-000-entry-saved-{width}-{group}.png"))

    saved = Case.objects.with_children().get(pk=case.pk)
    assert {kind: getattr(saved, kind).count() for kind in KINDS} == expected
    assert_seed_000_key_facts(saved)
    text = saved.source.text
    quoted = [*saved.labs.all(), *saved.interventions.all(), *saved.findings.all(), *saved.metastases.all()]
    quoted += saved.tumors.all()
    assert all(r.quote and r.quote == text[r.quote_start : r.quote_end] for r in quoted)
    # Every quote is from the report's account of this patient, not its introduction or discussion.
    start, end = case_section(text)
    assert [r.quote for r in quoted if not start <= r.quote_start < end] == []

    # The count: at most 100. Pinned, so that a change to the workspace or the proposals that costs the curator
    # more shows here: 28 proposals accepted (patient, 3 tumor facts into one row, 3 metastases, 3 findings,
    # 6 labs, 12 interventions); 7 rows added (4 findings, 1 intervention, 2 mechanisms) and 7 opened; 5 passages
    # selected as quotes; 36 fields typed or chosen (3 when creating the case); 7 other clicks ("Add case",
    # "Propose from text", the source's and an agent's autocomplete opened and picked, an HPO term picked);
    # 2 saves (creating the case, then the record). No row deleted, no proposal rejected: extras are left alone.
    assert c.total <= 100, dict(c.counts)
    assert dict(c.counts) == {
        "accept": 28,
        "add row": 7,
        "open row": 7,
        "selection": 5,
        "field": 36,
        "click": 7,
        "save": 2,
    }
    assert c.total == 92


def test_accept_all_then_deleting_the_extras_is_measured_against_accepting_one_by_one(
    page, live_server, seed_000_source_without_its_case, shoot
):
    """The other way to the same proposed rows: "Accept all", then delete what is not about this patient (the
    background's myeloma, zoledronic acid, chemoembolization, the discussion's hepatocellular carcinoma, ...).
    Fewer clicks than 28 accepts, but the rows the extractor does not draw then come after everything on the
    timeline: the left lobe's embolization must be moved up before the calcium it normalised (9.8 mg/dL), one
    position per click, for the calcium course to credit it. Measured here, not used for the entry above."""
    case = Case.objects.create(source_id=1, title="Seed 000", disorder="hypercalcemia")
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    c = Curator(page)
    c.click("#propose-button")
    page.wait_for_selector("#proposals-list:not([hidden])")
    c.click(".proposal-accept-all", "accept")
    extras = {
        "tumors": "!input(r, 'histology').value.includes('breast carcinoma with neuroendocrine')",
        "metastases": "input(r, 'site').value === 'bone' && input(r, 'present').checked",
        "findings": "['Liver disease', 'Hyperparathyroidism'].includes(input(r, 'label').value)"
        " || (input(r, 'label').value === 'Hypercalcemia' && !input(r, 'present').checked)",
        "interventions": "['zoledronic_acid', 'transarterial_chemoembolization'].includes(agentCode(r))"
        " || input(r, 'agent_text').value === 'chemotherapy'",
        "labs": "input(r, 'analyte').value === 'pthrp' && input(r, 'qualitative').value === 'normal'",
    }
    helpers = (
        "const input = (r, n) => r.querySelector(`[name='${r.id}-${n}']`);"
        "const agentCode = r => (input(r, 'agent').selectedOptions[0] || {}).textContent === 'Zoledronic acid'"
        " ? 'zoledronic_acid' : (input(r, 'agent').selectedOptions[0] || {}).textContent ==="
        " 'Transarterial chemoembolization' ? 'transarterial_chemoembolization' : '';"
    )
    for group, condition in extras.items():
        while True:
            row = page.evaluate(
                f"(() => {{ {helpers} const r = Array.from(document.querySelectorAll('#{group}-group {ROW}'))"
                f".find(r => {condition}); return r ? r.id : null; }})()"
            )
            if row is None:
                break
            c.click(f"#{row} a.inline-deletelink", "delete")
    counts = {kind: page.locator(f"#{kind}-group {ROW}").count() for kind in KINDS}
    assert counts == {"tumors": 1, "metastases": 3, "mechanisms": 0, "findings": 3, "labs": 6, "interventions": 12}
    tumor = last_row(page, "tumors")
    assert (page.input_value(f"#id_{tumor}-hormone_receptor"), page.input_value(f"#id_{tumor}-her2")) == (
        "positive",
        "negative",
    )  # the receptors printed after its histology: on its row
    # The proposed rows follow the text's account (accepted in the order of the mentions they quote).
    agents = page.eval_on_selector_all(
        f"#interventions-group {ROW} select[name$=-agent]", "s => s.map(e => e.selectedOptions[0].textContent)"
    )
    assert agents[:3] == ["Cyclophosphamide", "Doxorubicin", "Letrozole"] and agents[-2:] == [
        "Exemestane",
        "Everolimus",
    ]
    # The left lobe's embolization, added by hand, is last on the timeline: moved up before the 9.8 mg/dL.
    left = c.add_row("interventions")
    lab = row_of_value(page, "9.8")
    while int(page.input_value(f"#{left} input.row-sequence")) >= int(page.input_value(f"#{lab} input.row-sequence")):
        c.click(f"#{left} .row-up", "move up")
    shoot(page, "seed-000-accept-all")
    # The cost of the proposed rows and of placing the one hand-added row the key facts depend on: 1 + 12 + 5 = 18
    # against 28 accepts one by one, which need no deleting and no moving. Cheaper, but the two findings added by
    # hand (progression in the liver, the enhancing nodules) would stay at the end of the timeline, instead of
    # between the treatments where the text tells them, unless moved up too, one position per click, past most of
    # the proposed rows: the entry above accepts one by one, in the order of the case's course.
    assert dict(c.counts) == {"click": 1, "accept": 1, "delete": 12, "add row": 1, "move up": 5}, dict(c.counts)


def row_of_value(page, value: str) -> str:
    return page.evaluate(
        f"Array.from(document.querySelectorAll('#labs-group {ROW}'))"
        f".find(r => r.querySelector('input[name$=-value]').value === '{value}').id"
    )
