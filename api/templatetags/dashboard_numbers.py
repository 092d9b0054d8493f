"""Counts on the dashboard as people read them: 100,000 cases, not 100000."""

from django import template

register = template.Library()


@register.filter
def thousands(number) -> str:
    return f"{number:,}" if isinstance(number, int) else str(number)
