"""Issue 13, point 1: a case holds one or more calcium-disorder episodes in order (a calcitriol-mediated
hypercalcemia treated with an antiresorptive, then an iatrogenic hypocalcemia). Synthetic cases only. `episodes` is
the document's full form; `disorder`, `mechanisms` and `outcome.calcium_outcome` are the first episode's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import Case, Episode, Mechanism
from tests.api.documents import make_document
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def calcium(value: float, sequence: int, day: int, **fields) -> dict:
    return {
        "analyte": "calcium_total",
        "value": value,
        "unit": "mg/dL",
        "ref_low": 8.9,
        "ref_high": 10.1,
        "sequence": sequence,
        "day": day,
        **fields,
    }


def drug(text: str, sequence: int, day: int, **fields) -> dict:
    return {
        "category": "drug",
        "agent_text": text,
        "intent": "calcium_directed",
        "status": "administered",
        "sequence": sequence,
        "day": day,
        **fields,
    }


HYPER = {
    "disorder": "hypercalcemia",
    "sequence": 1,
    "calcium_outcome": "normalised",
    "quote": "calcitriol-mediated hypercalcemia",
    "mechanisms": [
        {"rank": 1, "code": "calcitriol_mediated", "certainty": "probable", "evidence": "1,25-(OH)2 D high"}
    ],
}
HYPO = {
    "disorder": "hypocalcemia",
    "sequence": 5,
    "day": 20,
    "timing_text": "three weeks after the antiresorptive",
    "calcium_outcome": "normalised",
    "notes": "iatrogenic",
    "mechanisms": [
        {
            "rank": 1,
            "code": "drug_related",
            "certainty": "probable",
            "suspect_agent": "test_drug",
            "action_taken": "drug_withdrawn",
        }
    ],
}


def two_episode_document(**overrides) -> dict:
    """Hypercalcemia (14 mg/dL) normalised after an antiresorptive on day 0; from day 20 a hypocalcemia (6.8 mg/dL)
    normalised after calcium gluconate."""
    document = make_document(
        **{
            "episodes": [HYPER, HYPO],
            "interventions": [drug("antiresorptive", 3, 0, agent="test_drug"), drug("calcium gluconate", 6, 20)],
            "labs": [calcium(14.0, 2, 0), calcium(9.8, 4, 3), calcium(6.8, 5, 20), calcium(9.0, 7, 23)],
            **overrides,
        }
    )
    for key in ("disorder", "mechanisms", "outcome"):
        if key not in overrides:
            document.pop(key, None)
    return document


def post(client, document) -> dict:
    response = client.post(CASES, document, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def errors(response) -> dict:
    assert response.status_code == 400, response.content
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def write(client, method: str, doc: dict, body: dict):
    return getattr(client, method)(f"{CASES}{doc['id']}/", body, format="json", HTTP_IF_MATCH=f'"v{doc["version"]}"')


def test_a_case_of_two_episodes_reads_each_with_its_mechanisms_and_the_first_as_the_case(curator):
    make_agent()
    doc = post(curator, two_episode_document())
    assert [(e["disorder"], e["sequence"], e["day"]) for e in doc["episodes"]] == [
        ("hypercalcemia", 1, None),
        ("hypocalcemia", 5, 20),
    ]
    assert doc["episodes"][1]["disorder_hpo"] == "HP:0002901"
    assert [m["code"] for m in doc["episodes"][0]["mechanisms"]] == ["calcitriol_mediated"]
    assert [(m["code"], m["suspect_agent"]) for m in doc["episodes"][1]["mechanisms"]] == [
        ("drug_related", "test_drug")
    ]
    assert (doc["episodes"][1]["timing_text"], doc["episodes"][1]["notes"]) == (HYPO["timing_text"], "iatrogenic")
    # The short form is the first episode's.
    assert doc["disorder"] == "hypercalcemia"
    assert [m["code"] for m in doc["mechanisms"]] == ["calcitriol_mediated"]
    assert doc["outcome"]["calcium_outcome"] == "normalised"
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    assert (case.disorder, case.episodes.count(), Mechanism.objects.filter(case=case).count()) == (
        "hypercalcemia",
        2,
        2,
    )
    assert Episode.history.filter(case_id=case.pk, history_type="+").count() == 2


def test_derived_measures_are_computed_per_episode_with_its_disorder(curator):
    make_agent()
    derived = post(curator, two_episode_document())["derived"]
    first, second = derived["episodes"]
    assert (first["position"], first["lab_indexes"], first["intervention_indexes"]) == (1, [0, 1], [0])
    assert (second["position"], second["lab_indexes"], second["intervention_indexes"]) == (2, [2, 3], [1])
    assert first["peak_calcium"]["mg_dl"] == 14.0 and first["peak_ctcae"]["grade"] is not None
    assert first["nadir_calcium"]["mg_dl"] == 9.8  # the hypocalcemia's values are not the first episode's
    assert second["peak_calcium"]["mg_dl"] == 9.0
    assert (second["nadir_calcium"]["mg_dl"], second["nadir_ctcae"]["direction"]) == (6.8, "hypocalcemia")
    assert second["nadir_ctcae"]["grade"] == derived["nadir_ctcae"]["grade"]  # the case's nadir is this one
    # Normalisation on each episode's side of the range, credited to the intervention that preceded it.
    assert first["normalisation"] == {
        "normalised": True,
        "days": 3,
        "intervention_index": 0,
        "lab_index": 1,
        "first_intervention_index": 0,
        "first_intervention_normalised": True,
    }
    assert second["normalisation"] == {
        "normalised": True,
        "days": 3,
        "intervention_index": 1,
        "lab_index": 3,
        "first_intervention_index": 1,
        "first_intervention_normalised": True,
    }


def test_a_single_episode_case_has_the_cases_measures_as_its_one_episode(curator):
    doc = post(curator, make_document())
    assert [(e["disorder"], [m["code"] for m in e["mechanisms"]]) for e in doc["episodes"]] == [
        ("hypercalcemia", ["humoral_pthrp"])
    ]
    (episode,) = doc["derived"]["episodes"]
    for key in ("peak_calcium", "nadir_calcium", "peak_ctcae", "nadir_ctcae", "normalisation"):
        assert episode[key] == doc["derived"][key]


def test_the_short_form_writes_the_one_episode_of_a_single_episode_case(curator):
    doc = post(curator, make_document())
    response = write(
        curator,
        "patch",
        doc,
        {"disorder": "hypocalcemia", "mechanisms": [{"code": "hypomagnesemia", "certainty": "possible"}]},
    )
    assert response.status_code == 200, response.content
    (episode,) = response.json()["episodes"]
    assert (episode["id"], episode["disorder"]) == (doc["episodes"][0]["id"], "hypocalcemia")
    assert [m["code"] for m in episode["mechanisms"]] == ["hypomagnesemia"]
    assert Episode.objects.get(pk=episode["id"]).disorder == "hypocalcemia"


def test_a_case_of_several_episodes_refuses_the_short_form_and_an_unchanged_put_changes_nothing(curator):
    make_agent()
    doc = post(curator, two_episode_document())
    reasons = errors(write(curator, "patch", doc, {"disorder": "hypocalcemia"}))
    assert "has 2 calcium-disorder episodes" in reasons["disorder"] and "`episodes`" in reasons["disorder"]
    assert set(errors(write(curator, "patch", doc, {"mechanisms": []}))) == {"mechanisms"}
    assert set(errors(write(curator, "patch", doc, {"outcome": {"calcium_outcome": "persistent"}}))) == {
        "outcome.calcium_outcome"
    }
    # The document as read, sent back (episodes, and the short form agreeing with the first): nothing changes.
    sent = {**{k: v for k, v in doc.items() if k not in ("id", "source")}, "source_id": doc["source"]["id"]}
    unchanged = write(curator, "put", doc, sent)
    assert unchanged.status_code == 200, unchanged.content
    assert unchanged.json()["version"] == doc["version"]
    # A PUT without the episodes (an older client) keeps them, and its empty mechanisms list leaves theirs alone.
    body = {k: v for k, v in sent.items() if k not in ("episodes", "mechanisms")}  # its disorder: the first's
    kept = write(curator, "put", doc, body)
    assert kept.status_code == 200, kept.content
    assert [len(e["mechanisms"]) for e in kept.json()["episodes"]] == [1, 1]


def test_the_full_form_replaces_the_episodes_moving_and_dropping_their_mechanisms(curator):
    make_agent()
    doc = post(curator, two_episode_document())
    first, second = doc["episodes"]
    # The hypocalcemia dropped; its drug_related mechanism moves to the first episode with its id.
    moved = {**second["mechanisms"][0], "rank": 2}
    first = {**first, "mechanisms": [*first["mechanisms"], moved]}
    response = write(curator, "patch", doc, {"episodes": [first]})
    assert response.status_code == 200, response.content
    (episode,) = response.json()["episodes"]
    assert [(m["id"], m["code"]) for m in episode["mechanisms"]] == [
        (doc["episodes"][0]["mechanisms"][0]["id"], "calcitriol_mediated"),
        (second["mechanisms"][0]["id"], "drug_related"),
    ]
    assert Episode.objects.filter(pk=second["id"]).count() == 0
    assert Episode.history.filter(id=second["id"], history_type="-").count() == 1


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"disorder": "hypocalcemia"}, "disorder", "disagrees with episodes[0].disorder"),
        ({"outcome": {"calcium_outcome": "persistent"}}, "outcome.calcium_outcome", "episodes[0].calcium_outcome"),
        ({"mechanisms": []}, "mechanisms", "disagree with episodes[0].mechanisms"),
        ({"episodes": []}, "episodes", "at least one calcium-disorder episode"),
    ],
)
def test_the_short_form_sent_with_the_episodes_must_agree_with_the_first(curator, change, field, reason):
    make_agent()
    response = curator.post(CASES, {**two_episode_document(), **change}, format="json")
    assert reason in errors(response)[field]


def test_the_short_form_agreeing_with_the_first_episode_is_accepted(curator):
    make_agent()
    document = two_episode_document(
        disorder="hypercalcemia", mechanisms=HYPER["mechanisms"], outcome={"calcium_outcome": "normalised"}
    )
    post(curator, document)


def test_episode_errors_name_the_episode_and_its_mechanism(curator):
    make_agent()
    hypo = {
        **HYPO,
        "sequence": 1,
        "misspelt": 1,
        "mechanisms": [{"code": "calcitriol_mediated", "certainty": "probable"}, HYPO["mechanisms"][0]],
    }
    reasons = errors(curator.post(CASES, two_episode_document(episodes=[HYPER, hypo]), format="json"))
    assert reasons == {"episodes[1].misspelt": "Unknown field."}
    hypo.pop("misspelt")
    reasons = errors(curator.post(CASES, two_episode_document(episodes=[HYPER, hypo]), format="json"))
    assert "later place on the timeline" in reasons["episodes[1].sequence"]
    assert "not hypocalcemia" in reasons["episodes[1].mechanisms[0].code"]
    twice = {**HYPO, "mechanisms": [HYPO["mechanisms"][0], {**HYPO["mechanisms"][0], "rank": 2}]}
    reasons = errors(curator.post(CASES, two_episode_document(episodes=[HYPER, twice]), format="json"))
    assert reasons == {"episodes[1].mechanisms[1].code": "The mechanism drug_related is listed twice in this episode."}


def test_a_mechanism_code_is_unique_per_episode_not_per_case(curator):
    make_agent()
    drug_related = HYPO["mechanisms"][0]
    document = two_episode_document(episodes=[{**HYPER, "mechanisms": [drug_related]}, HYPO])
    doc = post(curator, document)
    assert [[m["code"] for m in e["mechanisms"]] for e in doc["episodes"]] == [["drug_related"], ["drug_related"]]


def test_the_filters_match_any_episode(curator):
    make_agent()
    two = post(curator, two_episode_document())["id"]
    one = post(curator, make_document())["id"]

    def ids(query: str) -> set[str]:
        return {d["id"] for d in curator.get(f"{CASES}?{query}").json()["results"]}

    assert ids("disorder=hypocalcemia") == {two}
    assert ids("disorder=hypercalcemia") == {one, two}
    assert ids("mechanism=drug_related") == {two}
    assert ids("mechanism=humoral_pthrp") == {one}


def test_a_json_export_imports_back_with_its_episodes(curator):
    from cases.document import export_documents, import_cases

    make_agent()
    doc = post(curator, two_episode_document())
    (exported,) = export_documents(Case.objects.filter(pk=int(doc["id"].removeprefix("CCR-"))))
    exported = {**json.loads(json.dumps(exported)), "confirm": ["duplicate"]}  # the same paper and patient
    (imported,) = import_cases([exported], user=curator.user)
    assert [(e.disorder, e.sequence, [m.code for m in e.mechanisms.all()]) for e in imported.episodes.all()] == [
        ("hypercalcemia", 1, ["calcitriol_mediated"]),
        ("hypocalcemia", 5, ["drug_related"]),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_one_episode_of_each_case_of_the_old_fixture_shape():
    """The shipped seed cases in their old shape (no episodes, mechanisms of the case), loaded at the migration before
    the episodes' and migrated:
    each case is one episode with its disorder and calcium outcome, holding every mechanism of the case."""
    executor = MigrationExecutor(connection)
    (episodes,) = [key for key in executor.loader.disk_migrations if key[0] == "cases" and key[1].endswith("_episodes")]
    before = [d for d in executor.loader.disk_migrations[episodes].dependencies if d[0] == "cases"]  # its number may
    executor.migrate(before)  # change when branches are merged
    old = executor.loader.project_state(before).apps
    objects = json.loads((FIXTURES / "source_cases.json").read_text(encoding="utf-8"))
    agents = json.loads((FIXTURES / "agents.json").read_text(encoding="utf-8"))
    Agent = old.get_model("cases", "Agent")
    for a in agents:
        Agent.objects.create(pk=a.get("pk"), **a["fields"])
    by_code = {a.code: a.pk for a in Agent.objects.all()}
    wanted: dict[int, tuple] = {}
    mechanisms: dict[int, list] = {}
    for o in objects:  # the old shape: no episode rows, no episode on a mechanism
        if o["model"] not in ("cases.source", "cases.case", "cases.mechanism"):
            continue
        model = old.get_model(*o["model"].split("."))
        fields = {k: v for k, v in o["fields"].items() if k != "episode"}
        values = {}
        for name, value in fields.items():
            field = model._meta.get_field(name)
            if field.is_relation:
                if isinstance(value, list):  # a natural key (an agent's code)
                    value = by_code[value[0]]
                values[field.attname] = value
            else:
                values[name] = value
        model.objects.create(pk=o["pk"], **values)
        if o["model"] == "cases.case":
            wanted[o["pk"]] = (fields["disorder"], fields.get("calcium_outcome", "not_reported"))
        if o["model"] == "cases.mechanism":
            mechanisms.setdefault(fields["case"], []).append((o["pk"], fields["code"], fields["certainty"]))
    old.get_model("cases", "Case").objects.update(derived_json={"stored": "before episodes"})
    old.get_model("cases", "HistoricalMechanism").objects.create(
        id=mechanisms[1][0][0], case_id=1, code="other", certainty="possible", history_date="2026-01-01T00:00Z"
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert wanted and mechanisms
    for pk, (disorder, outcome) in wanted.items():
        (episode,) = Episode.objects.filter(case_id=pk)
        assert (episode.disorder, episode.calcium_outcome, episode.sequence, episode.day) == (
            disorder,
            outcome,
            1,
            None,
        )
        assert sorted(episode.mechanisms.values_list("pk", "code", "certainty")) == sorted(mechanisms.get(pk, []))
        assert Case.objects.get(pk=pk).disorder == disorder
        assert Case.objects.get(pk=pk).derived_json is None  # computed on read (with its episodes) until refreshed
        assert Episode.history.filter(id=episode.pk, history_type="+").count() == 1
    assert Mechanism.history.get(id=mechanisms[1][0][0]).episode_id == Episode.objects.get(case_id=1).pk


def test_the_tidy_tables_have_one_row_per_episode_and_each_mechanism_names_its_episode(curator):
    from tests.api.test_exports import read_csv

    make_agent()
    doc = post(curator, two_episode_document())
    interventions = [i["id"] for i in doc["interventions"]]
    episodes = read_csv(curator, "/api/v1/exports/episodes.csv")
    assert list(episodes["episode_id"]) == [e["id"] for e in doc["episodes"]]
    assert list(episodes["position"]) == [1, 2]
    assert list(episodes["disorder"]) == ["hypercalcemia", "hypocalcemia"]
    assert list(episodes["peak_calcium_mg_dl"]) == [14.0, 9.0]
    assert list(episodes["nadir_calcium_mg_dl"]) == [9.8, 6.8]
    assert list(episodes["calcium_normalised"]) == [True, True]
    assert list(episodes["normalised_after_intervention_id"]) == interventions
    assert list(episodes["timing_text"].fillna("")) == ["", HYPO["timing_text"]]
    mechanisms = read_csv(curator, "/api/v1/exports/mechanisms.csv")
    assert dict(zip(mechanisms["mechanism"], mechanisms["episode_id"], strict=True)) == {
        "calcitriol_mediated": doc["episodes"][0]["id"],
        "drug_related": doc["episodes"][1]["id"],
    }


def test_the_analytics_summary_counts_cases_by_the_disorder_of_each_episode(curator):
    make_agent()
    post(curator, two_episode_document())
    post(curator, make_document())
    summary = curator.get("/api/v1/analytics/summary/").json()
    assert summary["by_disorder"] == {"hypercalcemia": 2}  # the case's own: its first episode's
    assert summary["episodes"] == 3
    assert summary["by_episode_disorder"] == {"hypercalcemia": 2, "hypocalcemia": 1}


def test_the_admin_shows_the_later_episodes_and_each_mechanism_names_its_episode(curator):
    import re

    from tests.admin_pages import login, posted_form

    make_agent()
    doc = post(curator, two_episode_document())
    pk = int(doc["id"].removeprefix("CCR-"))
    first, second = doc["episodes"]
    admin = login("curator", "admin-curator")
    url = f"/admin/cases/case/{pk}/change/"
    page = admin.get(url).content.decode()
    assert "later calcium-disorder episodes" in page.lower()
    assert page.count('name="episodes-0-disorder"') == 1 and 'name="episodes-1-disorder"' not in page  # not the first
    options = re.findall(r'<option value="(\d+)"[^>]*>2\. Hypocalcemia</option>', page)
    assert options and set(options) == {str(second["id"])}
    data = posted_form(admin, url)
    assert data["episodes-0-id"] == str(second["id"])
    assert data["mechanisms-1-episode"] == str(second["id"])
    # The drug-related mechanism moved to the first episode, and a later episode placed before the first refused.
    data["mechanisms-1-episode"] = str(first["id"])
    response = admin.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Mechanism.objects.get(pk=second["mechanisms"][0]["id"]).episode_id == first["id"]
    data = posted_form(admin, url)
    data["episodes-0-sequence"] = "1"
    response = admin.post(url, data)
    assert response.status_code == 200
    assert "A later episode starts after the first" in response.content.decode()


def test_fhir_has_a_condition_per_episode_and_a_treatment_names_its_episode(curator):
    make_agent()
    doc = post(curator, two_episode_document())
    bundle = curator.get(f"{CASES}{doc['id']}/fhir/").json()
    resources = [e["resource"] for e in bundle["entry"]]
    conditions = {
        c["code"]["text"]: c
        for c in resources
        if c["resourceType"] == "Condition" and c["code"]["text"] in ("Hypercalcemia", "Hypocalcemia")
    }
    assert set(conditions) == {"Hypercalcemia", "Hypocalcemia"}
    hypo = conditions["Hypocalcemia"]
    assert {c["code"] for c in hypo["code"]["coding"]} == {"HP:0002901"}
    assert any("Drug-related" in n["text"] for n in hypo["note"])
    assert not any("Calcitriol" in n["text"] for n in hypo["note"])
    gluconate = next(r for r in resources if "calcium gluconate" in json.dumps(r) and "reasonReference" in r)
    assert gluconate["reasonReference"] == [{"reference": f"urn:uuid:{hypo['id']}"}]


def test_a_phenopacket_keeps_the_episodes_and_imports_back_with_them(curator):
    from api.interop.phenopacket import phenopacket_import

    make_agent()
    doc = post(curator, two_episode_document())
    packet = curator.get(f"{CASES}{doc['id']}/phenopacket/").json()
    assert "HP:0002901" in {f["type"]["id"] for f in packet["phenotypicFeatures"]}  # the later hypocalcemia
    imported = phenopacket_import(packet, user=curator.user, confirm=["duplicate"])
    assert [(e.disorder, e.sequence, e.day, e.timing_text) for e in imported.episodes.all()] == [
        ("hypercalcemia", 1, None, ""),
        ("hypocalcemia", 5, 20, HYPO["timing_text"]),
    ]
    assert [[m.code for m in e.mechanisms.all()] for e in imported.episodes.all()] == [
        ["calcitriol_mediated"],
        ["drug_related"],
    ]
