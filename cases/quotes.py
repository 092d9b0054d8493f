"""Quotes chosen in the source text: a row's verbatim quote and the character offsets where it stands.

The workspace fills `quote`, `quote_start` and `quote_end` when the curator selects a passage of the source's
text; these checks keep the three consistent with that text. Pure functions, no Django.
"""

from __future__ import annotations


def source_text_of(source) -> str:
    """The source's full text, or "" when the registry holds none for it."""
    return (source.text or "") if source is not None else ""


def quote_offsets_errors(quote: str, start: int | None, end: int | None, text: str) -> dict[str, str]:
    """Field errors for a quote's offsets; {} when they are absent or point at exactly the quote."""
    if start is None and end is None:
        return {}
    if start is None or end is None:
        return {"quote_start": "A quote's place in the source needs both its start and its end offset."}
    if end <= start:
        return {"quote_end": "A quote's end offset must be after its start."}
    if not quote:
        return {"quote": "Offsets are given but the quote is empty: select the passage in the source again."}
    if not text:
        return {"quote_start": "The source has no text to place the quote in: clear the offsets or add the text."}
    if end > len(text):
        return {"quote_end": f"The source's text has only {len(text)} characters; select the passage again."}
    if text[start:end] != quote:
        return {"quote": "The quote is not the source's text at its offsets: select the passage in the source again."}
    return {}
