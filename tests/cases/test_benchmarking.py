"""The benchmark's synthetic registry (cases.benchmarking): the copied cases are what the registry's own code
would store for them, so the figures measured on them are the registry's."""

from __future__ import annotations

import pytest

from cases import benchmarking
from cases.models import DERIVED_FIELDS, INTERVENTION_DERIVED_FIELDS, Case, Intervention, Source
from cases.services import cases_refresh_derived

pytestmark = pytest.mark.django_db


def stored(pk: int) -> tuple:
    derived = Case.objects.filter(pk=pk).values(*DERIVED_FIELDS).get()
    around = list(Intervention.objects.filter(case=pk).order_by("pk").values_list(*INTERVENTION_DERIVED_FIELDS))
    return derived, around


def test_copied_cases_hold_their_prototypes_rows_and_the_derived_values_the_registry_computes(monkeypatch):
    monkeypatch.setattr(benchmarking, "PERIOD", 3)  # 3 prototypes, then copies of them
    source = Source.objects.create(kind="case_report", citation="benchmark", title="benchmark source")
    pks = benchmarking.fill(7, source)
    assert len(pks) == 7
    cases = list(Case.objects.filter(pk__in=pks).order_by("pk"))
    assert [c.title for c in cases] == [f"benchmark case {i}" for i in range(7)]
    for case in Case.objects.filter(pk__in=pks).prefetch_related(*benchmarking.RELATIONS):
        assert sum(len(getattr(case, relation).all()) for relation in benchmarking.RELATIONS) == 27
    copied = {pk: stored(pk) for pk in pks}
    assert copied[pks[4]] == copied[pks[1]] and copied[pks[0]][0]["derived_json"]["peak_calcium"] is not None
    cases_refresh_derived(Case.objects.filter(pk__in=pks))  # what the registry's code computes for each
    assert {pk: stored(pk) for pk in pks} == copied
