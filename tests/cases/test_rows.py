"""cases.rows defines each row kind's curator-entered fields once; the case document, the tidy tables and the admin
page take them from there, so a field added to a row model is missed by none of them."""

from __future__ import annotations

import pytest
from django.contrib import admin

from cases import tables
from cases.admin import ADMIN_NAMES
from cases.document import DOCUMENT_NAMES, CaseSerializer
from cases.models import Case
from cases.rows import QUOTE_PLACE, ROWS, TIMING, RowKind

KINDS = list(ROWS)


@pytest.mark.parametrize("relation", KINDS)
def test_a_row_kind_lists_every_field_a_curator_enters_once(relation):
    kind = ROWS[relation]
    editable = {f.name for f in kind.model._meta.concrete_fields if f.editable} - {"id", "case", *QUOTE_PLACE}
    assert len(set(kind.fields)) == len(kind.fields)
    assert set(kind.fields) - set(kind.nested) == editable
    # The rows entered with a row (a lab's links, an intervention's dose steps): every case-owned row that names
    # this one by a visible relation, by its related name.
    entered_with = {
        r.get_accessor_name()
        for r in kind.model._meta.related_objects
        if r.one_to_many and not r.hidden and any(f.name == "case" for f in r.related_model._meta.fields)
    }
    assert set(kind.nested) == entered_with


@pytest.mark.parametrize("relation", KINDS)
def test_the_document_accepts_the_row_kinds_fields_in_its_order(relation):
    row = CaseSerializer().fields[relation].child
    writable = [name for name, field in row.fields.items() if not field.read_only and name != "id"]
    assert writable == [n for name in ROWS[relation].fields for n in DOCUMENT_NAMES.get(name, (name,))]


@pytest.mark.parametrize("relation", KINDS)
def test_the_admin_inline_shows_the_row_kinds_fields(relation):
    kind = ROWS[relation]
    inline = next(i for i in admin.site._registry[Case].inlines if i.model is kind.model)
    (_, line), (_, details) = inline.fieldsets
    shown = [ADMIN_NAMES.get(name, name) for name in kind.fields if name not in inline.leave_out]
    assert sorted(line["fields"]) == sorted(kind.essentials)
    assert [name for name in details["fields"] if name not in QUOTE_PLACE] == [
        name for name in shown if name not in kind.essentials
    ]
    assert inline.timed == ("sequence" in kind.fields)
    assert inline.autocomplete_fields == kind.related


@pytest.mark.parametrize("relation", KINDS)
def test_the_tidy_table_has_the_row_kinds_fields_timing_first(relation):
    kind = ROWS[relation]
    columns = tables.TABLES[relation].column_names
    same_name = [name for name in columns if name in kind.fields]
    timing = [name for name in kind.fields if name in TIMING]
    assert same_name == [*timing, *(name for name in kind.fields if name not in TIMING and name in columns)]


def test_a_layer_naming_a_field_the_row_kind_does_not_have_fails_at_once():
    with pytest.raises(ValueError, match="valu"):
        ROWS["labs"].check_names({"valu": ()}, "A test")
    with pytest.raises(ValueError, match="essentials"):
        RowKind("tumors", ROWS["tumors"].model, fields=("site",), essentials=("histology",))
