"""Issue 13, points 3 and 14: lab values stored as the source prints them, and a LOINC code only for the unit of
its property."""

import itertools

import pytest

from cases import measures
from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
USERS = itertools.count()


def post(labs: list[dict]):
    return client_for("curator", f"curator-{next(USERS)}").post(
        CASES, make_document(labs=labs, interventions=[]), format="json"
    )


def created(labs: list[dict]) -> dict:
    response = post(labs)
    assert response.status_code == 201, response.json()
    return response.json()


def errors(response) -> dict[str, str]:
    assert response.status_code == 400
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def test_an_approximate_value_keeps_its_flag_and_only_a_number_can_be_approximate():
    doc = created([{"analyte": "calcium_total", "value": 3.0, "unit": "mmol/L", "value_is_approximate": True}])
    assert doc["labs"][0]["value_is_approximate"] is True
    assert doc["derived"]["peak_calcium"]["mmol_l"] == 3.0  # still a value: used as reported
    refused = post([{"analyte": "calcium_total", "qualitative": "high", "value_is_approximate": True}])
    assert errors(refused) == {"labs[0].value_is_approximate": "Only a number can be approximate: enter the value."}


def test_calcium_of_unstated_type_is_its_own_analyte_used_for_peak_and_grade_as_reported_never_corrected():
    doc = created(
        [
            {"analyte": "calcium_unspecified", "value": 13.0, "unit": "mg/dL", "ref_high": 10.2, "day": 0},
            {"analyte": "albumin", "value": 2.0, "unit": "g/dL", "day": 0},
        ]
    )
    lab = doc["labs"][0]
    assert lab["loinc"] is None  # no code is sourced for calcium whose type is not stated
    assert lab["si"]["value"] == 3.24  # 13 x 0.2495 = 3.2435: total calcium's factor
    peak = doc["derived"]["peak_calcium"]
    # flagged by its basis; not Payne-corrected with the same-day albumin (it may be corrected already)
    assert (peak["basis"], peak["mg_dl"]) == ("calcium_unspecified", 13.0)
    assert (doc["derived"]["peak_ctcae"]["grade"], doc["derived"]["peak_ctcae"]["basis"]) == (
        3,
        "calcium_unspecified",
    )  # 13.0 mg/dL: > 12.5-13.5


def test_a_pth_with_a_reference_range_but_no_unit_is_stored_unconverted_and_judged_by_its_range():
    doc = created([{"analyte": "pth_intact", "value": 80, "ref_low": 10, "ref_high": 65, "unit_not_reported": True}])
    lab = doc["labs"][0]
    assert (lab["unit"], lab["unit_not_reported"], lab["si"], lab["conventional"], lab["loinc"]) == (
        "",
        True,
        None,
        None,
        None,
    )
    assert (lab["interpretation"]["flag"], lab["interpretation"]["basis"]) == ("high", "reported_range")
    refused = post([{"analyte": "pth_intact", "value": 80, "ref_low": 10, "ref_high": 65}])
    assert errors(refused) == {"labs[0].unit": "Enter the unit (pg/mL or pmol/L), or tick 'unit not reported'."}


def test_a_calcium_without_a_unit_is_stored_but_neither_peak_nor_graded():
    doc = created([{"analyte": "calcium_total", "value": 14, "unit_not_reported": True}])
    assert doc["derived"]["peak_calcium"] is None and doc["derived"]["peak_ctcae"] is None


def test_pthrp_in_pg_per_ml_is_stored_as_printed_without_conversion_or_code():
    doc = created([{"analyte": "pthrp", "value": 45, "unit": "pg/mL", "ref_high": 20}])
    lab = doc["labs"][0]
    assert (lab["unit"], lab["value"], lab["si"], lab["conventional"], lab["loinc"]) == (
        "pg/mL",
        45.0,
        None,
        None,
        None,
    )
    assert lab["interpretation"]["flag"] == "high"


def test_a_unit_message_keeps_the_acronym_capitalised():
    refused = post([{"analyte": "pthrp", "value": 4, "unit": "ng/mL"}])
    assert errors(refused) == {"labs[0].unit": "ng/mL is not a unit of PTH-related protein; use pmol/L or pg/mL."}
    refused = post([{"analyte": "calcium_total", "value": 4, "unit": "pg/mL"}])
    assert errors(refused)["labs[0].unit"].startswith("pg/mL is not a unit of serum total calcium;")


# analyte x unit -> code; every pair not listed carries none. Sources: domain.md; ionized calcium's property from
# the LOINC displays in HL7's PDDI CDS IG (valueset-calcium-LOINC).
EXPECTED_LOINC = {
    ("calcium_total", "mg/dL"): "17861-6",
    ("calcium_corrected", "mmol/L"): "29265-6",
    ("albumin", "g/dL"): "1751-7",
    ("albumin", "g/L"): "1751-7",
    ("pth_intact", "pg/mL"): "2731-8",
    ("pthrp", "pmol/L"): "15087-0",
    ("vitamin_d_25oh", "ng/mL"): "62292-8",
    ("vitamin_d_125oh2", "pg/mL"): "62290-2",
    ("phosphate", "mg/dL"): "2777-1",
    ("magnesium", "mg/dL"): "19123-9",
    ("creatinine", "mg/dL"): "2160-0",
    ("alkaline_phosphatase", "U/L"): "6768-6",
    ("potassium", "mmol/L"): "2823-3",  # added with the analyte table (cases/analytes.py names the sources)
    ("sodium", "mmol/L"): "2951-2",
}


def test_each_analyte_and_unit_has_its_own_code_or_none_and_no_code_serves_two_properties():
    for code, a in measures.analytes().items():
        for unit in a.accepted_units:
            expected = EXPECTED_LOINC.get((code, unit))
            assert a.loinc_for(unit, "serum") == (
                expected
                or (
                    "1995-0"
                    if (code, unit)
                    == (
                        "calcium_ionized",
                        "mmol/L",
                    )
                    else None
                )
            ), (code, unit)
    # the codes the evaluation found on molar values carry none there now
    for code, molar in [
        ("pth_intact", "pmol/L"),
        ("phosphate", "mmol/L"),
        ("magnesium", "mmol/L"),
        ("creatinine", "µmol/L"),
        ("vitamin_d_25oh", "nmol/L"),
        ("calcium_total", "mmol/L"),
    ]:
        assert measures.analyte(code).loinc_for(molar) is None, code


def test_the_lab_document_carries_the_code_of_its_unit_and_specimen():
    doc = created(
        [
            {"analyte": "pth_intact", "value": 12, "unit": "pmol/L"},
            {"analyte": "pth_intact", "value": 120, "unit": "pg/mL"},
            {"analyte": "calcium_ionized", "value": 1.4, "unit": "mmol/L", "specimen": "blood"},
            {"analyte": "calcium_ionized", "value": 5.6, "unit": "mg/dL", "specimen": "blood"},
        ]
    )
    assert [lab["loinc"] for lab in doc["labs"]] == [None, "2731-8", "1994-3", None]
