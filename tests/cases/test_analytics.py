"""cases.analytics details not visible through the API cohort tests."""

import random
import statistics
from decimal import Decimal

import pytest
from django.db.models import Count

from cases import analytics, measures
from cases.models import Case, Intervention
from tests.factories import make_agent, make_case, make_intervention, make_source

pytestmark = pytest.mark.django_db


def test_agents_without_a_class_and_uncoded_interventions_share_one_no_class_group():
    case = make_case()
    classless = make_agent(code="mystery", name="Mystery drug", drug_class="")
    make_intervention(case, agent=classless, sequence=1)
    make_intervention(case, agent=None, agent_text="adjuvant chemotherapy", sequence=2)
    make_intervention(
        case,
        agent=make_agent(code="zol", name="Zoledronic acid", drug_class="bisphosphonate", atc_code="M05BA08"),
        sequence=3,
    )
    table = analytics.intervention_tables(Case.objects.all())["drug_class"]
    # One row per class, the "no class" group (null) last on either database.
    assert [(row["key"], row["administered"]) for row in table] == [("bisphosphonate", 1), (None, 2)]


def test_quartiles_of_every_cohort_size_are_the_type_7_quartiles():
    """distributions() reads the values at the quartiles' positions (PostgreSQL: one percentile_disc per field,
    SQLite: ranked rows); both must give Python's type-7 ("inclusive") quartiles for every n, ties and nulls
    included."""
    rng = random.Random(16)  # noqa: S311 (test data)
    ages = [rng.choice([None, *range(20, 40)]) for _ in range(25)]
    source = make_source()
    pks = [make_case(source=source, age_years=age).pk for age in ages]
    for n in range(1, len(pks) + 1):
        spread, totals = analytics.distributions(Case.objects.filter(pk__in=pks[:n]), ["age_years"], cases=Count("pk"))
        values = sorted(a for a in ages[:n] if a is not None)
        assert totals == {"cases": n}
        assert spread["age_years"]["n"] == len(values)
        if len(values) == 0:
            assert spread["age_years"]["median"] is None
            continue
        expected = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
        got = spread["age_years"]
        assert [got["min"], got["q1"], got["median"], got["q3"], got["max"]] == [
            values[0], *(Decimal(str(q)) for q in expected), values[-1]
        ], n  # fmt: skip


def test_medians_of_every_group_size_are_the_mean_of_the_two_middle_values():
    """cases.analytics.Median (PostgreSQL: one percentile_disc of two fractions) and group_medians (SQLite)."""
    rng = random.Random(13)  # noqa: S311 (test data)
    case = make_case()
    befores = [Decimal(rng.randrange(1000, 1600)) / 100 for _ in range(12)]
    ids = [make_intervention(case, sequence=k + 1).pk for k in range(len(befores))]
    for pk, before in zip(ids, befores, strict=True):  # after every row is written: a write recomputes the case's
        Intervention.objects.filter(pk=pk).update(calcium_before_mg_dl=before)
    for n in range(1, len(ids) + 1):
        Intervention.objects.filter(case=case).exclude(pk__in=ids[:n]).update(intent="cancer_directed")
        Intervention.objects.filter(pk__in=ids[:n]).update(intent="calcium_directed")
        (row,) = [
            r for r in analytics.intervention_tables(Case.objects.all())["intent"] if r["key"] == "calcium_directed"
        ]
        expected = statistics.median(befores[:n])
        assert row["median_calcium_before_mg_dl"] == measures.round_for_unit(expected, "mg/dL"), n
