"""Case documents for reading, without DRF's per-field machinery (issue 16: the read path at 100,000 cases).

The document's shape stays the serializers' (cases.document): its keys, their order and their values. What is
read here is built once, from those serializers' own fields, into plain per-row-kind functions working on
`.values()` dicts (no model instances, no per-field `get_attribute`). Writes, validation and the OpenAPI schema
stay with the serializers; tests/cases/test_reading.py holds the two outputs equal.

How a field is read follows from the serializer field:
- a model column (or a column across a foreign key, `agent.name`): the value, converted only where the
  serializer's field would change it (a date-time to text, a decimal to a JSON number);
- a `many=True` serializer of a row kind (cases.rows) or of rows entered with a row (an intervention's dose steps):
  those rows, fetched once per page by case (or by parent row) in their model's order;
- a nested serializer over the same row (`source="*"`: patient, outcome) or over a foreign key (source): its
  fields, read the same way;
- anything else (a SerializerMethodField, a model property, an index the serializer adds in to_representation)
  must be named in _computed() below, or building the reader fails: a field added to a serializer is never
  silently missing or wrong here.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import models
from rest_framework import serializers
from rest_framework.relations import SlugRelatedField

from cases import measures
from cases.derived import derived_document, number
from cases.models import Case, LabResult, as_prefetched, registry_id
from cases.rows import ROWS
from cases.vocabularies import DISORDER_HPO, RECEPTOR_LOINC


class Row(dict):
    """A `.values()` row that the model's own computations (LabResult.in_unit, ...) can read as attributes."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Context:
    """What a page of documents shares: rows by relation and parent id, interventions' positions in their case."""

    children: dict[str, dict[int, list[Row]]] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    intervention_index: dict[int, int] = field(default_factory=dict)
    # A lab's conversions and interpretation by its measured values (a page repeats many). Per page, not per process:
    # they follow the analyte table, which curators edit.
    lab_measures: dict[tuple, tuple] = field(default_factory=dict)


# --- fields the serializers compute: (serializer class, field) -> (columns they read, function(row, context)) ----


def _in_unit(row: Row, target: str) -> dict | None:
    converted = LabResult.in_unit(row, target)
    return None if converted is None else {**{k: number(v) for k, v in converted.items()}, "unit": target}


def _lab_measures(analyte, unit, value, value_high, comparator, qualitative, ref_low, ref_high, specimen) -> tuple:
    """A lab's conversions and interpretation: the model's own (LabResult.loinc, in_unit, interpretation), as
    LabResultSerializer gives them."""
    row = Row(
        analyte=analyte,
        unit=unit,
        value=value,
        value_high=value_high,
        comparator=comparator,
        qualitative=qualitative,
        ref_low=ref_low,
        ref_high=ref_high,
        specimen=specimen,
    )
    a = measures.analyte(analyte)
    i = LabResult.interpretation(row)
    return (
        LabResult.loinc.fget(row),
        _in_unit(row, a.si_unit),
        _in_unit(row, a.conventional_unit),
        {
            "flag": i.flag,
            "basis": i.basis,
            "ref_low": number(i.ref_low),
            "ref_high": number(i.ref_high),
            "note": i.note,
        },
    )


LAB_MEASURE_COLUMNS = (
    "analyte",
    "unit",
    "value",
    "value_high",
    "comparator",
    "qualitative",
    "ref_low",
    "ref_high",
    "specimen",
)


def _lab(part: int) -> Callable:
    def get(row: Row, context: Context):
        found = row.get(_LAB_MEASURES)
        if found is None:
            measured = tuple(map(row.__getitem__, LAB_MEASURE_COLUMNS))
            found = context.lab_measures.get(measured)
            if found is None:
                found = context.lab_measures[measured] = _lab_measures(*measured)
            row[_LAB_MEASURES] = found
        return found[part]

    return get


_LAB_MEASURES = "\0lab measures"  # a key no column has


def _follows(row: Row, context: Context) -> list[int]:
    index = context.intervention_index
    links = context.children["follow_links"].get(row["id"], ())
    return sorted(index[link["intervention_id"]] for link in links if link["intervention_id"] in index)


def _instance(model: type[models.Model], row: Row, context: Context, nested: tuple[str, ...] = ()) -> models.Model:
    obj = model(**{name: row[name] for name in _all_columns(model)})
    obj._state.adding, obj._state.db = False, "default"
    obj._prefetched_objects_cache = {
        relation: as_prefetched(obj, relation, [_instance(_model_of(relation), r, context) for r in rows])
        for relation in nested
        for rows in [context.children[relation].get(row["id"], [])]
    }
    return obj


def _model_of(relation: str) -> type[models.Model]:
    if relation in ROWS:
        return ROWS[relation].model
    for kind in ROWS.values():
        if relation in kind.nested:
            return kind.model._meta.get_field(relation).related_model
    raise LookupError(relation)


def _case_instance(row: Row, context: Context) -> Case:
    """The case as a model instance with its rows "prefetched" from the page's rows: for the few computations
    that need one (the derived block of a case none is stored for), without a query."""
    case = _instance(Case, row, context)
    for relation, kind in ROWS.items():
        rows = context.children[relation].get(row["id"], [])
        instances = [_instance(kind.model, r, context, kind.nested) for r in rows]
        case._prefetched_objects_cache[relation] = as_prefetched(case, relation, instances)
    return case


def _derived(row: Row, context: Context) -> dict:
    # Stored at write time (Case.compute_derived); computed for a case none is stored for yet (CaseSerializer).
    if row["derived_json"] is not None:
        return row["derived_json"]
    return derived_document(_case_instance(row, context))


@dataclass(frozen=True)
class Computed:
    columns: tuple[str, ...]
    get: Callable[[Row, Context], object]
    # The serializer skips the field (no such attribute) and its to_representation adds the key after the others.
    last: bool = False


def _computed() -> dict[tuple[str, str], Computed]:
    return {
        ("CaseSerializer", "id"): Computed(("id",), lambda row, c: registry_id(row["id"])),
        ("CaseSerializer", "disorder_hpo"): Computed(("disorder",), lambda row, c: DISORDER_HPO.get(row["disorder"])),
        ("EpisodeSerializer", "disorder_hpo"): Computed(
            ("disorder",), lambda row, c: DISORDER_HPO.get(row["disorder"])
        ),
        ("CaseSerializer", "derived"): Computed(("derived_json",), _derived),
        ("PatientSerializer", "age_90_or_over"): Computed(
            ("age_years",), lambda row, c: Case.age_is_90_or_over.fget(row)
        ),
        ("TumorSerializer", "receptor_loinc"): Computed((), lambda row, c: RECEPTOR_LOINC),
        ("AnchoredRowSerializer", "anchor_intervention_index"): Computed(
            ("anchor_id",), lambda row, c: c.intervention_index.get(row["anchor_id"])
        ),
        ("LabResultSerializer", "loinc"): Computed(LAB_MEASURE_COLUMNS, _lab(0)),
        ("LabResultSerializer", "si"): Computed(LAB_MEASURE_COLUMNS, _lab(1)),
        ("LabResultSerializer", "conventional"): Computed(LAB_MEASURE_COLUMNS, _lab(2)),
        ("LabResultSerializer", "interpretation"): Computed(LAB_MEASURE_COLUMNS, _lab(3)),
        ("LabResultSerializer", "follows_intervention_index"): Computed(
            ("id",), lambda row, c: next(iter(_follows(row, c)), None)
        ),
        ("LabResultSerializer", "follows_intervention_indexes"): Computed(("id",), _follows, last=True),
    }


def _find_computed(serializer, name: str, computed: dict) -> Computed | None:
    for cls in type(serializer).__mro__:
        if (cls.__name__, name) in computed:
            return computed[cls.__name__, name]
    return None


# --- plans: one per serializer, built once -------------------------------------------------------------------

# Serializer fields whose to_representation returns a column's value as it comes from the database.
AS_STORED = (serializers.CharField, serializers.ChoiceField, serializers.IntegerField, serializers.BooleanField)


def _column(model: type[models.Model], attrs: list[str]) -> str | None:
    """The `.values()` path of a source like ["agent", "name"], or None when it is not a column (a property, or
    the whole object: a method field's source "*")."""
    if not attrs:
        return None
    path = []
    for n, attr in enumerate(attrs):
        try:
            f = model._meta.get_field(attr)
        except Exception:
            return None
        if f.is_relation and n < len(attrs) - 1:
            model = f.related_model
            path.append(f.name)
            continue
        if not f.concrete or f.many_to_many or f.one_to_many:
            return None
        if n != len(attrs) - 1:
            return None
        path.append(f.attname)
    return "__".join(path)


@dataclass
class Plan:
    """How one serializer's output is read from a row: the columns to fetch and the steps, in the key order."""

    model: type[models.Model]
    columns: list[str]
    # (key, column or None, function(row, context) or None, convert or None)
    steps: list[tuple]
    # relation -> (plan of the child rows, the foreign key on them naming the parent)
    many: dict[str, tuple[Plan, str]]

    def render(self, row: Row, context: Context, steps: list[tuple] | None = None) -> dict:
        if steps is None:
            if self._compiled is None:
                self._compiled = _compile(self.steps)
            return self._compiled(row, context)
        out = {}
        for key, column, get, convert in steps:
            if get is not None:
                out[key] = get(row, context)
            else:
                value = row[column]
                out[key] = value if convert is None or value is None else convert(value)
        return out

    _compiled: Callable | None = None


def _compile(steps: list[tuple]) -> Callable[[Row, Context], dict]:
    """The steps as one function returning a dict literal (what the loop in Plan.render does, a few times faster:
    ~1,500 rows a page). Keys and columns go in as literals (repr), functions by name."""
    names: dict[str, object] = {}
    items = []
    for n, (key, column, get, convert) in enumerate(steps):
        if get is not None:
            names[f"get{n}"] = get
            items.append(f"{key!r}: get{n}(row, context)")
        elif convert is None:
            items.append(f"{key!r}: row[{column!r}]")
        else:
            names[f"convert{n}"] = convert
            items.append(f"{key!r}: None if (v{n} := row[{column!r}]) is None else convert{n}(v{n})")
    source = "def render(row, context):\n    return {\n" + "".join(f"        {item},\n" for item in items) + "    }\n"
    exec(source, names)  # noqa: S102 (built from the serializers' field names, not from input)
    return names["render"]


def _plan(serializer: serializers.Serializer, model: type[models.Model], computed: dict, prefix: str = "") -> Plan:
    from cases.document import DecimalNumberField

    plan, last = Plan(model, [], [], {}), []
    for key, f in serializer.fields.items():
        if f.write_only:
            continue
        found = _find_computed(serializer, key, computed)
        if found is not None:
            plan.columns.extend(prefix + c for c in found.columns)
            get = found.get
            if prefix:  # a nested serializer over a foreign key: its row is the same dict, its columns prefixed
                get = functools.partial(_prefixed, found.get, prefix)
            (last if found.last else plan.steps).append((key, None, get, None))
            continue
        if isinstance(f, serializers.ListSerializer) and isinstance(f.child, serializers.ModelSerializer):
            child_model = f.child.Meta.model
            relation, rows_key = f.source, f.source
            if relation not in {field.name for field in model._meta.get_fields()}:
                # A property over rows loaded with the case (an episode's mechanisms: Episode.mechanism_rows):
                # the relation of the key's name, its rows grouped by this row in render().
                relation, rows_key = key, f"{model.__name__}.{key}"
            remote = model._meta.get_field(relation).remote_field  # the child's foreign key to this row
            child = _plan(f.child, child_model, computed)
            child.columns.append(remote.attname)
            plan.many[relation] = (child, remote.attname)
            plan.columns.append(prefix + "id")
            plan.steps.append((key, None, _children(relation, rows_key), None))
            continue
        if isinstance(f, serializers.Serializer):
            if f.source == "*":
                nested = _plan(f, model, computed, prefix)
                plan.columns.extend(nested.columns)
                plan.steps.append((key, None, functools.partial(_nested, nested, None), None))
            else:
                fk = model._meta.get_field(f.source)
                nested = _plan(f, fk.related_model, computed, f"{prefix}{fk.name}__")
                plan.columns.extend(nested.columns)
                plan.columns.append(prefix + fk.attname)
                plan.steps.append((key, None, functools.partial(_nested, nested, prefix + fk.attname), None))
            continue
        if isinstance(f, SlugRelatedField):
            column = _column(model, [*f.source_attrs, f.slug_field])
        else:
            column = _column(model, f.source_attrs)
        if column is None:
            raise LookupError(
                f"{type(serializer).__name__}.{key} is not a column of {model.__name__}: say in "
                "cases.reading._computed how it is read."
            )
        column = prefix + column
        if type(f) in AS_STORED or isinstance(f, SlugRelatedField):
            convert = None  # the value as stored (a slug's column is the slug)
        elif type(f) is DecimalNumberField:
            convert = number  # its to_representation, without the call through the field
        else:
            convert = f.to_representation  # a date-time, a decimal without DecimalNumberField, ...
        plan.columns.append(column)
        plan.steps.append((key, column, None, convert))
    plan.steps.extend(last)
    plan.columns = list(dict.fromkeys(plan.columns))
    return plan


def _prefixed(get, prefix: str, row: Row, context: Context):
    return get(Row({k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix)}), context)


def _nested(plan: Plan, fk: str | None, row: Row, context: Context):
    if fk is not None and row[fk] is None:
        return None
    return plan.render(row, context)


def _children(relation: str, rows_key: str | None = None) -> Callable:
    def get(row: Row, context: Context) -> list[dict]:
        plan = context.plans[relation]
        return [plan.render(child, context) for child in context.children[rows_key or relation].get(row["id"], ())]

    return get


@functools.cache
def case_plan() -> Plan:
    from cases.document import CaseSerializer  # the serializers import services; this module is imported by views

    plan = _plan(CaseSerializer(), Case, _computed())
    missing = set(ROWS) - set(plan.many)
    if missing:
        raise LookupError(f"Row kinds {sorted(missing)} are not in the case document (CaseSerializer).")
    # The top-level mechanisms are the first episode's (CaseSerializer.to_representation), all of them without one.
    plan.steps = [
        ("mechanisms", None, _children("mechanisms", FIRST_EPISODE_MECHANISMS), None)
        if step[0] == "mechanisms"
        else step
        for step in plan.steps
    ]
    return plan


FIRST_EPISODE_MECHANISMS = "first episode's mechanisms"


def readable_keys() -> list[str]:
    """The top-level keys a document has (what `fields=` may name), in its order."""
    return [step[0] for step in case_plan().steps]


# --- fetching a page ------------------------------------------------------------------------------------------


def _all_columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _fetch(model, columns, **condition) -> list[Row]:
    names = list(dict.fromkeys(columns))
    found = model._default_manager.filter(**condition).values_list(*names)
    return [Row(zip(names, values, strict=True)) for values in found]


def case_rows(cases: models.QuerySet, keys: Iterable[str] | None = None) -> models.QuerySet:
    """The cases as `.values()` dicts with every column the documents' `keys` (all by default) need: what the
    page is cut from."""
    plan = case_plan()
    # Every column of the case itself: the derived block of a case none is stored for is computed from them.
    # (`keys` leave out no column: a few short ones, and the derived block only when asked for.)
    columns = [*_all_columns(Case), *plan.columns]
    if keys is not None and "derived" not in keys:
        columns = [c for c in columns if c != "derived_json"]
    return cases.values(*dict.fromkeys(columns))


def render(rows: list[dict], keys: list[str] | None = None) -> list[dict]:
    """The documents of the cases `rows` (from case_rows, in the page's order), with only `keys` (in that order)
    when given: one query per kind of row the keys need and one per kind of row entered with them (none when
    there are no such parent rows), none for the others."""
    plan = case_plan()
    rows = [r if isinstance(r, Row) else Row(r) for r in rows]
    wanted = [relation for relation in plan.many if keys is None or relation in keys]
    if keys is not None and "derived" in keys and any(r["derived_json"] is None for r in rows):
        wanted = list(plan.many)  # the derived block of a case none is stored for is computed from every row
    if wanted and "interventions" not in wanted:  # rows name interventions by their position in the case
        wanted.insert(0, "interventions")
    # Episodes list their mechanisms, and the top-level mechanisms are the first episode's: either needs both.
    if "episodes" in wanted or "mechanisms" in wanted:
        wanted += [relation for relation in ("episodes", "mechanisms") if relation not in wanted]
    context = Context()
    ids = [r["id"] for r in rows]
    for relation in wanted:
        kind = ROWS[relation]
        child, fk = plan.many[relation]
        context.plans[relation] = child
        fetched = _fetch(kind.model, [*_all_columns(kind.model), *child.columns], **{f"{fk}__in": ids}) if ids else []
        context.children[relation] = _by(fetched, fk)
        if relation == "interventions":
            for siblings in context.children[relation].values():
                context.intervention_index.update((r["id"], n) for n, r in enumerate(siblings))
        parent_ids = [r["id"] for r in fetched]
        for nested in kind.loaded_with_case:
            context.plans[nested] = child.many[nested][0]
        for nested in set(kind.nested) - set(kind.loaded_with_case):
            remote = kind.model._meta.get_field(nested).remote_field  # the nested rows' foreign key to the row
            nested_plan = child.many[nested][0] if nested in child.many else None
            if nested_plan is not None:
                context.plans[nested] = nested_plan
            columns = [*_all_columns(remote.model), *(nested_plan.columns if nested_plan else ())]
            # By the case when the nested rows name it (a lab's links, dose steps): a short list of ids to send.
            by_case = {f"{fk}__in": ids} if any(f.attname == fk for f in remote.model._meta.concrete_fields) else None
            condition = by_case or {f"{remote.attname}__in": parent_ids}
            found = _fetch(remote.model, columns, **condition) if parent_ids else []
            context.children[nested] = _by(found, remote.attname)
    if "mechanisms" in context.children:
        _group_mechanisms_by_episode(context)
    if keys is None:
        return [plan.render(r, context) for r in rows]
    steps = {step[0]: step for step in plan.steps}
    steps = [steps[key] for key in keys]
    return [plan.render(r, context, steps) for r in rows]


def _by(rows: list[Row], fk: str) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[fk]].append(row)
    return grouped


def _group_mechanisms_by_episode(context: Context) -> None:
    """Each episode's mechanisms, and each case's top-level ones (its first episode's; all without episodes), from
    the case's mechanisms fetched once (RowKind.loaded_with_case)."""
    mechanisms = context.children["mechanisms"]
    context.children["Episode.mechanisms"] = _by([m for rows in mechanisms.values() for m in rows], "episode_id")
    first = {case: rows[0]["id"] for case, rows in context.children["episodes"].items() if rows}
    context.children[FIRST_EPISODE_MECHANISMS] = {
        case: [m for m in rows if m["episode_id"] == first[case]] if case in first else rows
        for case, rows in mechanisms.items()
    }
