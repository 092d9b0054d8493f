"""Check constraints evaluated in memory: the same conditions the database enforces, without a query per row and
constraint (Django's own validate_constraints runs each check as a SELECT, in a savepoint inside a transaction).

A condition is a tree of Q objects over the row's own fields; it is evaluated with SQL's three-valued logic (a
comparison with NULL is unknown, and a check fails only when its condition is false), as the database would.
A condition this evaluator does not understand (another lookup, a database function) falls back to Django's
query, so no rule is ever skipped. The database's named constraints stay the safety net behind both.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, router
from django.db.models import F, Q

# Lookups as SQL compares them; None (NULL) on either side makes a comparison unknown.
COMPARISONS = {
    "exact": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


class NotInMemory(Exception):
    """The condition needs the database."""


def _value(instance: models.Model, name: str):
    return getattr(instance, instance._meta.get_field(name).attname)


def _lookup(instance: models.Model, key: str, operand) -> bool | None:
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    if "__" in lookup:
        raise NotInMemory(key)  # a lookup across a relation
    value = _value(instance, name)
    if isinstance(operand, F):
        operand = _value(instance, operand.name)
    elif hasattr(operand, "resolve_expression"):
        raise NotInMemory(key)
    if lookup == "isnull":
        return (value is None) == bool(operand)
    if lookup == "exact" and operand is None:
        return value is None
    if lookup == "in":
        if value is None:
            return None
        return value in operand
    if lookup not in COMPARISONS:
        raise NotInMemory(key)
    if value is None or operand is None:
        return None
    return COMPARISONS[lookup](value, operand)


def evaluate(instance: models.Model, condition: Q) -> bool | None:
    """True, False or None (unknown) for the row, as SQL would evaluate the condition."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(evaluate(instance, child))
        elif isinstance(child, tuple):
            results.append(_lookup(instance, *child))
        else:
            raise NotInMemory(child)
    if condition.connector == Q.AND:
        result = False if False in results else (None if None in results else True)
    elif condition.connector == Q.OR:
        result = True if True in results else (None if None in results else False)
    else:
        raise NotInMemory(condition.connector)
    if condition.negated and result is not None:
        result = not result
    return result


def _fields_of(condition: Q) -> set[str]:
    names = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _fields_of(child)
        elif isinstance(child, tuple):
            names.add(child[0].split("__")[0])
            if isinstance(child[1], F):
                names.add(child[1].name)
    return names


def check_passes(constraint: models.CheckConstraint, instance: models.Model, exclude: set) -> bool:
    """Whether the row meets the check; a check on an excluded field is skipped (as Django skips it)."""
    condition = constraint.condition
    if not isinstance(condition, Q):
        raise NotInMemory(condition)
    if _fields_of(condition) & exclude:
        return True
    return evaluate(instance, condition) is not False


class InMemoryConstraints(models.Model):
    """A model whose check constraints are validated in memory (full_clean without a query per check)."""

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None):
        exclude = set(exclude or ())
        using = router.db_for_write(self.__class__, instance=self)
        errors: dict = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    if isinstance(constraint, models.CheckConstraint):
                        try:
                            passes = check_passes(constraint, self, exclude)
                        except NotInMemory:
                            constraint.validate(model_class, self, exclude=exclude, using=using)
                            continue
                        if not passes:
                            raise ValidationError(
                                constraint.get_violation_error_message(), code=constraint.violation_error_code
                            )
                    else:
                        constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as exc:
                    if getattr(exc, "code", None) == "unique" and len(getattr(constraint, "fields", ())) == 1:
                        errors.setdefault(constraint.fields[0], []).append(exc)
                    else:
                        errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)
