"""The benchmark's synthetic registry (cases.benchmarking): the copied cases are what the registry's own code
would store for them, so the figures measured on them are the registry's."""

from __future__ import annotations

from decimal import Decimal

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


def test_a_copied_case_keeps_its_labs_links_and_dose_steps_to_its_own_interventions():
    """clone() writes a lab's links (LabFollows) and the dose steps with the copy's own rows' ids, as the benchmark
    copies imported cases that have them."""
    from cases.models import DoseStep, LabFollows
    from tests.factories import make_case, make_intervention, make_lab

    case = make_case()
    first = make_intervention(case, sequence=1, day=0, intent="calcium_directed", status="administered")
    second = make_intervention(case, sequence=2, day=2, intent="calcium_directed", status="administered")
    make_lab(case, sequence=0, day=0, analyte="calcium_total", unit="mg/dL", value=Decimal("14"))
    make_lab(case, follows_interventions=(first, second), sequence=3, day=3, analyte="calcium_total", unit="mg/dL",
             value=Decimal("9.5"))  # fmt: skip
    DoseStep.objects.create(case=case, intervention=second, position=1, dose_text="1 g")
    case.refresh_derived()
    written = benchmarking.clone([case.pk], 2)
    assert written == 2 * (1 + 1 + 2 + 2 + 2 + 1)  # cases, episodes (issue 13), interventions, labs, links, dose steps
    for copy in Case.objects.exclude(pk=case.pk):
        interventions = list(copy.interventions.order_by("pk").values_list("pk", flat=True))
        lab = copy.labs.get(sequence=3)
        assert sorted(LabFollows.objects.filter(lab=lab).values_list("intervention_id", flat=True)) == interventions
        assert list(DoseStep.objects.filter(case=copy).values_list("intervention_id", flat=True)) == interventions[1:]
        before = stored(copy.pk)
        assert before[0]["derived_json"]["normalisation"]["normalised"] is True
        cases_refresh_derived(Case.objects.filter(pk=copy.pk))
        assert stored(copy.pk) == before
