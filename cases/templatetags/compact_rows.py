"""The compact inline's cell (admin/cases/edit_inline/compact.html), written out in Python: a case page draws ~600
of them, and the template's per-field conditions and lookups were a fifth of its time (issue 16)."""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from .workspace import plain_number

register = template.Library()


@register.simple_tag
def compact_cell(field) -> str:
    """One field of an inline row (an AdminField or an AdminReadonlyField of Django's admin helpers): a hidden field
    as it is, a hidden read-only one in a hidden span, any other in a cell with its label, escaped as the template
    escaped it."""
    bound = field.field  # a BoundField, or the read-only field's dict
    readonly = field.is_readonly
    name = conditional_escape(bound["name"] if readonly else bound.name)
    hidden = bound["is_hidden"] if readonly else bound.is_hidden
    if readonly and hidden:
        return mark_safe(f'<span hidden class="readonly-{name}">{conditional_escape(field.contents())}</span>')  # noqa: S308
    if hidden:
        return conditional_escape(bound)
    if readonly:
        body = f'<div class="readonly">{conditional_escape(plain_number(field.contents()))}</div>'
    else:
        body = conditional_escape(bound)
    return mark_safe(f'<div class="cell cell-{name}">{conditional_escape(field.label_tag())}{body}</div>')  # noqa: S308
