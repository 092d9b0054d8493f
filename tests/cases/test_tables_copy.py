"""cases.csv and labs.csv out of PostgreSQL's COPY (cases.tables_copy) are byte for byte what the Python writer
(cases.tables, the reference) writes, on the shipped cases and on edge cases built here."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F

from cases import measures, tables, tables_copy
from cases import vocabularies as v
from cases.models import Case, LabResult
from tests.factories import make_case, make_intervention, make_lab, make_source

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's; SQLite writes in Python"),
]

# Texts a CSV or a spreadsheet treats specially: quotes, separators, line ends, formula starts, numbers that
# start like formulas (float() reads them: no apostrophe), and non-ASCII.
TEXTS = [
    "",
    'He said "stop", then left',
    "a, b; c",
    "two\nlines\r\nand a CR",
    '=HYPERLINK("http://x")',
    "+1 555",
    "-3",
    "-3.50",
    "+.5e-3",
    "-1_000",
    "-1__0",
    "-inf",
    "+Infinity",
    "-nan",
    "-x",
    "-3 ",
    "@user",
    "\tindented",
    "\rreturn",
    "µmol/L ≥ 90 °C",
    "'quoted'",
    "NA",
]
VALUES = [
    Decimal("0"),
    Decimal("0.0001"),
    Decimal("1.5000"),
    Decimal("2.005"),
    Decimal("10.5"),
    Decimal("12.3456"),
    Decimal("100.0000"),
    Decimal("1234.5678"),
    Decimal("99999999.9999"),
]


def build_registry() -> None:
    """The shipped cases, and edge cases: every text above in the text columns, every analyte in every unit and
    specimen with values of every shape (negatives where a column allows them), ranges reported and not, censored
    and qualitative results, labs that follow one or several interventions."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    for case in Case.objects.all():
        case.refresh_derived()
    texts = itertools.cycle(TEXTS)
    for i, text in enumerate(TEXTS):
        source = make_source(
            title=text or "untitled",
            journal=text,
            citation=f"{text} et al.",
            doi=text and f"10.1/{i}",
            pmid=text and str(i),
        )
        case = make_case(
            source=source,
            title=text or "untitled",
            case_label=next(texts),
            follow_up_text=next(texts),
            age_years=[None, 40, 89, 90][i % 4],
            disorder=[v.Disorder.HYPERCALCEMIA, v.Disorder.HYPOCALCEMIA][i % 2],
            peak_calcium_mg_dl=VALUES[i % 8] if i % 3 else None,  # numeric(6, 2)
            calcium_normalised=[None, True, False][i % 3],
            days_to_normalisation=[None, -2, 0, 14][i % 4],
        )
        first = make_intervention(case, agent_text=text, sequence=1)
        second = make_intervention(case, agent_text="denosumab", sequence=2)
        make_lab(case, follows_interventions=[second, first], timing_text=next(texts), quote=next(texts))
        make_lab(case, sequence=2, day=-5, anchor=first, anchor_offset_days=-3, anchor_offset_is_approximate=True)
    Case.objects.filter(pk=case.pk).update(updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))  # no microseconds
    case = make_case(title="every analyte")
    sequence = itertools.count(1)
    for a in measures.analytes().values():
        for unit, specimen in itertools.product(a.accepted_units, v.Specimen.values):
            for value in VALUES:
                make_lab(case, analyte=a.code, unit=unit, specimen=specimen, value=value, sequence=next(sequence))
            for comparator, ref_low, ref_high in itertools.product(
                ["", *v.Comparator.values], [None, Decimal("2.0050")], [None, Decimal("10.5"), Decimal("12.3456")]
            ):
                for value in (Decimal("2.005"), Decimal("10.5"), Decimal("12.3456"), Decimal("50")):
                    make_lab(
                        case,
                        analyte=a.code,
                        unit=unit,
                        specimen=specimen,
                        value=value,
                        comparator=comparator,
                        ref_low=ref_low,
                        ref_high=ref_high,
                        sequence=next(sequence),
                    )
            make_lab(case, analyte=a.code, unit=unit, value=Decimal("1.25"), value_high=Decimal("11.0"),
                     ref_high=Decimal("10.5"), sequence=next(sequence))  # fmt: skip
        for word in v.QualitativeResult.values:
            make_lab(case, analyte=a.code, unit="", value=None, qualitative=word, sequence=next(sequence))
        make_lab(case, analyte=a.code, unit="", unit_not_reported=True, value=Decimal("7.10"), sequence=next(sequence))


def both(table: tables.Table, cases) -> tuple[bytes, bytes]:
    return "".join(tables.python_csv(table, cases)).encode(), b"".join(tables_copy.copy_csv(table, cases))


@pytest.mark.parametrize("table", [tables.CASES, tables.LABS], ids=lambda t: t.name)
def test_copy_writes_the_same_bytes_as_python(table):
    build_registry()
    assert LabResult.objects.count() > 5000
    for cases in (
        Case.objects.all(),
        Case.objects.filter(disorder=v.Disorder.HYPOCALCEMIA),
        Case.objects.order_by(F("age_years").desc(nulls_last=True), "-title", "pk"),  # the case list's ordering
        Case.objects.none(),
    ):
        python, copied = both(table, cases)
        assert python.count(b"\n") > 1 or not cases.exists()
        assert copied == python, next(
            (p, c) for p, c in zip(python.splitlines(), copied.splitlines(), strict=False) if p != c
        )


def test_copy_follows_a_corrected_factor():
    # measures.analytes() is the registry the Python writer reads: the SQL takes its facts from it, per export.
    from cases.analytes import Analyte

    case = make_case()
    make_lab(case, analyte="creatinine", unit="mg/dL", value=Decimal("1.00"))
    Analyte.objects.filter(code="creatinine").update(si_factor=Decimal("80"))
    Analyte.objects.get(code="creatinine").save()  # a change through the model, as the admin makes it
    python, copied = both(tables.LABS, Case.objects.all())
    assert copied == python
    assert ",80,NA,µmol/L,".encode() in copied


def test_copy_streams_in_pieces(monkeypatch):
    monkeypatch.setattr(tables_copy, "FLUSH_AT", 2048)
    case = make_case()
    LabResult.objects.bulk_create(
        LabResult(case=case, analyte="calcium_total", value=Decimal("12.0"), unit="mg/dL", sequence=i, quote="x" * 100)
        for i in range(1, 301)
    )
    pieces = list(tables_copy.copy_csv(tables.LABS, Case.objects.all()))
    assert len(pieces) > 10
    assert max(len(p) for p in pieces) < 4096
    assert b"".join(pieces) == "".join(tables.python_csv(tables.LABS, Case.objects.all())).encode()
