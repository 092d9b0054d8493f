"""Likely duplicate cases: the "duplicate" warning (cases.warnings), asked when a case is created or imported and
looks like one already in the registry. Sources have their own finder: cases.citations.source_duplicates."""

from __future__ import annotations

from django.db.models import Q

from .models import Case
from .warnings import CaseWarning, create_warning_check

DUPLICATE = "duplicate"  # the warning's key: what a client sends in "confirm"


def case_duplicates(case: Case) -> list[Case]:
    """The other cases that are likely this one: the same source with the same age, sex and disorder; or a source
    with the same DOI or PMID and the same patient (age and sex)."""
    source = case.source
    same_paper = Q(source_id=case.source_id, disorder=case.disorder)
    if source.doi:
        same_paper |= Q(source__doi__iexact=source.doi)
    if source.pmid:
        same_paper |= Q(source__pmid=source.pmid)
    return list(
        Case.objects.filter(same_paper, age_years=case.age_years, sex=case.sex).exclude(pk=case.pk).order_by("pk")
    )


@create_warning_check
def duplicate_warning(case: Case) -> list[CaseWarning]:
    """Asked when a case is created or imported (not on later edits: a case the registry holds was checked then)."""
    found = case_duplicates(case)
    if not found:
        return []
    names = ", ".join(c.registry_id for c in found[:5]) + (", ..." if len(found) > 5 else "")
    return [
        CaseWarning(
            DUPLICATE,
            f"Likely a duplicate of {names}: the same paper and the same patient's age and sex (and disorder).",
        )
    ]
