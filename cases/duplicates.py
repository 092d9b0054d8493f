"""Likely duplicate cases: the "duplicate" warning (cases.warnings), asked when a case is created or imported and
looks like one already in the registry. Sources have their own finder: cases.citations.source_duplicates."""

from __future__ import annotations

import heapq

from django.db.models import Q
from django.db.models.functions import Upper

from .models import Case, Source, registry_id
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
    hold_duplicate_locks([case.source_id])


def hold_duplicate_locks(source_ids) -> None:
    """hold_duplicate_lock for the cases of many sources (an import), taken in id order: two imports that share
    sources then never wait for each other in opposite orders (a deadlock, which PostgreSQL ends by failing one)."""
    list(
        Source.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(source_ids)))
        .order_by("pk")
        .values_list("pk")
    )


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


def duplicate_warnings(cases: list[Case]) -> dict[int, list[CaseWarning]]:
    """duplicate_warning for many cases just created together (a bulk import), in two queries rather than two per
    case: the lock on every source of them, then every case sharing a source, a DOI or a PMID with one of them. Each
    case is compared as if created in turn, after the ones before it in `cases` (the later ones are not its
    duplicates yet). A DOI is compared ignoring case, like case_duplicates' iexact, upper-cased by the database on
    both sides (Python's upper() is not the database's: 'ß' -> 'SS'). {case id: its warnings}."""
    source_ids = sorted({case.source_id for case in cases})
    sources = {
        pk: (doi, pmid)
        for pk, doi, pmid in Source.objects.select_for_update(no_key=True)
        .filter(pk__in=source_ids)
        .annotate(doi_upper=Upper("doi"))
        .order_by("pk")
        .values_list("pk", "doi_upper", "pmid")
    }
    dois = {doi for doi, _ in sources.values() if doi}
    pmids = {pmid for _, pmid in sources.values() if pmid}
    same = Q(source_id__in=source_ids)
    if dois:
        same |= Q(doi_upper__in=dois)
    if pmids:
        same |= Q(source__pmid__in=pmids)
    candidates = list(
        Case.objects.annotate(doi_upper=Upper("source__doi"))
        .filter(same)
        .order_by("pk")
        .values_list("pk", "source_id", "disorder", "age_years", "sex", "doi_upper", "source__pmid")
    )
    place = {case.pk: n for n, case in enumerate(cases)}  # a case of this batch -> its place in it
    # The candidates by what makes them the same paper and patient, each list in id order.
    by_source: dict[tuple, list[int]] = {}
    by_doi: dict[tuple, list[int]] = {}
    by_pmid: dict[tuple, list[int]] = {}
    for pk, source_id, disorder, age, sex, doi, pmid in candidates:
        by_source.setdefault((source_id, disorder, age, sex), []).append(pk)
        if doi:
            by_doi.setdefault((doi, age, sex), []).append(pk)
        if pmid:
            by_pmid.setdefault((pmid, age, sex), []).append(pk)
    found: dict[int, list[CaseWarning]] = {}
    for n, case in enumerate(cases):
        doi, pmid = sources[case.source_id]
        lists = [by_source.get((case.source_id, case.disorder, case.age_years, case.sex), [])]
        if doi:
            lists.append(by_doi.get((doi, case.age_years, case.sex), []))
        if pmid:
            lists.append(by_pmid.get((pmid, case.age_years, case.sex), []))
        names = []
        for pk in dict.fromkeys(heapq.merge(*lists)):  # in id order, once each
            if pk != case.pk and place.get(pk, -1) < n:  # not itself, nor one created after it
                names.append(registry_id(pk))
                if len(names) > 5:  # enough to name five and say there are more
                    break
        if names:
            found[case.pk] = [
                CaseWarning(
                    DUPLICATE,
                    f"Likely a duplicate of {', '.join(names[:5]) + (', ...' if len(names) > 5 else '')}: the same "
                    "paper and the same patient's age and sex (and disorder).",
                )
            ]
    return found
