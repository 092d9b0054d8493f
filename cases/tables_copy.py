"""cases.csv and labs.csv computed inside PostgreSQL and streamed straight out of COPY (issue 16).

cases/tables.py defines the tables and writes them in Python, row by row: that is the reference, and what SQLite
runs. On PostgreSQL the tables in COPIED are one SELECT instead, read through `COPY (...) TO STDOUT (FORMAT csv)`:
every cell formatted as tables.cell() formats it, each lab's conversions and interpretation computed as
measures.convert, round_for_unit and interpret do, from the facts of the analyte registry (passed in as
parameters). tests/cases/test_tables_copy.py holds both writers to the same bytes.

The SQL is built from model metadata, the registry's facts as parameters and the filtered queryset's own compiled
SQL with its parameters; nothing of a request's text is ever part of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from decimal import Context, Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models import Expression, F, QuerySet
from django.db.models.expressions import Col, RawSQL

from . import measures, tables
from . import vocabularies as v
from .models import DEIDENTIFIED_AGE_CAP, REGISTRY_ID_PREFIX, Agent, Case, Intervention, LabFollows, LabResult

FLUSH_AT = 1 << 16  # bytes per piece of the response, as tables.table_lines

# Python's float() grammar in ASCII (tables._is_number): a cell starting with + or - that float() reads is a
# number, not a formula.
_DIGITS = "[0-9](?:_?[0-9])*"
PYTHON_FLOAT = (
    rf"^[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:e[+-]?{_DIGITS})?|inf|infinity|nan)$"  # ~* : any case
)


def literal(text: str) -> str:
    """A constant of this module as an SQL string literal (standard_conforming_strings is on in PostgreSQL)."""
    return "'" + text.replace("'", "''") + "'"


# --- cells, as tables.cell() writes each Python type (None and "" are NA) --------------------------------------


def text_cell(x: str) -> str:
    # ascii() is the first character's code point: a test of an integer, where left() builds a text per cell.
    starts = ", ".join(str(ord(c)) for c in tables.FORMULA_STARTS)
    return (
        f"CASE WHEN {x} IS NULL OR {x} = '' THEN {literal(tables.NA)} "
        f"WHEN ascii({x}) IN ({starts}) AND {x} !~* {literal(PYTHON_FLOAT)} THEN '''' || {x} ELSE {x} END"
    )


def code_cell(x: str) -> str:  # a code this module writes itself: never empty, never a formula
    return f"COALESCE({x}, {literal(tables.NA)})"


def number_cell(x: str) -> str:  # Decimal.normalize() in plain notation: no trailing zeros, no exponent
    return f"COALESCE(trim_scale({x})::text, {literal(tables.NA)})"


def integer_cell(x: str) -> str:
    return f"COALESCE(({x})::text, {literal(tables.NA)})"


def boolean_cell(x: str) -> str:
    return f"CASE WHEN {x} THEN 'TRUE' WHEN NOT {x} THEN 'FALSE' ELSE {literal(tables.NA)} END"


def required_boolean_cell(x: str) -> str:  # a NOT NULL column: one test
    return f"CASE WHEN {x} THEN 'TRUE' ELSE 'FALSE' END"


def datetime_cell(x: str) -> str:  # datetime.isoformat() of an aware UTC datetime: microseconds only when not 0
    utc = f"({x} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {x} IS NULL THEN {literal(tables.NA)} ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN to_char({utc}, 'US') = '000000' THEN '' ELSE to_char({utc}, '.US') END || '+00:00' END"
    )


def field_cell(field: models.Field) -> Callable[[str], str]:
    """The cell of a model field, by the Python type Django reads it as."""
    if isinstance(field, models.BooleanField):
        return boolean_cell if field.null else required_boolean_cell
    if isinstance(field, models.DecimalField):
        return number_cell
    if isinstance(field, models.DateTimeField):
        return datetime_cell
    if isinstance(field, (models.IntegerField, models.AutoField, models.ForeignKey)):
        return integer_cell
    if isinstance(field, (models.CharField, models.TextField)):
        return text_cell
    raise TypeError(f"No cell for {field!r}")


def _registry_id(x: str) -> str:  # models.registry_id: the prefix and at least six digits
    return (
        f"{literal(REGISTRY_ID_PREFIX)} || CASE WHEN {x} < 1000000 THEN lpad(({x})::text, 6, '0') ELSE ({x})::text END"
    )


def curie(prefix: str, x: str) -> str:  # tables.curie
    value = f"{literal(prefix + ':')} || NULLIF({x}, '')"
    if prefix and not prefix.startswith(tables.FORMULA_STARTS):  # never empty, never a formula: no test to make
        return code_cell(value)
    return text_cell(value)


def _field_at(model: type[models.Model], path: str) -> models.Field:
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


class JoinedColumn(RawSQL):
    """A column of a table cases_select joins to the case list (not one the ORM knows)."""

    def __init__(self, sql: str) -> None:
        super().__init__(sql, (), output_field=models.TextField())


class Cell(Expression):
    """A cell as an ORM expression: `format` applied to the SQL of `expression`. A column is repeated as the format
    repeats it; anything else (a subquery) is computed once per row, in a subquery of its own."""

    output_field = models.TextField()

    def __init__(self, expression, format: Callable[[str], str]) -> None:
        super().__init__()
        self.expression, self.format = expression, format

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, expressions) -> None:
        (self.expression,) = expressions

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        if isinstance(self.expression, (Col, JoinedColumn)):
            return self.format(sql), params
        return f"(SELECT {self.format('once.v')} FROM (SELECT {sql} AS v OFFSET 0) AS once)", params  # noqa: S608


# --- cases.csv: the case list's queryset, so its filters and its order, with the cells as its columns ---------

CASE_CELLS: dict[str, Cell] = {
    "case_id": Cell(F("pk"), lambda x: code_cell(_registry_id(x))),
    "doi": Cell(F("source__doi"), lambda x: curie("DOI", x)),
    "pmid": Cell(F("source__pmid"), lambda x: curie("PMID", x)),
    "age_90_or_over": Cell(
        F("age_years"), lambda x: boolean_cell(f"COALESCE({x} >= {int(DEIDENTIFIED_AGE_CAP)}, FALSE)")
    ),
    # tables._cases_rows's first_calcium_directed, joined (FIRST_CALCIUM_DIRECTED) rather than a subquery per case.
    "first_calcium_directed": Cell(JoinedColumn("first_calcium_directed.v"), text_cell),
}


def _first_calcium_directed(case_ids: str) -> str:
    """Per case of the cohort (`case_ids`: SQL of their ids) the agent's code or the text of its first administered
    calcium-directed intervention (in timeline order), as tables._cases_rows's subquery: one pass over those
    interventions (the partial index intervention_first_calcium) instead of a lookup per case, which took a third
    of the export at 100,000 cases (issue 16)."""
    qn = connection.ops.quote_name
    i, a = Intervention._meta, Agent._meta
    first = (  # in the index's order: no sort
        f"SELECT DISTINCT ON (i.case_id) i.case_id, i.agent_id, i.{qn('agent_text')} AS agent_text "  # noqa: S608
        f"FROM {qn(i.db_table)} i WHERE i.intent = %s AND i.status = %s AND i.case_id IN ({case_ids}) "
        "ORDER BY i.case_id, i.sequence, i.id"
    )
    return (
        f"SELECT f.case_id, COALESCE(a.{qn('code')}, f.agent_text) AS v FROM ({first}) f "  # noqa: S608
        f"LEFT JOIN {qn(a.db_table)} a ON a.id = f.agent_id"
    )


def cases_select(cases: QuerySet) -> tuple[str, tuple]:
    cells = {}
    for i, column in enumerate(tables.CASES.columns):
        if column.name in CASE_CELLS:
            cells[f"cell_{i}"] = CASE_CELLS[column.name]
        elif column.path:
            cells[f"cell_{i}"] = Cell(F(column.path), field_cell(_field_at(Case, column.path)))
        else:
            raise ValueError(f"cases.csv: no SQL for the column {column.name}")
    sql, params = tables.CASES.rows(cases).values(**cells).query.sql_with_params()
    case_ids, case_params = cases.order_by().values("pk").query.sql_with_params()
    # The join goes into the list's own FROM, after its last cell (the cells' subqueries name their tables with an
    # alias, so this text is there once): its filters and its order stay the ORM's.
    table = connection.ops.quote_name(Case._meta.db_table)
    main_from = f' AS "cell_{len(cells) - 1}" FROM {table} '
    if sql.count(main_from) != 1:
        raise ValueError("cases.csv: the case list's FROM was not found once in its SQL")
    sql = sql.replace(
        main_from, f"{main_from}LEFT JOIN first_calcium_directed ON first_calcium_directed.case_id = {table}.id "
    )
    first = _first_calcium_directed(case_ids)
    return (
        f"WITH first_calcium_directed AS ({first}) {sql}",
        (v.Intent.CALCIUM_DIRECTED, v.InterventionStatus.ADMINISTERED, *case_params, *params),
    )


# --- labs.csv: a lab's conversions and interpretation from the registry's facts ---------------------------------


# A divisor carries 30 decimal places at least: PostgreSQL divides to the larger scale of its operands, so that
# `value / divisor` is `round(value, 30) / factor` (the value's own scale is 4) without rounding every value.
DIVISION_PLACES = 30


def _divisor(factor: Decimal) -> Decimal:
    if factor.as_tuple().exponent <= -DIVISION_PLACES:
        return factor
    return Context(prec=1000).quantize(factor, Decimal(1).scaleb(-DIVISION_PLACES))  # trailing zeros: the same value


def _unit_facts() -> list[tuple]:
    """Per analyte and unit it accepts: each converted column's unit (as its cell), whether the value is
    multiplied (else divided), the factor (the divisor: _divisor) and places (NULL where the unit is stored as
    printed), and the default range in this unit (measures.effective_range) if any."""
    rows = []
    for a in measures.analytes().values():
        for unit in a.accepted_units:
            row = [a.code, unit]
            for target in (a.si_unit, a.conventional_unit):
                if unit in a.units:
                    operation, factor = measures.conversion(a.code, unit, target)
                    multiply = operation == measures.MULTIPLY
                    row += [tables.cell(target), multiply, factor if multiply else _divisor(factor)]
                    row += [measures.unit_places(target)]
                else:
                    row += [tables.NA, None, None, None]
            low, high, basis = measures.effective_range(a.code, unit, None, None)
            rows.append((*row, basis == measures.BASIS_DEFAULT, low, high))
    return rows


UNIT_FACTS = (
    "analyte text, unit text, si_unit text, si_multiply boolean, si_factor numeric, si_places int, "
    "conventional_unit text, conventional_multiply boolean, conventional_factor numeric, conventional_places int, "
    "has_default boolean, default_low numeric, default_high numeric"
)


def _loinc_facts() -> list[tuple]:
    """Per analyte, unit and specimen: the cell of the LOINC code LabResult.loinc gives, where there is one."""
    rows = []
    for a in measures.analytes().values():
        for unit in a.accepted_units:
            for specimen in v.Specimen.values:
                code = a.loinc_for(unit, None if specimen == v.Specimen.NOT_REPORTED else specimen)
                if code:
                    rows.append((a.code, unit, specimen, tables.cell(tables.curie("LOINC", code))))
    return rows


LOINC_FACTS = "analyte text, unit text, specimen text, loinc text"


def _values(name: str, columns: str, rows: list[tuple]) -> tuple[str, list]:
    """A CTE of parameters, each column cast to its type."""
    names = [c.split()[0] for c in columns.split(", ")]
    casts = ", ".join(f"{c.split()[0]}::{c.split()[1]}" for c in columns.split(", "))
    rows = rows or [(None,) * len(names)]  # no facts at all (no LOINC code left): one row that matches nothing
    placeholders = ", ".join("(" + ", ".join(["%s"] * len(names)) + ")" for _ in rows)
    sql = f"{name} AS (SELECT {casts} FROM (VALUES {placeholders}) AS v ({', '.join(names)}))"  # noqa: S608 (module's names)
    return sql, [value for row in rows for value in row]


def _converted(x: str, target: str) -> str:
    """measures.round_for_unit(measures.convert(...)): division at 30 places at least (_divisor), as exact as
    Decimal's."""
    return (
        f"round(CASE WHEN u.{target}_multiply THEN {x} * u.{target}_factor ELSE {x} / u.{target}_factor END, "
        f"u.{target}_places)"
    )


def _interpretation() -> tuple[str, str]:
    """measures.interpret's flag and basis, from the range (_lab_range). measures._side split on the comparator
    once: a plain value or range (the common row) tests each limit once."""
    lo, hi, basis = _lab_range()
    na = "NULL"
    qualitative = " ".join(
        f"WHEN {literal(word)} THEN {literal(flag)}" for word, flag in measures.QUALITATIVE_FLAGS.items()
    )
    high, low, normal, indeterminate = (
        literal(c) for c in (measures.HIGH, measures.LOW, measures.NORMAL, measures.INDETERMINATE)
    )
    both = f"{lo} IS NOT NULL AND {hi} IS NOT NULL"
    # A censored value (measures._censored_ends): only a side the whole interval is on counts.
    low_censored = f"l.comparator IN ({', '.join(literal(c) for c in ('<', '<='))})"
    le = f"(CASE WHEN {low_censored} THEN '-Infinity'::numeric ELSE l.value END)"
    he = f"(CASE WHEN {low_censored} THEN l.value ELSE 'Infinity'::numeric END)"
    censored = (
        f"CASE WHEN {hi} IS NOT NULL AND ({le} > {hi} OR (l.comparator = '>' AND {le} = {hi})) THEN {high} "
        f"WHEN {lo} IS NOT NULL AND ({he} < {lo} OR (l.comparator = '<' AND {he} = {lo})) THEN {low} "
        f"WHEN ({hi} IS NOT NULL AND {he} > {hi}) OR ({lo} IS NOT NULL AND {le} < {lo}) THEN {indeterminate} "
        f"WHEN {both} THEN {normal} ELSE {na} END"
    )
    # A value or a reported range: above the high limit, below the low one, both, or inside both (a comparison
    # with a missing limit is NULL, which no WHEN takes).
    plain = (
        f"CASE WHEN COALESCE(l.value_high, l.value) > {hi} THEN "
        f"CASE WHEN l.value < {lo} THEN {indeterminate} ELSE {high} END "
        f"WHEN l.value < {lo} THEN {low} WHEN {both} THEN {normal} ELSE {na} END"
    )
    flag = (
        f"CASE WHEN l.value IS NULL THEN CASE l.qualitative {qualitative} ELSE {na} END "
        f"WHEN {basis} = {literal(measures.BASIS_NONE)} THEN {na} WHEN l.comparator <> '' THEN {censored} "
        f"ELSE {plain} END"
    )
    return code_cell(flag), code_cell(basis)


def _lab_range() -> tuple[str, str, str]:
    """measures.effective_range's low and high, and the basis interpret() gives: expressions each cell that reads
    them repeats (two tests of NULL; cheaper than a LATERAL per row, which PostgreSQL memoizes on a dozen columns)."""
    qualitative = ", ".join(literal(word) for word in measures.QUALITATIVE_FLAGS)
    reported = "(l.ref_low IS NOT NULL OR l.ref_high IS NOT NULL)"
    low = f"(CASE WHEN {reported} THEN l.ref_low ELSE u.default_low END)"
    high = f"(CASE WHEN {reported} THEN l.ref_high ELSE u.default_high END)"
    basis = (
        f"(CASE WHEN l.value IS NULL THEN CASE WHEN l.qualitative IN ({qualitative}) "
        f"THEN {literal(measures.BASIS_QUALITATIVE)} ELSE {literal(measures.BASIS_NONE)} END "
        f"WHEN {reported} THEN {literal(measures.BASIS_REPORTED)} "
        f"WHEN u.has_default THEN {literal(measures.BASIS_DEFAULT)} ELSE {literal(measures.BASIS_NONE)} END)"
    )
    return low, high, basis


def _lab_cells() -> dict[str, str]:
    interpretation, basis = _interpretation()
    cells = {
        "case_id": code_cell(_registry_id("l.case_id")),
        "loinc": code_cell("u.loinc"),
        "interpretation": interpretation,
        "interpretation_basis": basis,
        "follows_intervention_id": integer_cell("l.follows_intervention_id"),
    }
    for target in ("si", "conventional"):
        cells[f"{target}_value"] = number_cell(_converted("l.value", target))
        cells[f"{target}_value_high"] = number_cell(_converted("l.value_high", target))
        cells[f"{target}_unit"] = code_cell(f"CASE WHEN l.unit <> '' THEN u.{target}_unit END")
    return cells


def labs_select(cases: QuerySet) -> tuple[str, tuple]:
    cells = _lab_cells()
    columns = []
    for column in tables.LABS.columns:
        if column.name in cells:
            columns.append(cells[column.name])
        elif column.path:
            field = _field_at(LabResult, column.path)
            columns.append(field_cell(field)(f"l.{connection.ops.quote_name(field.column)}"))
        else:
            raise ValueError(f"labs.csv: no SQL for the column {column.name}")
    units, unit_params = _values("u_facts", UNIT_FACTS, _unit_facts())
    loincs, loinc_params = _values("lo_facts", LOINC_FACTS, _loinc_facts())
    case_ids, case_params = cases.order_by().values("pk").query.sql_with_params()
    qn = connection.ops.quote_name
    links = LabFollows._meta
    # Built from model metadata, this module's SQL and the queryset's own SQL with its parameters (S608).
    lab, intervention = (qn(links.get_field(name).column) for name in ("lab", "intervention"))
    follows = (
        f"SELECT {lab} AS lab_id, min({intervention}) AS intervention_id "  # noqa: S608
        f"FROM {qn(links.db_table)} GROUP BY 1"
    )
    # The lab rows in their order first, narrow (the order the baseline's COPY reads them in: the case_id index and
    # an incremental sort within each case); the facts then joined per row, which keeps that order (LATERAL with
    # OFFSET 0: a parameterized nested loop, memoized on analyte, unit and specimen: one lookup per row for the
    # unit's facts and the LOINC code), so that no sort of the joined rows, wide and spilled to disk, follows. The
    # outer ORDER BY is the order; the plan only avoids sorting again.
    labs = (
        f"SELECT l.*, follows.intervention_id AS follows_intervention_id FROM {qn(LabResult._meta.db_table)} l "  # noqa: S608
        f"LEFT JOIN ({follows}) follows ON follows.lab_id = l.id "
        f"WHERE l.case_id IN ({case_ids}) ORDER BY l.case_id, l.sequence, l.id OFFSET 0"
    )
    sql = (
        f"WITH {units}, {loincs} SELECT {', '.join(columns)} FROM ({labs}) l "  # noqa: S608
        "LEFT JOIN LATERAL (SELECT u.*, (SELECT lo.loinc FROM lo_facts lo WHERE lo.analyte = l.analyte "
        "AND lo.unit = l.unit AND lo.specimen = l.specimen LIMIT 1) AS loinc FROM (SELECT) AS one "
        "LEFT JOIN u_facts u ON u.analyte = l.analyte AND u.unit = l.unit OFFSET 0) u ON TRUE "
        "ORDER BY l.case_id, l.sequence, l.id"
    )
    return sql, (*unit_params, *loinc_params, *case_params)


COPIED: dict[str, Callable[[QuerySet], tuple[str, tuple]]] = {"cases": cases_select, "labs": labs_select}


def header(table: tables.Table) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(table.column_names)
    return buffer.getvalue().encode()


def copy_csv(table: tables.Table, cases: QuerySet) -> Iterator[bytes]:
    """The table's CSV (UTF-8) out of one COPY, in pieces of about 64 KB: constant memory, one query."""
    from psycopg import ClientCursor  # only on PostgreSQL

    yield header(table)
    try:
        select, params = COPIED[table.name](cases)
    except EmptyResultSet:  # the filters leave no case (Django compiles no SQL for `none()`)
        return
    connection.ensure_connection()
    # Parameters bound on the client (COPY takes none), whichever cursor class the connection's options name.
    statement = ClientCursor(connection.connection).mogrify(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", params)
    with connection.cursor() as cursor:  # (JIT is off for the registry's connections: registry/settings.py)
        logged = cursor.debug_sql(statement) if connection.queries_logged else nullcontext()  # counted as a query
        with logged, cursor.cursor.copy(statement) as copy:
            piece = bytearray()
            for block in copy:
                piece += block
                if len(piece) >= FLUSH_AT:
                    yield bytes(piece)
                    piece.clear()
            yield bytes(piece)
