"""Valid case documents for API tests, and clients in each role."""

from __future__ import annotations

import copy

from rest_framework.test import APIClient

from cases.models import Source
from tests.factories import make_user

BASE_DOCUMENT = {
    "title": "PTHrP-mediated hypercalcemia, test case",
    "disorder": "hypercalcemia",
    "index_event": "presentation with lethargy",
    "patient": {"age_years": 67, "sex": "female"},
    "tumors": [{"site": "breast", "hormone_receptor": "positive", "her2": "negative", "sequence": 1}],
    "metastases": [
        {"site": "liver", "present": True, "detail": "both lobes", "sequence": 1},
        {"site": "bone", "present": False, "sequence": 1},
    ],
    "mechanisms": [{"rank": 1, "code": "humoral_pthrp", "certainty": "confirmed", "evidence": "PTHrP high"}],
    "findings": [{"label": "Lethargy", "hpo_id": "HP:0001254", "sequence": 2, "day": 0}],
    "interventions": [
        {
            "category": "supportive_care",
            "agent_text": "IV fluids",
            "intent": "calcium_directed",
            "status": "administered",
            "sequence": 3,
            "day": 0,
            "calcium_response": "normalised",
        },
    ],
    "labs": [
        {
            "analyte": "calcium_total",
            "value": 14.0,
            "unit": "mg/dL",
            "ref_low": 8.9,
            "ref_high": 10.1,
            "sequence": 2,
            "day": 0,
            "quote": "calcium 14 mg/dL",
        },
        {
            "analyte": "calcium_total",
            "value": 9.5,
            "unit": "mg/dL",
            "ref_low": 8.9,
            "ref_high": 10.1,
            "sequence": 4,
            "day": 5,
            "follows_intervention_index": 0,
        },
    ],
    "outcome": {"vital_status": "alive", "calcium_outcome": "normalised"},
}


def make_document(source: Source | None = None, **overrides) -> dict:
    """A whole, valid case document; top-level keys in overrides replace the base's."""
    if source is None:
        source = Source.objects.create(kind="case_report", citation="Doe J. Test. 2020.", title="Test", year=2020)
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc["source_id"] = source.pk
    doc.update(copy.deepcopy(overrides))
    return doc


def client_for(role: str | None, username: str | None = None) -> APIClient:
    """An API client logged in (session) as a new user in this role; role None = superuser-less, no group."""
    client = APIClient()
    user = make_user(username or f"{role or 'nobody'}-user", role)
    client.force_authenticate(user)
    client.user = user
    return client
