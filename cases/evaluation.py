"""Scoring proposals (cases/extraction.py) against a curated case document: precision and recall per kind.

Pure functions, no Django. A document is the API's case document (GET /api/v1/cases/{id}/) or the same shape
built from the fixtures (`fixture_documents`). What counts as the same fact:
- age and sex: the value;
- lab: analyte, value(s) (low, high, comparator), unit and reference range (the source's word is not compared);
- agent: the agent code (rows the curator left without an agent cannot be matched and are left out);
- metastasis: site and presence;
- finding: the HPO id (rows without one are left out).
Facts are compared as sets per document: a fact the text repeats (a drug named in the case and again in the
discussion) counts once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("age", "sex", "lab", "agent", "metastasis", "finding")


def _number(value) -> float | None:
    return None if value in (None, "") else round(float(value), 4)


def _lab_key(row: dict) -> tuple:
    return (
        row.get("analyte"),
        row.get("comparator") or "",
        _number(row.get("value")),
        _number(row.get("value_high")),
        row.get("unit") or "",
        _number(row.get("ref_low")),
        _number(row.get("ref_high")),
    )


def document_facts(document: dict) -> dict[str, set]:
    patient = document.get("patient") or {}
    return {
        "age": {patient["age_years"]} if patient.get("age_years") is not None else set(),
        "sex": {patient["sex"]} if patient.get("sex") not in (None, "", "unknown") else set(),
        "lab": {_lab_key(r) for r in document.get("labs", [])},
        "agent": {r["agent"] for r in document.get("interventions", []) if r.get("agent")},
        "metastasis": {(r["site"], bool(r.get("present", True))) for r in document.get("metastases", [])},
        "finding": {r["hpo_id"] for r in document.get("findings", []) if r.get("hpo_id")},
    }


def proposal_facts(proposals: list[dict]) -> dict[str, set]:
    facts: dict[str, set] = {kind: set() for kind in KINDS}
    for p in proposals:
        f = p["fields"]
        if p["kind"] == "patient":
            if "age_years" in f:
                facts["age"].add(f["age_years"])
            if "sex" in f:
                facts["sex"].add(f["sex"])
        elif p["kind"] == "lab":
            facts["lab"].add(_lab_key(f))
        elif p["kind"] == "intervention" and f.get("agent"):
            facts["agent"].add(f["agent"])
        elif p["kind"] == "metastasis":
            facts["metastasis"].add((f["site"], f["present"]))
        elif p["kind"] == "finding" and f.get("hpo_id"):
            facts["finding"].add(f["hpo_id"])
    return facts


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    missed: list = field(default_factory=list)
    extra: list = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else None


@dataclass
class Evaluation:
    scores: dict[str, Score]
    absent_metastases: int = 0
    absent_metastases_found: int = 0

    def as_dict(self) -> dict:
        return {
            "kinds": {
                kind: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "true_positives": s.true_positives,
                    "false_positives": s.false_positives,
                    "false_negatives": s.false_negatives,
                    "missed": [repr(m) for m in s.missed],
                    "extra": [repr(e) for e in s.extra],
                }
                for kind, s in self.scores.items()
            },
            "absent_metastases": self.absent_metastases,
            "absent_metastases_found_absent": self.absent_metastases_found,
        }


def evaluate(pairs: list[tuple[str, list[dict], dict]]) -> Evaluation:
    """Micro-averaged over (name, proposals, document) pairs."""
    scores = {kind: Score() for kind in KINDS}
    evaluation = Evaluation(scores)
    for name, proposals, document in pairs:
        expected, found = document_facts(document), proposal_facts(proposals)
        for kind in KINDS:
            s = scores[kind]
            s.true_positives += len(expected[kind] & found[kind])
            s.false_positives += len(found[kind] - expected[kind])
            s.false_negatives += len(expected[kind] - found[kind])
            s.missed += [(name, m) for m in sorted(expected[kind] - found[kind], key=repr)]
            s.extra += [(name, e) for e in sorted(found[kind] - expected[kind], key=repr)]
        absent = {m for m in expected["metastasis"] if not m[1]}
        evaluation.absent_metastases += len(absent)
        evaluation.absent_metastases_found += len(absent & found["metastasis"])
    return evaluation


def fixture_documents(path: Path) -> dict[int, dict]:
    """Case documents (the API's shape, the fields compared here) built from a fixture file, by source id."""
    objects = json.loads(Path(path).read_text(encoding="utf-8"))
    cases = {o["pk"]: o["fields"] for o in objects if o["model"] == "cases.case"}
    documents = {
        c["source"]: {
            "patient": {"age_years": c.get("age_years"), "sex": c.get("sex")},
            "labs": [],
            "interventions": [],
            "metastases": [],
            "findings": [],
        }
        for c in cases.values()
    }
    of_case = {pk: documents[c["source"]] for pk, c in cases.items()}
    lists = {
        "cases.labresult": "labs",
        "cases.intervention": "interventions",
        "cases.metastasis": "metastases",
        "cases.finding": "findings",
    }
    for o in objects:
        if o["model"] in lists:
            row = dict(o["fields"])
            if o["model"] == "cases.intervention":
                row["agent"] = row["agent"][0] if row.get("agent") else None
            of_case[row["case"]][lists[o["model"]]].append(row)
    return documents
