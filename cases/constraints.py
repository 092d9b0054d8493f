"""Check constraints evaluated in memory: the same conditions the database enforces, without a query per row and
constraint (Django's own validate_constraints runs each check as a SELECT, in a savepoint inside a transaction).

A condition is a tree of Q objects over the row's own fields; it is evaluated with SQL's three-valued logic (a
comparison with NULL is unknown, and a check fails only when its condition is false), as the database would.
A condition this evaluator does not understand (another lookup, a database function) falls back to Django's
query, so no rule is ever skipped. The database's named constraints stay the safety net behind both.
"""

from __future__ import annotations

from collections.abc import Callable

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


def _attname(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).attname


def _compile_lookup(model: type[models.Model], key: str, operand) -> Callable:
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    if "__" in lookup:
        raise NotInMemory(key)  # a lookup across a relation
    attname = _attname(model, name)
    if isinstance(operand, F):
        other = _attname(model, operand.name)

        def operand_of(row):
            return getattr(row, other)
    elif hasattr(operand, "resolve_expression"):
        raise NotInMemory(key)
    else:

        def operand_of(row):
            return operand

    if lookup == "isnull":
        return lambda row: (getattr(row, attname) is None) == bool(operand)
    if lookup == "exact" and operand is None:
        return lambda row: getattr(row, attname) is None
    if lookup == "in":
        choices = set(operand)
        return lambda row: None if (value := getattr(row, attname)) is None else value in choices
    if lookup not in COMPARISONS:
        raise NotInMemory(key)
    compare = COMPARISONS[lookup]

    def check(row):
        value, other_value = getattr(row, attname), operand_of(row)
        return None if value is None or other_value is None else compare(value, other_value)

    return check


def _compile(model: type[models.Model], condition: Q) -> Callable:
    """The condition as a function of a row: True, False or None (unknown), as SQL would evaluate it."""
    if any(not isinstance(child, Q | tuple) for child in condition.children):
        raise NotInMemory(condition)
    parts = [
        _compile(model, child) if isinstance(child, Q) else _compile_lookup(model, *child)
        for child in condition.children
    ]
    if condition.connector not in (Q.AND, Q.OR):
        raise NotInMemory(condition.connector)
    decisive = condition.connector == Q.OR  # True decides an OR, False an AND

    def combined(row):
        unknown = False
        for part in parts:
            result = part(row)
            if result is decisive:
                return decisive
            unknown = unknown or result is None
        return None if unknown else not decisive

    if not condition.negated:
        return combined
    return lambda row: None if (result := combined(row)) is None else not result


def _fields_of(condition: Q) -> frozenset[str]:
    names: set[str] = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _fields_of(child)
        else:
            names.add(child[0].split("__")[0])
            if isinstance(child[1], F):
                names.add(child[1].name)
    return frozenset(names)


_COMPILED: dict[tuple[type, str], tuple[frozenset[str], Callable] | None] = {}  # None: needs the database


def _compiled(model: type[models.Model], constraint: models.CheckConstraint) -> tuple[frozenset[str], Callable]:
    key = (model, constraint.name)
    if key not in _COMPILED:
        condition = constraint.condition
        try:
            if not isinstance(condition, Q):
                raise NotInMemory(condition)
            _COMPILED[key] = (_fields_of(condition), _compile(model, condition))
        except NotInMemory:
            _COMPILED[key] = None
    if _COMPILED[key] is None:
        raise NotInMemory(constraint.name)
    return _COMPILED[key]


def check_passes(constraint: models.CheckConstraint, instance: models.Model, exclude: set) -> bool:
    """Whether the row meets the check; a check on an excluded field is skipped (as Django skips it). Each check
    is compiled once per model (functools.cache)."""
    fields, condition = _compiled(type(instance), constraint)
    if fields & exclude:
        return True
    return condition(instance) is not False


class InMemoryConstraints(models.Model):
    """A model whose check constraints are validated in memory (full_clean without a query per check, nor per
    foreign key already loaded)."""

    class Meta:
        abstract = True

    def clean_fields(self, exclude=None):
        """Django's, but a foreign key whose object was loaded from the database (an agent the document names by its
        code, an admin form's choice) is not looked up again: ForeignKey.validate runs a SELECT per row for it."""
        exclude = set(exclude or ())
        for field in self._meta.concrete_fields:
            if field.many_to_one and field.name not in exclude and field.is_cached(self):
                related = field.get_cached_value(self)
                if related is not None and not related._state.adding and related.pk == getattr(self, field.attname):
                    exclude.add(field.name)
        super().clean_fields(exclude=exclude)

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
