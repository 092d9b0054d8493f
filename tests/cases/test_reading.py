"""The read path (cases.reading, issue 16) gives exactly the serializers' document (cases.document): the same keys
in the same order with the same values and JSON types, for the seed cases and synthetic cases with every kind of
row and its edges, through the list's and the detail's query options. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from rest_framework.renderers import JSONRenderer

from cases import reading
from cases.document import CaseSerializer
from cases.models import Agent, Case
from cases.rows import ROWS
from tests.api.documents import make_document
from tests.api.test_episodes import two_episode_document
from tests.factories import make_case, make_intervention, make_lab

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def serialized(cases) -> list[dict]:
    """What the serializer gives, rendered and read back as JSON (key order and number types kept)."""
    data = CaseSerializer(Case.objects.filter(pk__in=[c.pk for c in cases]).with_children(), many=True).data
    return json.loads(JSONRenderer().render(data))


def rendered(cases, keys=None) -> list[dict]:
    rows = list(reading.case_rows(Case.objects.filter(pk__in=[c.pk for c in cases]), keys))
    return json.loads(JSONRenderer().render(reading.render(rows, keys)))


def same(a, b) -> None:
    """Equal as JSON text: a missing or extra key, another order, 14 for 14.0 all fail."""
    assert json.dumps(a, indent=1) == json.dumps(b, indent=1)


def every_edge(curator) -> list[Case]:
    """Cases with every kind of row and its edges, written through the API (derived block stored)."""
    agent = Agent.objects.create(code="test_drug", name="Test drug", category="drug", drug_class="test", atc_code="")
    doc = make_document(
        patient={"age_years": 93, "sex": "female", "menopausal_status": "postmenopausal"},
        mechanisms=[
            {"rank": 1, "code": "humoral_pthrp", "certainty": "confirmed", "evidence": "PTHrP high"},
            {"rank": 2, "code": "drug_related", "certainty": "possible", "suspect_agent": "test_drug"},
        ],
        tumors=[
            {"site": "breast", "hormone_receptor": "positive", "her2": "negative", "size_mm": 23.5, "sequence": 1},
            {"site": "lung", "sequence": 1, "day": -30, "day_is_approximate": True},
        ],
        interventions=[
            {
                "category": "drug",
                "agent": "test_drug",
                "agent_text": "test drug",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "day": 0,
                "dose_value": 4.0,
                "dose_unit": "mg",
                "dose_steps": [
                    {"dose_text": "10 units once daily", "value": 10, "unit": "unit", "day": 3},
                    {"dose_text": "raised", "timing_text": "a week later", "day": 10, "day_is_approximate": True},
                ],
            },
            {
                "category": "supportive_care",
                "agent_text": "IV fluids",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3,
                "anchor_intervention_index": 0,
                "anchor_offset_days": 2,
                "anchor_offset_is_approximate": True,
            },
        ],
        findings=[
            {"label": "Lethargy", "hpo_id": "HP:0001254", "sequence": 2, "day": 0},
            {"label": "Tetany", "sequence": 6, "anchor_intervention_index": 1, "anchor_offset_days": 3},
        ],
        labs=[
            {"analyte": "calcium_total", "comparator": ">", "value": 15, "unit": "mg/dL", "sequence": 2, "day": 1},
            {"analyte": "calcium_total", "value": 3.0, "unit": "mmol/L", "value_is_approximate": True, "sequence": 2},
            {"analyte": "calcium_total", "value": 12, "value_high": 13.5, "unit": "mg/dL", "sequence": 2},
            {"analyte": "calcium_total", "value": 11.2, "unit_not_reported": True, "ref_high": 10.2, "sequence": 2},
            {
                "analyte": "calcium_total",
                "qualitative": "normal",
                "sequence": 5,
                "follows_intervention_indexes": [0, 1],
            },
            {
                "analyte": "calcium_ionized",
                "value": 1.1,
                "unit": "mmol/L",
                "sequence": 5,
                "day": 9,
                "follows_intervention_index": 1,
            },
            {
                "analyte": "albumin",
                "value": 2.0,
                "unit": "g/dL",
                "sequence": 2,
                "notes": "low",
                "anchor_intervention_index": 0,
                "anchor_offset_days": 1,
            },
        ],  # fmt: skip
    )
    made = curator.post(CASES, doc, format="json")
    assert made.status_code == 201, made.content[:2000]
    plain = curator.post(CASES, make_document(), format="json")
    assert plain.status_code == 201
    bare = curator.post(CASES, make_document(tumors=[], labs=[], interventions=[], findings=[]), format="json")
    assert bare.status_code == 201, bare.content[:2000]
    # two episodes (issue 13): each lists its mechanisms, the top-level mechanisms are the first's
    episodes = curator.post(CASES, two_episode_document(), format="json")
    assert episodes.status_code == 201, episodes.content[:2000]
    del agent
    return list(Case.objects.order_by("pk"))


def without_stored_derived() -> list[Case]:
    """Cases no write has stored a derived block for (made by the factories): computed on reading."""
    case = make_case(status="published")
    given = make_intervention(case, sequence=1, day=0)
    make_lab(case, follows_intervention=given)
    make_lab(case, sequence=2, value=None, unit="", qualitative="high")
    return [case, make_case()]


def test_the_read_path_gives_the_serializers_document_for_every_edge(curator):
    cases = [*every_edge(curator), *without_stored_derived()]
    assert Case.objects.filter(derived_json__isnull=True).exists()  # both ways of reading the derived block
    # Every kind of row (cases.rows) and every kind of row entered with one is exercised: a new kind fails here
    # until it is added to every_edge.
    for relation, kind in ROWS.items():
        assert kind.model.objects.exists(), f"no {relation} in the synthetic cases"
        for nested in kind.nested:
            assert kind.model._meta.get_field(nested).related_model.objects.exists(), f"no {nested}"
    same(rendered(cases), serialized(cases))


def test_the_read_path_gives_the_serializers_document_for_the_seed_cases(source_cases):
    cases = list(Case.objects.all())
    assert len(cases) >= 3
    same(rendered(cases), serialized(cases))


@pytest.mark.parametrize(
    "keys",
    [
        ["id"],
        ["labs", "id"],
        ["derived"],
        ["patient", "outcome", "source", "interventions"],
        ["mechanisms"],
        ["episodes", "id"],
        None,
    ],
)
def test_sparse_fieldsets_give_the_same_keys_in_the_order_asked(curator, keys):
    cases = [*every_edge(curator), *without_stored_derived()]
    expected = serialized(cases)
    if keys is not None:
        expected = [{key: document[key] for key in keys} for document in expected]
    same(rendered(cases, keys), expected)


def test_every_key_of_the_serializer_is_read(db):
    readable = [name for name, f in CaseSerializer().fields.items() if not f.write_only]
    assert reading.readable_keys() == readable


def test_the_list_and_the_detail_answer_with_the_serializers_documents(curator):
    cases = [*every_edge(curator), *without_stored_derived()]
    Case.objects.filter(pk=cases[-1].pk).update(status="published")
    expected = {document["id"]: document for document in serialized(cases)}

    def check(path, params=None):
        body = curator.get(path, params).json()
        fields = (params or {}).get("fields")
        for document in body["results"] if "results" in body else [body]:
            want = expected[document["id"]]
            if fields:
                want = {key: want[key] for key in fields.split(",")}
            same(document, want)
        return body

    listed = check(CASES, {"page_size": 100})
    assert len(listed["results"]) == len(cases)
    check(CASES, {"page_size": 2, "page": 2})
    check(CASES, {"ordering": "-updated_at"})
    check(CASES, {"ordering": "age_years"})
    check(CASES, {"status": "published"})
    check(CASES, {"cursor": 0, "page_size": 2, "fields": "id,labs,derived"})
    check(CASES, {"fields": "id,derived,patient"})
    for case in cases:
        check(f"{CASES}{case.registry_id}/")
        check(f"{CASES}{case.registry_id}/", {"fields": "id,interventions,status"})


def test_a_serializer_field_the_reader_cannot_read_fails_loudly(db):
    """A key added to the document as a method field or a property (an episode's index, say) is not guessed: the
    reader refuses to build until cases.reading._computed says how it is read."""
    from rest_framework import serializers

    from cases.document import LabResultSerializer
    from cases.models import LabResult

    class WithAMethod(LabResultSerializer):
        episode_index = serializers.SerializerMethodField()

        class Meta(LabResultSerializer.Meta):
            fields = [*LabResultSerializer.Meta.fields, "episode_index"]

    with pytest.raises(LookupError, match="WithAMethod.episode_index"):
        reading._plan(WithAMethod(), LabResult, reading._computed())


def test_fields_names_only_keys_a_document_has(curator):
    case = make_case()
    for path in (CASES, f"{CASES}{case.registry_id}/"):
        response = curator.get(path, {"fields": "id,source_id"})  # write-only: not in a document (was a 500)
        assert response.status_code == 400
        assert "source_id" in response.json()["errors"][0]["reason"]
