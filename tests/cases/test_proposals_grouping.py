"""Proposals grouped by fact for the workspace (cases.proposals.grouped): one per fact, and the mention it quotes
taken from the report's own account of its patient when the text has a case section."""

from cases.proposals import case_section, grouped

TEXT = (
    "Introduction\n"
    "Treatment involves intravenous hydration and bisphosphonates.\n\n"
    "Case Report\n"
    "She received intravenous hydration on day 1.\n\n"
    "Discussion\n"
    "Intravenous hydration for 3 days is usual.\n"
)


def mention(phrase: str, nth: int, **fields) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.lower().index(phrase.lower(), start + 1)
    span = [start, start + len(phrase)]
    return {"kind": "intervention", "fields": {"agent": "iv_hydration", **fields}, "span": span,
            "quote": TEXT[span[0] : span[1]]}  # fmt: skip


def test_the_case_section_runs_from_its_heading_to_the_discussion():
    start, end = case_section(TEXT)
    assert TEXT[start:end].strip() == "She received intravenous hydration on day 1."
    assert case_section("No headings here.\nDiscussion\n") is None
    # A "Case Report" label above the title, then the numbered sections: the section is "2. Case".
    labelled = "Case Report\nA title\n1. Background\nText.\n2. Case\nThe patient.\n3. Discussion\nMore."
    start, end = case_section(labelled)
    assert labelled[start:end].strip() == "The patient."


def test_the_quoted_mention_is_the_case_sections_even_where_another_says_more():
    mentions = [mention("intravenous hydration", 0), mention("intravenous hydration", 1),
                mention("intravenous hydration", 2, duration_text="3 days")]  # fmt: skip
    (fact,) = grouped(mentions, TEXT)
    assert fact["span"] == mentions[1]["span"]  # the patient's, not the background's nor the discussion's
    assert fact["fields"]["duration_text"] == "3 days"  # still completed by the others' fields
    assert fact["mentions"] == [m["span"] for m in mentions]
    (without_text,) = grouped(mentions)
    assert without_text["span"] == mentions[2]["span"]  # no text: the mention that says most
