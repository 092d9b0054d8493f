"""registry.renderers.FastTemplates writes out Django's plain widget and label templates in Python: the HTML must be
Django's, byte for byte, widget by widget and on whole admin pages."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.test import override_settings
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from registry import renderers
from tests.admin_pages import login, make_case_with_rows
from tests.factories import make_lab

DJANGO = DjangoTemplates()


class Everything(forms.Form):
    text = forms.CharField(
        max_length=20, widget=forms.TextInput(attrs={"data-x": 'a "quoted" <b>&', "autofocus": True})
    )
    number = forms.IntegerField(min_value=0, max_value=99)
    decimal = forms.DecimalField(max_digits=6, decimal_places=2, required=False)
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, assume_scheme="https")
    hidden = forms.CharField(widget=forms.HiddenInput, required=False)
    date = forms.DateField(required=False)
    flag = forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs={"disabled": False, "class": "c"}))
    choice = forms.ChoiceField(choices=[("", "---"), ("a", "Ä & <b>"), ("b", gettext_lazy("Lazy label"))])
    grouped = forms.ChoiceField(choices=[("Group <1>", [("x", "X"), ("y", "Y")]), ("z", "Z")], required=False)
    numbers = forms.TypedChoiceField(choices=[(1, 1000), (2, 2000)], coerce=int, required=False)  # localized labels
    several = forms.MultipleChoiceField(choices=[("p", "P"), ("q", "Q")], required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    safe = forms.CharField(widget=forms.TextInput(attrs={"title": mark_safe("<i>safe</i>")}), required=False)
    radio = forms.ChoiceField(choices=[("r", "R")], widget=forms.RadioSelect, required=False)  # via the engine


DATA = {
    "text": "<script>&\"'",
    "number": "7",
    "decimal": "12.50",
    "email": "a@b.c",
    "hidden": "h&<",
    "date": "2026-11-29",
    "flag": "on",
    "choice": "a",
    "grouped": "y",
    "numbers": "2",
    "several": ["p", "q"],
    "notes": "line 1\n<b>line 2</b> & 3",
    "safe": "s",
    "radio": "r",
}


@pytest.mark.parametrize("data", [None, DATA, {"notes": ""}], ids=["empty", "filled", "invalid"])
def test_every_widget_and_label_is_rendered_as_the_templates_render_it(data):
    fast = renderers.FastTemplates()
    slow, quick = Everything(data, renderer=DJANGO), Everything(data, renderer=fast)
    for name in Everything.base_fields:
        assert str(quick[name]) == str(slow[name]), name
        assert quick[name].label_tag() == slow[name].label_tag(), name
        assert quick[name].label_tag(attrs={"class": "x"}, tag="legend") == slow[name].label_tag(
            attrs={"class": "x"}, tag="legend"
        )
    assert str(quick) == str(slow)  # the whole form (its template through the engine, its fields written out)
    # and the written-out templates were used: a checked source for each kind rendered above
    assert {name for name, same in fast._checked.items() if same} >= {
        "django/forms/widgets/text.html",
        "django/forms/widgets/select.html",
        "django/forms/widgets/textarea.html",
        "django/forms/widgets/checkbox.html",
        "django/forms/label.html",
    }


def test_a_template_that_differs_from_the_written_out_source_is_rendered_by_the_engine(monkeypatch):
    monkeypatch.setitem(renderers.SOURCES, "django/forms/widgets/textarea.html", "something else")
    fast = renderers.FastTemplates()
    monkeypatch.setitem(
        renderers.WRITTEN_OUT,
        "django/forms/widgets/textarea.html",
        (*renderers.WRITTEN_OUT["django/forms/widgets/textarea.html"][:2], lambda context: "WRONG"),
    )
    html = str(Everything(DATA, renderer=fast)["notes"])
    assert html == str(Everything(DATA, renderer=DJANGO)["notes"]) and fast._checked == {
        "django/forms/widgets/textarea.html": False
    }


def page(client, url: str, renderer: str) -> str:
    with override_settings(FORM_RENDERER=renderer):
        html = client.get(url).content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


@pytest.mark.django_db
def test_the_admin_case_page_and_the_case_list_are_the_same_html_with_either_renderer():
    curator = login("curator")
    case = make_case_with_rows(3)
    make_lab(case, sequence=20, analyte="albumin", unit="g/dL", value="3.1")
    for url in (f"/admin/cases/case/{case.pk}/change/", "/admin/cases/case/"):
        written_out = page(curator, url, "registry.renderers.FastTemplates")
        assert written_out == page(curator, url, "django.forms.renderers.DjangoTemplates"), url
        assert "<select" in written_out and "<input" in written_out
