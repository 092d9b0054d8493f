"""Driving the case admin as a browser would (Django's test client): log in, read a page's form, post it back."""

from __future__ import annotations

from html.parser import HTMLParser

from django.contrib.messages import get_messages
from django.test import Client

from cases.models import Case, Mechanism
from tests.factories import make_agent, make_case, make_intervention, make_lab, make_user

INLINE_PREFIXES = ["episodes", "tumors", "metastases", "mechanisms", "findings", "interventions", "dose_steps", "labs"]


def login(role: str, username: str | None = None) -> Client:
    client = Client()
    client.user = make_user(username or role, role)
    client.force_login(client.user)
    return client


def case_form_data(case: Case, **changes) -> dict:
    """The change form as the browser would post it, with no inline rows changed."""
    data = {
        "source": case.source_id,
        "case_label": case.case_label,
        "title": case.title,
        "age_years": case.age_years or "",
        "sex": case.sex,
        "menopausal_status": case.menopausal_status,
        "disorder": case.disorder,
        "index_event": case.index_event,
        "summary": case.summary,
        "vital_status": case.vital_status,
        "follow_up_days": case.follow_up_days or "",
        "follow_up_text": case.follow_up_text,
        "calcium_outcome": case.calcium_outcome,
        "tumor_response": case.tumor_response,
        "outcome_notes": case.outcome_notes,
        "curation_notes": case.curation_notes,
        "edited_version": case.version,
    }
    for prefix in INLINE_PREFIXES:
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": 0,
                f"{prefix}-INITIAL_FORMS": 0,
                f"{prefix}-MIN_NUM_FORMS": 0,
                f"{prefix}-MAX_NUM_FORMS": 1000,
            }
        )
    data.update(changes)
    return data


class _PostedForm(HTMLParser):
    """The fields a browser posts from one form of a page: inputs (checked boxes only), selects, textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, {}
        self.select: str | None = None
        self.multiple = False
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "option" and self.select:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "input" and "name" in a and a.get("type", "text") not in ("submit", "button", "file"):
            checkable = a.get("type") in ("checkbox", "radio")
            if not checkable or "checked" in a:
                self.data.setdefault(a["name"], []).append(a.get("value", "on" if checkable else ""))
        elif tag == "select" and "name" in a:
            self.select, self.options, self.multiple = a["name"], [], "multiple" in a
        elif tag == "textarea" and "name" in a:
            self.textarea = a["name"]
            self.data.setdefault(self.textarea, []).append("")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            # A single choice posts its first option when none is selected; a multiple choice posts none.
            chosen = [v for v, selected in self.options if selected] or (
                [] if self.multiple else [v for v, _ in self.options[:1]]
            )
            if chosen:
                self.data.setdefault(self.select, []).extend(chosen)
            self.select = None
        elif tag == "textarea" and self.textarea:
            # HTML drops the newline that opens a textarea's content.
            self.data[self.textarea][-1] = self.data[self.textarea][-1].removeprefix("\n")
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea][-1] += data


def posted_form(client, url: str, form_id: str = "case_form") -> dict:
    """What pressing Save on the page at url posts, unchanged."""
    parser = _PostedForm(form_id)
    parser.feed(client.get(url).content.decode())
    return {name: values if len(values) > 1 else values[0] for name, values in parser.data.items()}


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def make_case_with_rows(rows: int, **fields) -> Case:
    """A case with `rows` administered interventions (a listed agent), each followed by a calcium value, and a
    drug-related mechanism naming the agent."""
    agent = make_agent(code=f"drug_{rows}", name=f"Drug {rows}")
    case = make_case(**fields)
    Mechanism.objects.create(case=case, rank=1, code="drug_related", certainty="probable", suspect_agent=agent)
    for n in range(rows):
        given = make_intervention(case, agent=agent, sequence=2 * n + 1, status="administered")
        make_lab(case, sequence=2 * n + 2, follows_intervention=given)
    case.refresh_derived()
    return Case.objects.get(pk=case.pk)
