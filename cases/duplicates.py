"""Likely duplicate cases: the "duplicate" warning (cases.warnings), asked when a case is created or imported and
looks like one already in the registry. Sources have their own finder: cases.citations.source_duplicates."""

from __future__ import annotations

from django.db.models import Q

from .models import Case, Source
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


def hold_duplicate_lock(case: Case) -> None:
    """Make the duplicate check a lock, not only a check: two identical cases created at the same moment would each
    find no other and both be saved. The creations of cases of one source wait for each other until the end of their
    transaction, so the second sees the first: on PostgreSQL a row lock on the source, FOR NO KEY UPDATE because the
    new case's foreign key already holds a KEY SHARE lock on it (a FOR UPDATE would deadlock two creations). SQLite
    ignores the clause and needs none: its write transactions begin IMMEDIATE (registry.settings), one at a time."""
    list(Source.objects.select_for_update(no_key=True).filter(pk=case.source_id).values_list("pk"))


@create_warning_check
def duplicate_warning(case: Case) -> list[CaseWarning]:
    """Asked when a case is created or imported (not on later edits: a case the registry holds was checked then)."""
    hold_duplicate_lock(case)
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
