"""Importing case documents (the admin's Import JSON): all or nothing, every problem named, never a crash."""

import pytest

from cases.document import ImportFailed, export_documents, import_cases
from cases.models import Case, Source
from tests.api.documents import make_document
from tests.factories import make_agent, make_user
from tests.queries import queries_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def importer():
    return make_user("importer", "curator")


def import_errors(documents, user) -> list[str]:
    with pytest.raises(ImportFailed) as raised:
        import_cases(documents, user=user)
    return raised.value.errors


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        ([{"labs": ["oops"]}], "case 1: labs[0]: expected an object, not str."),
        ([{"title": "T", "labs": "oops"}], "case 1 (T): labs: expected a list of objects, not str."),
        ([{"tumors": 5}], "case 1: tumors: expected a list of objects, not int."),
        ([{"interventions": {"agent": "x"}}], "case 1: interventions: expected a list of objects, not dict."),
        (["x"], "case 1: not a JSON object"),
        ([{"source": 5}], "case 1: source: give source_id or the exported source object."),
        ({"not": "a list"}, "case 1: source: give source_id or the exported source object."),
        ([{"source": {"doi": ["10.1/x"]}}], "case 1: source.doi: expected a string."),
        ([{"source": {"title": {"a": 1}}}], "case 1: source.title: expected a string."),
        ("a string", "Expected a case document or a non-empty list of them."),
        ([], "Expected a case document or a non-empty list of them."),
    ],
)
def test_a_malformed_document_is_reported_not_a_crash(importer, documents, expected):
    assert expected in import_errors(documents, importer)
    assert (Case.objects.count(), Source.objects.count()) == (0, 0)


def test_every_document_is_named_with_its_problems_and_nothing_is_imported(importer):
    good = make_document()
    errors = import_errors([good, {"title": "Second", "labs": [1, {}]}, 7], importer)
    assert errors == [
        "case 2 (Second): labs[0]: expected an object, not int.",
        "case 3: not a JSON object",
    ]
    assert Case.objects.count() == 0


def test_a_missing_source_is_reported_once(importer):
    errors = import_errors([{"title": "T", "disorder": "hypercalcemia"}], importer)
    assert errors == ["case 1 (T): source: give source_id or the exported source object."]


def test_exported_documents_import_as_new_drafts(importer):
    source = Source.objects.create(kind="case_report", citation="c", title="t", doi="10.1000/abc")
    original = import_cases([make_document(source)], user=importer)[0]
    exported = export_documents(Case.objects.filter(pk=original.pk))
    copies = import_cases([{**exported[0], "confirm": ["duplicate"]}], user=importer)  # the same case, on purpose
    assert [c.status for c in copies] == ["draft"]
    assert copies[0].source_id == source.pk  # matched by DOI, not created again
    assert copies[0].labs.count() == original.labs.count() == 2


def test_the_agents_of_every_document_are_looked_up_in_one_query(importer):
    """Issue 16: an import names its documents' agents by code; they are read together, once, not per row (nor
    looked up again by each row's validation); an unknown code is still refused, naming the row."""
    make_agent()
    make_agent(code="other_drug", name="Other drug")
    source = Source.objects.create(kind="case_report", citation="Doe J. Test. 2020.", title="Test", year=2020)
    drug = {"category": "drug", "agent_text": "x", "intent": "calcium_directed", "status": "administered"}
    documents = [
        make_document(
            source, title=f"Case {n}", interventions=[{**drug, "agent": code, "sequence": 3} for code in pair]
        )
        for n, pair in enumerate([("test_drug", "other_drug"), ("other_drug",), ("test_drug",)])
    ]
    for document in documents:
        document["confirm"] = ["duplicate"]
    cases, sql = queries_of(lambda: import_cases(documents, user=importer))
    assert [[i.agent.code for i in c.interventions.all()] for c in cases] == [
        ["test_drug", "other_drug"],
        ["other_drug"],
        ["test_drug"],
    ]
    assert len([q for q in sql if 'FROM "cases_agent"' in q]) == 1
    documents[2]["interventions"][0]["agent"] = "no_such_drug"
    errors = import_errors(documents, importer)
    assert any(e.startswith("case 3 (Case 2): interventions[0].agent:") for e in errors), errors
