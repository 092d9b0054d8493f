"""Check constraints evaluated in memory (cases.constraints) agree with the database's own evaluation of the same
conditions, NULLs included, for every check of every row kind and many combinations of values."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.constraints import NotInMemory, check_passes
from cases.models import Case, Intervention, LabResult, Mechanism, Tumor
from tests.factories import make_case

pytestmark = pytest.mark.django_db

NUMBERS = [None, Decimal("-1"), Decimal("0"), Decimal("2.5"), Decimal("14"), Decimal("900000")]
LAB_VALUES = {
    "analyte": ["calcium_total", "albumin", "pth"],
    "unit": ["", "mg/dL", "mmol/L", "g/dL", "pg/mL"],
    "value": NUMBERS,
    "value_high": [None, Decimal("2"), Decimal("15")],
    "comparator": ["", "<"],
    "ref_low": [None, Decimal("8.9")],
    "ref_high": [None, Decimal("1"), Decimal("10.1")],
    "qualitative": ["", "high"],
    "unit_not_reported": [False, True],
}
INTERVENTION_VALUES = {
    "day": [None, -3, 0, 5],
    "end_day": [None, -4, 0, 7],
    "end_day_is_approximate": [False, True],
    "cycles": [None, 0, 2],
    "dose_value": [None, Decimal("0"), Decimal("4")],
    "dose_unit": ["", "mg"],
    "category": ["drug", "surgery"],
}


def combinations(values: dict, step: int):
    keys = list(values)
    for n, combo in enumerate(itertools.product(*values.values())):
        if n % step == 0:  # a spread of the product, not all of it (the test stays quick)
            yield dict(zip(keys, combo, strict=True))


def agree(instance) -> int:
    """Each check constraint of the instance, in memory vs Django's query; returns how many were compared."""
    compared = 0
    for constraint in type(instance)._meta.constraints:
        if not hasattr(constraint, "condition") or constraint.__class__.__name__ != "CheckConstraint":
            continue
        try:
            in_memory = check_passes(constraint, instance, set())
        except NotInMemory:
            continue
        try:
            constraint.validate(type(instance), instance)
            in_database = True
        except ValidationError:
            in_database = False
        assert in_memory == in_database, (constraint.name, instance.__dict__)
        compared += 1
    return compared


def test_lab_checks_agree_with_the_database():
    case = make_case()
    compared = sum(agree(LabResult(case=case, **values)) for values in combinations(LAB_VALUES, 97))
    assert compared > 300


def test_intervention_checks_agree_with_the_database():
    case = make_case()
    compared = sum(agree(Intervention(case=case, **values)) for values in combinations(INTERVENTION_VALUES, 7))
    assert compared > 300


def test_case_tumor_and_mechanism_checks_agree_with_the_database():
    compared = sum(agree(Case(age_years=age, version=v)) for age in [None, -1, 0, 89, 200] for v in [0, 1])
    compared += sum(
        agree(Tumor(er=er, pr=pr, hormone_receptor=hr))
        for er, pr, hr in itertools.product(["", "positive", "negative"], repeat=3)
    )
    compared += sum(
        agree(Mechanism(code=code, action_taken=action))
        for code in ["drug_related", "humoral_pthrp"]
        for action in ["", "withdrawn"]
    )
    assert compared > 40


def test_the_checks_are_validated_without_a_query():
    lab = LabResult(
        case=make_case(), analyte="calcium_total", value=Decimal("9"), value_high=Decimal("8"), unit="mg/dL"
    )
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ValidationError) as refused:
        lab.validate_constraints(exclude={"case"})  # what full_clean calls after clean()
    assert ctx.captured_queries == []
    assert refused.value.message_dict["__all__"] == ["The high end of a range must not be below its low end."]
