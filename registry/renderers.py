"""The form renderer: Django's own templates, with the commonest widget templates written out in Python.

A case's admin page draws ~850 widgets and ~600 labels (27 rows of a case, each a line of fields and its details);
through the template engine each costs about a quarter of a millisecond, most of the page's 300 ms (issue 16).
FastTemplates renders the plain widgets (the <input> family, <select> with its options, <textarea>) and the
<label> exactly as Django's templates would: the same markup, the same escaping (tests/test_renderers.py compares
both, widget by widget and on a whole case page). Everything else (the admin's widget wrappers, radio buttons,
whole forms) goes through the templates as before.

Each written-out template is used only while the template the engine would load has exactly the source below
(checked once per template): a Django upgrade that changes one, or an app that overrides one, falls back to it.
"""

from __future__ import annotations

import html

from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

INPUT_SOURCE = (
    '<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %} '
    "value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}"
    '{% include "django/forms/widgets/attrs.html" %}>\n'
)
INCLUDE_INPUT_SOURCE = '{% include "django/forms/widgets/input.html" %}\n'
WIDGET_ATTRS_SOURCE = (
    "{% for name, value in widget.attrs.items %}{% if value is not False %} {{ name }}"
    "{% if value is not True %}=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}{% endfor %}"
)
ATTRS_SOURCE = WIDGET_ATTRS_SOURCE.replace("widget.attrs.items", "attrs.items")
SELECT_SOURCE = (
    '<select name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>'
    "{% for group_name, group_choices, group_index in widget.optgroups %}{% if group_name %}\n"
    '  <optgroup label="{{ group_name }}">{% endif %}{% for option in group_choices %}\n'
    "  {% include option.template_name with widget=option %}{% endfor %}{% if group_name %}\n"
    "  </optgroup>{% endif %}{% endfor %}\n"
    "</select>\n"
)
OPTION_SOURCE = (
    '<option value="{{ widget.value|stringformat:\'s\' }}"{% include "django/forms/widgets/attrs.html" %}>'
    "{{ widget.label }}</option>\n"
)
TEXTAREA_SOURCE = (
    '<textarea name="{{ widget.name }}"{% include "django/forms/widgets/attrs.html" %}>\n'
    "{% if widget.value %}{{ widget.value }}{% endif %}</textarea>\n"
)
LABEL_SOURCE = (
    "{% if use_tag %}<{{ tag }}{% include 'django/forms/attrs.html' %}>{{ label }}</{{ tag }}>"
    "{% else %}{{ label }}{% endif %}\n"
)
INPUT_TYPES = ("text", "number", "email", "url", "password", "hidden", "date", "datetime", "time", "checkbox")


class Fallback(Exception):
    """A value the written-out template does not render as the engine would (a number to localize, a callable):
    the engine renders it."""


def text(value) -> str:
    """{{ value }}: strings (lazy ones too) escaped unless safe; anything else is left to the engine, which
    localizes numbers and dates. A plain str is escaped as django.utils.html.escape does (html.escape, quotes
    too), without its lazy-string wrapper: most values on a page are plain."""
    if type(value) is str:
        return html.escape(value)
    if isinstance(value, str | Promise):
        return conditional_escape(value)
    raise Fallback


def formatted(value) -> str:
    """{{ value|stringformat:'s' }}: "%s" % value, escaped unless the value was safe."""
    if callable(value):
        raise Fallback
    if isinstance(value, tuple):
        value = str(value)
    try:
        out = "%s" % value  # noqa: UP031 (the filter's own formatting)
    except (ValueError, TypeError):
        return ""
    return out if isinstance(value, SafeData) else html.escape(out)


def attrs(items: dict | None) -> str:
    """The attrs templates' loop; a label's attrs may be None (the loop then draws nothing)."""
    if not items:
        return ""
    if not isinstance(items, dict):
        raise Fallback
    return "".join(
        f" {text(name)}" if value is True else f' {text(name)}="{formatted(value)}"'
        for name, value in items.items()
        if value is not False
    )


def render_input(context: dict) -> str:
    widget = context["widget"]
    value = "" if widget["value"] is None else f' value="{formatted(widget["value"])}"'
    return f'<input type="{text(widget["type"])}" name="{text(widget["name"])}"{value}{attrs(widget["attrs"])}>'


def render_option(option: dict) -> str:
    if option.get("template_name") != "django/forms/widgets/select_option.html":
        raise Fallback
    return f'<option value="{formatted(option["value"])}"{attrs(option["attrs"])}>{text(option["label"])}</option>\n'


def render_select(context: dict) -> str:
    widget = context["widget"]
    out = [f'<select name="{text(widget["name"])}"{attrs(widget["attrs"])}>']
    for group_name, group_choices, _ in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{text(group_name)}">')
        for option in group_choices:
            out.append(f"\n  {render_option(option)}")
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


def render_textarea(context: dict) -> str:
    widget = context["widget"]
    value = text(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{text(widget["name"])}"{attrs(widget["attrs"])}>\n{value}</textarea>'


def render_label(context: dict) -> str:
    if not context.get("use_tag"):
        return text(context["label"]).strip()
    tag = text(context["tag"])
    return f"<{tag}{attrs(context['attrs'])}>{text(context['label'])}</{tag}>"


# template name -> (its source as Django ships it, the templates it includes, the function that writes it out)
WRITTEN_OUT = {
    "django/forms/widgets/input.html": (INPUT_SOURCE, ("django/forms/widgets/attrs.html",), render_input),
    "django/forms/widgets/select.html": (
        SELECT_SOURCE,
        ("django/forms/widgets/attrs.html", "django/forms/widgets/select_option.html"),
        render_select,
    ),
    "django/forms/widgets/textarea.html": (TEXTAREA_SOURCE, ("django/forms/widgets/attrs.html",), render_textarea),
    "django/forms/label.html": (LABEL_SOURCE, ("django/forms/attrs.html",), render_label),
    **{
        f"django/forms/widgets/{kind}.html": (
            INCLUDE_INPUT_SOURCE,
            ("django/forms/widgets/input.html", "django/forms/widgets/attrs.html"),
            render_input,
        )
        for kind in INPUT_TYPES
    },
}
SOURCES = {
    "django/forms/widgets/attrs.html": WIDGET_ATTRS_SOURCE,
    "django/forms/attrs.html": ATTRS_SOURCE,
    "django/forms/widgets/select_option.html": OPTION_SOURCE,
    "django/forms/widgets/input.html": INPUT_SOURCE,
    **{name: source for name, (source, _, _) in WRITTEN_OUT.items()},
}


class FastTemplates(DjangoTemplates):
    """DjangoTemplates, with WRITTEN_OUT's templates rendered by their Python functions."""

    def __init__(self) -> None:
        super().__init__()
        self._checked: dict[str, bool] = {}

    def _unchanged(self, name: str) -> bool:
        """Whether the engine's template of this name (and those it includes) is the source written out here."""
        if name not in self._checked:
            names = (name, *WRITTEN_OUT[name][1])
            self._checked[name] = all(self.get_template(n).template.source == SOURCES[n] for n in names)
        return self._checked[name]

    def render(self, template_name, context, request=None):
        written = WRITTEN_OUT.get(template_name)
        if written is not None and self._unchanged(template_name):
            try:
                return written[2](context).strip()
            except Fallback:
                pass
        return super().render(template_name, context, request=request)
