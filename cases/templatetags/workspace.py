"""Template filters of the case workspace."""

import re

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

PADDED = re.compile(r"(-?\d+)\.(\d*?)0+")


@register.filter
def plain_number(contents):
    """A read-only field's text with a decimal as people write it ("12.0000" -> "12", "15.1000" -> "15.1")."""
    text = str(contents)
    match = PADDED.fullmatch(text.strip())
    if not match:
        return contents
    plain = match[1] + (f".{match[2]}" if match[2] else "")
    return mark_safe(plain) if isinstance(contents, SafeString) else plain  # noqa: S308 - digits only
