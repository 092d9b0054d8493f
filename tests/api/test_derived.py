"""The derived block of a case document: censored values, ionized calcium, the disorder's side of the range."""

import pytest

from cases.models import Case, Intervention
from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def create(labs: list[dict], **overrides) -> dict:
    response = client_for("curator").post(CASES, make_document(labs=labs, **overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["derived"]


def test_a_censored_peak_and_ionized_calcium_are_reported_with_their_own_grades():
    derived = create(
        [
            {"analyte": "calcium_total", "value": 12, "unit": "mg/dL", "sequence": 1, "day": 0},
            {"analyte": "calcium_total", "comparator": ">", "value": 15, "unit": "mg/dL", "sequence": 2, "day": 1},
            {
                "analyte": "calcium_ionized",
                "value": 1.7,
                "unit": "mmol/L",
                "ref_low": 1.12,
                "ref_high": 1.32,
                "sequence": 2,
                "day": 1,
            },
        ]
    )
    assert derived["peak_calcium"]["comparator"] == ">"
    assert derived["peak_calcium"]["mg_dl"] == 15.0
    assert derived["peak_ctcae"]["grade"] == 4  # > 15 is above 13.5
    assert derived["peak_ctcae"]["note"] == "at least: the value is censored"
    # ionized 1.7 mmol/L: > 1.6 to 1.8 -> grade 3, on its own scale
    assert derived["ionized_peak_calcium"]["mmol_l"] == 1.7
    assert derived["ionized_peak_ctcae"]["grade"] == 3
    assert derived["ionized_peak_ctcae"]["basis"] == "calcium_ionized"


def test_hypocalcemia_without_a_lower_limit_is_not_called_normalised():
    derived = create(
        [
            {"analyte": "calcium_total", "value": 5.8, "unit": "mg/dL", "sequence": 2, "day": 0},
            {"analyte": "calcium_total", "value": 6.2, "unit": "mg/dL", "sequence": 4, "day": 2},
        ],
        disorder="hypocalcemia",
        mechanisms=[],
    )
    assert derived["normalisation"] is None
    assert derived["nadir_ctcae"]["grade"] == 4  # 5.8 < 6.0


def test_an_impossible_lab_value_is_a_400_naming_the_row_and_the_unit():
    response = client_for("curator").post(
        CASES,
        make_document(labs=[{"analyte": "albumin", "value": 35, "unit": "g/dL", "sequence": 1}]),
        format="json",
    )
    assert response.status_code == 400
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert errors["labs[0].value"] == (
        "35 g/dL is not a possible serum albumin (at most 10 g/dL); check the number and its unit."
    )


def test_the_readme_fixture_load_stores_the_derived_values_the_filters_read(curator):
    """README: `migrate && loaddata agents source_cases`, nothing else. The filters read the stored columns."""
    from django.core.management import call_command

    from cases.models import Case

    call_command("migrate", verbosity=0)
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases = list(Case.objects.with_children())
    assert cases
    # What the model computes from the rows now, to compare with what the filters find in the stored columns.
    normalised = {
        c.registry_id for c in cases if (n := c.calcium_summary().normalisation) is not None and n.normalised
    }
    complete = {c.registry_id for c in cases if c.completeness().score >= 1}
    assert normalised and complete  # the seeds give both filters something to find

    def listed(query: str) -> set[str]:
        response = curator.get(f"{CASES}?{query}&page_size=100")
        assert response.status_code == 200
        return {case["id"] for case in response.json()["results"]}

    assert listed("normalised=true") == normalised
    assert listed("completeness_min=1") == complete
# --- issue 13, points 10-13: derived figures that never misstate the source -------------------------------------

RANGE = {"unit": "mg/dL", "ref_low": 8.9, "ref_high": 10.1}


def intervention(agent_text: str, sequence: int, day: int | None, intent: str = "calcium_directed") -> dict:
    return {
        "category": "drug",
        "agent_text": agent_text,
        "intent": intent,
        "status": "administered",
        "sequence": sequence,
        "day": day,
    }


def test_a_linked_normal_without_a_number_counts_and_a_value_after_a_later_treatment_never_does():
    """Point 10: the lab linked to zoledronate says only 'normal'; eight months later, after a relapse and
    chemotherapy, calcium is 13 mg/dL. That value is not zoledronate's 'calcium after'."""
    doc = (
        client_for("curator")
        .post(
            CASES,
            make_document(
                interventions=[
                    intervention("zoledronate", 2, 0),
                    intervention("chemotherapy", 4, 230, "cancer_directed"),
                ],
                labs=[
                    {"analyte": "calcium_total", "value": 14, **RANGE, "sequence": 1, "day": 0},
                    {
                        "analyte": "calcium_total",
                        "qualitative": "normal",
                        "sequence": 3,
                        "day": 7,
                        "follows_intervention_index": 0,
                    },
                    {"analyte": "calcium_total", "value": 13, **RANGE, "sequence": 5, "day": 240},
                ],
            ),
            format="json",
        )
        .json()
    )
    zoledronate = doc["derived"]["interventions"][0]
    assert zoledronate["calcium_after"] is None
    assert (zoledronate["calcium_after_word"], zoledronate["calcium_normal_after"]) == ("normal", True)
    row = Intervention.objects.get(pk=doc["interventions"][0]["id"])
    # stored for the intervention analytics: no number after, normal, 7 days to the normal reading
    assert (row.calcium_after_mg_dl, row.calcium_normal_after, row.days_to_calcium_after) == (None, True, 7)
    assert doc["derived"]["normalisation"]["normalised"] is True
    assert doc["derived"]["normalisation"]["days"] == 7


def test_normalisation_is_credited_to_the_intervention_that_preceded_it_not_a_first_one_that_failed():
    """Point 11: fluids (day 0) leave calcium at 13.5; zoledronate (day 3) is followed by 9.6 on day 8."""
    doc = (
        client_for("curator")
        .post(
            CASES,
            make_document(
                interventions=[intervention("fluids", 2, 0), intervention("zoledronate", 4, 3)],
                labs=[
                    {"analyte": "calcium_total", "value": 15, **RANGE, "sequence": 1, "day": 0},
                    {"analyte": "calcium_total", "value": 13.5, **RANGE, "sequence": 3, "day": 2},
                    {"analyte": "calcium_total", "value": 9.6, **RANGE, "sequence": 5, "day": 8},
                ],
            ),
            format="json",
        )
        .json()
    )
    assert doc["derived"]["normalisation"] == {
        "normalised": True,
        "days": 8,  # from the start of calcium-directed treatment (fluids, day 0) to day 8
        "intervention_index": 1,
        "lab_index": 2,
        "first_intervention_index": 0,
        "first_intervention_normalised": False,
    }
    case = Case.objects.get(pk=int(doc["id"].removeprefix("CCR-")))
    assert (case.calcium_normalised, case.days_to_normalisation, case.first_intervention_normalised) == (
        True,
        8,
        False,
    )


def test_a_nadir_graded_without_a_lower_limit_does_not_claim_a_default_range():
    """Point 12: only an upper default limit exists; the nadir's grade used no limit at all."""
    derived = create(
        [{"analyte": "calcium_total", "value": 5.8, "unit": "mg/dL", "sequence": 2, "day": 0}],
        disorder="hypocalcemia",
        mechanisms=[],
    )
    assert (derived["nadir_ctcae"]["grade"], derived["nadir_ctcae"]["limit_basis"]) == (4, "no_range")
    assert derived["peak_ctcae"]["limit_basis"] == "default_range"  # the upper default does exist


def test_a_mechanism_that_contradicts_the_disorder_is_refused_unless_excluded():
    """Point 13: calcitriol-mediated explains hypercalcemia only (domain.md)."""
    curator = client_for("curator")
    mechanism = {"rank": 1, "code": "calcitriol_mediated", "certainty": "probable"}
    refused = curator.post(CASES, make_document(disorder="hypocalcemia", mechanisms=[mechanism]), format="json")
    assert refused.status_code == 400
    assert {e["field"]: e["reason"] for e in refused.json()["errors"]} == {
        "mechanisms[0].code": "Calcitriol-mediated (1,25-(OH)2 D) explains hypercalcemia, not hypocalcemia: change "
        "the disorder or the mechanism, or record the mechanism as excluded."
    }
    excluded = {**mechanism, "certainty": "excluded"}
    ok = curator.post(CASES, make_document(disorder="hypocalcemia", mechanisms=[excluded]), format="json")
    assert ok.status_code == 201
    # changing only the disorder of a case whose mechanism then contradicts it is refused too
    created = curator.post(CASES, make_document(), format="json").json()  # humoral_pthrp, hypercalcemia
    response = curator.patch(
        f"{CASES}{created['id']}/", {"disorder": "hypocalcemia"}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "disorder"
