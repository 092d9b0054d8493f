"""A quote chosen by selecting the source's text keeps its offsets, and they must point at exactly the quote."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cases import quotes
from cases.models import Finding
from tests.factories import make_case

TEXT = "She presented with lethargy.\nCalcium was 14 mg/dL."


def test_offsets_that_point_at_the_quote_pass():
    assert quotes.quote_offsets_errors("lethargy", 19, 27, TEXT) == {}
    assert quotes.quote_offsets_errors("any words", None, None, "") == {}  # a quote typed without offsets


@pytest.mark.parametrize(
    ("quote", "start", "end", "text", "field"),
    [
        ("lethargy", 19, None, TEXT, "quote_start"),
        ("lethargy", 27, 19, TEXT, "quote_end"),
        ("", 19, 27, TEXT, "quote"),
        ("lethargy", 19, 27, "", "quote_start"),
        ("lethargy", 19, 270, TEXT, "quote_end"),
        ("Lethargy", 19, 27, TEXT, "quote"),
    ],
)
def test_offsets_that_do_not_point_at_the_quote_are_refused_naming_the_field(quote, start, end, text, field):
    assert list(quotes.quote_offsets_errors(quote, start, end, text)) == [field]


@pytest.mark.django_db
def test_a_row_is_checked_against_its_case_sources_text(monkeypatch):
    case = make_case()
    monkeypatch.setattr(quotes, "source_text_of", lambda source: TEXT if source == case.source else "")
    good = Finding(case=case, label="Lethargy", quote="lethargy", quote_start=19, quote_end=27)
    good.full_clean()
    bad = Finding(case=case, label="Lethargy", quote="lethargy", quote_start=18, quote_end=26)
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    assert "quote" in refused.value.message_dict


@pytest.mark.django_db
def test_the_database_refuses_an_end_without_a_start_or_before_it():
    case = make_case()
    for start, end in ((None, 5), (5, None), (5, 5)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Finding.objects.create(case=case, label="x", quote="x", quote_start=start, quote_end=end)
