"""The derived block of a case document: censored values, ionized calcium, the disorder's side of the range."""

import pytest

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
