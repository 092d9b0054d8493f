"""The CSV exports (and the JSON list) read the way analysts read them: with pandas."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api import exports
from cases.models import Agent, Case
from tests.api.documents import client_for, make_document
from tests.factories import make_source

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
CASES_CSV = "/api/v1/exports/cases.csv"
LABS_CSV = "/api/v1/exports/labs.csv"

# A: hypercalcemia. Peak 14.0 mg/dL = 14 x 0.2495 = 3.493 -> 3.49 mmol/L, CTCAE grade 4 (> 13.5 mg/dL);
#    nadir 9.5 mg/dL = 9.5 x 0.2495 = 2.370 -> 2.37 mmol/L, hypocalcemia grade 0 (not below 8.9);
#    normalised 5 days after zoledronic acid (day 5 - day 0). Its first mechanism is excluded, so the main
#    mechanism is the second. No PTH or PTHrP and the bone free: no mechanism suggested by the labs.
#    CARE completeness 6 of 6 (age and sex, a finding, index event and dated items, labs, an administered
#    intervention, vital status).
A = {
    "title": "Breast cancer with PTHrP-mediated hypercalcemia",
    "disorder": "hypercalcemia",
    "patient": {"age_years": 67, "sex": "female", "menopausal_status": "postmenopausal"},
    "tumors": [
        {
            "site": "breast",
            "histology": "Invasive ductal carcinoma",
            "icdo3_morphology": "8500/3",
            "er": "positive",
            "pr": "negative",
            "her2": "negative",
            "hormone_receptor": "positive",
        }
    ],
    "metastases": [{"site": "liver", "present": True}, {"site": "bone", "present": False}],
    "mechanisms": [
        {"rank": 1, "code": "local_osteolytic", "certainty": "excluded"},
        {"rank": 2, "code": "humoral_pthrp", "certainty": "confirmed"},
    ],
    "interventions": [
        {
            "category": "drug",
            "agent": "zoledronic_acid",
            "agent_text": "zoledronic acid",
            "intent": "calcium_directed",
            "status": "administered",
            "sequence": 3,
            "day": 0,
            "calcium_response": "normalised",
        },
        {
            "category": "drug",
            "agent": "denosumab",
            "agent_text": "denosumab",
            "intent": "calcium_directed",
            "status": "recommended",
            "sequence": 5,
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
            "quote": "serum calcium of 14.0 mg/dL",
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
    "outcome": {
        "vital_status": "alive",
        "follow_up_days": 180,
        "calcium_outcome": "normalised",
        "tumor_response": "partial_response",
    },
}
# C: hypocalcemia, age 95 kept as 90. Its one calcium, 1.6 mmol/L = 1.6 / 0.2495 = 6.413 -> 6.41 mg/dL, is both
#    peak (hypercalcemia grade 0: below the reference high 2.6 mmol/L) and nadir (hypocalcemia grade 3:
#    6.0 <= 6.41 < 7.0 mg/dL). No calcium after the calcium gluconate: normalisation unknown. Bone metastases
#    and nothing else in the labs (PTH high): hungry bone suggested, which agrees with the record. CARE 5 of 6
#    (no outcome reported).
C = {
    "title": "Hungry bone syndrome in metastatic prostate cancer",
    "disorder": "hypocalcemia",
    "patient": {"age_years": 95, "sex": "male"},
    "tumors": [{"site": "prostate", "histology": "Adenocarcinoma"}],
    "metastases": [{"site": "bone", "present": True}],
    "mechanisms": [{"rank": 1, "code": "osteoblastic_hungry_bone", "certainty": "probable"}],
    "interventions": [
        {
            "category": "supportive_care",
            "agent_text": "calcium gluconate",
            "intent": "calcium_directed",
            "status": "administered",
            "sequence": 3,
            "day": 1,
            "calcium_response": "transient",
        }
    ],
    "labs": [
        {
            "analyte": "calcium_total",
            "value": 1.6,
            "unit": "mmol/L",
            "ref_low": 2.1,
            "ref_high": 2.6,
            "sequence": 2,
            "day": 0,
        },
        {
            "analyte": "pth_intact",
            "value": 120,
            "unit": "pg/mL",
            "ref_low": 15,
            "ref_high": 65,
            "sequence": 2,
            "day": 0,
        },
    ],
    "outcome": {"vital_status": "not_reported"},
}
# D: nothing measured, no tumor, no age: empty cells. CARE 2 of 6 (a finding, vital status).
D = {
    "title": "Tumoral calcinosis in renal cell carcinoma",
    "disorder": "soft_tissue_calcification",
    "patient": {"sex": "female"},
    "tumors": [],
    "metastases": [],
    "mechanisms": [],
    "interventions": [],
    "labs": [],
}


@pytest.fixture(autouse=True)
def fast_logins_and_fresh_throttle(settings):
    # Each test creates its users; the default password hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The rate limits count requests per user id in the cache, which outlives each test's database.
    cache.clear()


@pytest.fixture
def agents():
    Agent.objects.create(code="zoledronic_acid", name="Zoledronic acid", category="drug", atc_code="M05BA08")
    Agent.objects.create(code="denosumab", name="Denosumab", category="drug", atc_code="M05BX04")


def post_case(client, document: dict, **source) -> dict:
    defaults = {"kind": "case_report", "citation": "Doe J. A case. J Test. 2020.", "title": "A case", "year": 2020}
    response = client.post(CASES, make_document(make_source(**{**defaults, **source}), **document), format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def cohort(curator, agents) -> dict[str, dict]:
    """Cases A, C and D posted as documents; the documents as returned, by letter."""
    return {
        "A": post_case(
            curator,
            A,
            citation="Smith A. Humoral hypercalcaemia in breast cancer. Case Rep Oncol Med. 2013.",
            year=2013,
            doi="10.1155/2013/871917",
            pmid="23710001",
        ),
        "C": post_case(curator, C, year=2020),
        "D": post_case(curator, D, year=2009),
    }


def read_csv(client, url: str, params: dict | None = None) -> pd.DataFrame:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return pd.read_csv(io.StringIO(response.content.decode()))


def publish(*documents: dict) -> None:
    Case.objects.filter(pk__in=[int(d["id"].removeprefix("CCR-")) for d in documents]).update(status="published")


@pytest.mark.parametrize("url", [CASES_CSV, LABS_CSV])
def test_anonymous_gets_401(url):
    assert APIClient().get(url).status_code == 401


def test_the_case_table_has_one_row_per_case_in_these_columns(curator, cohort):
    df = read_csv(curator, CASES_CSV)
    assert list(df.columns) == [
        *("case_id", "status", "title", "source_kind", "source_year", "doi", "pmid"),
        *("age_years", "age_90_or_over", "sex", "menopausal_status", "disorder"),
        *("tumor_site", "icdo3_topography", "histology", "icdo3_morphology", "er", "pr", "her2", "hormone_receptor"),
        *("metastases_present", "metastases_absent"),
        *("main_mechanism", "main_mechanism_certainty", "mechanisms", "suggested_mechanism", "mechanism_agreement"),
        "completeness_score",
        *("peak_calcium_mg_dl", "peak_calcium_mmol_l", "peak_calcium_basis", "peak_calcium_comparator"),
        *("nadir_calcium_mg_dl", "nadir_calcium_mmol_l", "nadir_calcium_comparator"),
        *("peak_ctcae_grade", "peak_ctcae_basis", "peak_ctcae_limit_basis", "nadir_ctcae_grade"),
        *("ionized_peak_mmol_l", "ionized_peak_ctcae_grade", "ionized_nadir_mmol_l", "ionized_nadir_ctcae_grade"),
        *("first_calcium_directed", "calcium_normalised", "days_to_normalisation"),
        *("vital_status", "follow_up_days", "calcium_outcome", "tumor_response", "version", "updated_at"),
    ]
    assert list(df["case_id"]) == [cohort["A"]["id"], cohort["C"]["id"], cohort["D"]["id"]]


def test_the_case_table_reads_as_numbers_and_strings(curator, cohort):
    df = read_csv(curator, CASES_CSV)
    assert pd.api.types.is_string_dtype(df["case_id"])
    assert pd.api.types.is_string_dtype(df["disorder"])
    for column in (
        "peak_calcium_mg_dl",
        "peak_calcium_mmol_l",
        "nadir_calcium_mg_dl",
        "nadir_calcium_mmol_l",
        "peak_ctcae_grade",
        "age_years",
        "source_year",
        "follow_up_days",
        "completeness_score",
        "version",
    ):
        assert pd.api.types.is_numeric_dtype(df[column]), column
    assert pd.api.types.is_bool_dtype(df["age_90_or_over"])


def test_the_case_table_row_of_a_known_case(curator, cohort):
    row = read_csv(curator, CASES_CSV).set_index("case_id").loc[cohort["A"]["id"]]
    assert row["status"] == "draft"
    assert row["title"] == "Breast cancer with PTHrP-mediated hypercalcemia"
    assert (row["source_kind"], row["source_year"], row["doi"]) == ("case_report", 2013, "10.1155/2013/871917")
    assert (row["age_years"], row["age_90_or_over"], row["sex"]) == (67, False, "female")
    assert (row["menopausal_status"], row["disorder"]) == ("postmenopausal", "hypercalcemia")
    assert (row["tumor_site"], row["icdo3_topography"]) == ("breast", "C50.9")  # C50.9: breast, filled in
    assert (row["histology"], row["icdo3_morphology"]) == ("Invasive ductal carcinoma", "8500/3")
    assert (row["er"], row["pr"], row["her2"], row["hormone_receptor"]) == (
        "positive",
        "negative",
        "negative",
        "positive",
    )
    assert (row["metastases_present"], row["metastases_absent"]) == ("liver", "bone")
    assert (row["main_mechanism"], row["main_mechanism_certainty"]) == ("humoral_pthrp", "confirmed")
    assert row["mechanisms"] == "local_osteolytic:excluded;humoral_pthrp:confirmed"
    assert pd.isna(row["suggested_mechanism"])
    assert row["mechanism_agreement"] == "no_suggestion"
    assert row["completeness_score"] == 6
    assert (row["peak_calcium_mg_dl"], row["peak_calcium_mmol_l"], row["peak_calcium_basis"]) == (
        14.0,
        3.49,
        "calcium_total",
    )
    assert (row["nadir_calcium_mg_dl"], row["nadir_calcium_mmol_l"]) == (9.5, 2.37)
    assert (row["peak_ctcae_grade"], row["peak_ctcae_basis"], row["peak_ctcae_limit_basis"]) == (
        4,
        "calcium_total",
        "reported_range",
    )
    assert row["nadir_ctcae_grade"] == 0
    assert row["first_calcium_directed"] == "zoledronic_acid"
    assert row["calcium_normalised"] is True  # a Python bool in an object column (C and D are empty)
    assert row["days_to_normalisation"] == 5
    assert (row["vital_status"], row["follow_up_days"], row["calcium_outcome"]) == ("alive", 180, "normalised")
    assert row["tumor_response"] == "partial_response"
    assert row["version"] == 1
    assert pd.Timestamp(row["updated_at"]).tzinfo is not None


def test_the_case_table_row_of_a_hypocalcemia_case_in_mmol_l(curator, cohort):
    row = read_csv(curator, CASES_CSV).set_index("case_id").loc[cohort["C"]["id"]]
    assert (row["age_years"], row["age_90_or_over"]) == (90, True)
    assert (row["peak_calcium_mg_dl"], row["peak_calcium_mmol_l"]) == (6.41, 1.6)
    assert (row["nadir_calcium_mg_dl"], row["nadir_calcium_mmol_l"]) == (6.41, 1.6)
    assert (row["peak_ctcae_grade"], row["nadir_ctcae_grade"]) == (0, 3)
    assert row["first_calcium_directed"] == "calcium gluconate"  # no agent: the name as reported
    assert pd.isna(row["calcium_normalised"])
    assert pd.isna(row["days_to_normalisation"])
    assert row["metastases_present"] == "bone"
    assert pd.isna(row["metastases_absent"])  # none explicitly free
    assert (row["suggested_mechanism"], row["mechanism_agreement"]) == ("osteoblastic_hungry_bone", "agree")
    assert row["completeness_score"] == 5


def test_missing_values_are_empty_cells(curator, cohort):
    row = read_csv(curator, CASES_CSV).set_index("case_id").loc[cohort["D"]["id"]]
    for column in (
        "age_years",
        "tumor_site",
        "er",
        "metastases_present",
        "main_mechanism",
        "mechanisms",
        "suggested_mechanism",
        "peak_calcium_mg_dl",
        "peak_calcium_mmol_l",
        "nadir_calcium_mg_dl",
        "peak_ctcae_grade",
        "nadir_ctcae_grade",
        "first_calcium_directed",
        "calcium_normalised",
        "days_to_normalisation",
        "follow_up_days",
    ):
        assert pd.isna(row[column]), column
    assert row["age_90_or_over"] == False  # noqa: E712 (a numpy bool)
    assert row["completeness_score"] == 2


def test_the_lab_table_has_one_row_per_result_in_these_columns(curator, cohort):
    df = read_csv(curator, LABS_CSV)
    assert list(df.columns) == [
        *("case_id", "lab_id", "sequence", "day", "day_is_approximate", "analyte", "loinc", "specimen"),
        *("comparator", "value", "value_high", "unit", "qualitative", "ref_low", "ref_high"),
        *("si_value", "si_value_high", "si_unit", "conventional_value", "conventional_value_high"),
        *("conventional_unit", "interpretation", "interpretation_basis", "follows_intervention_id"),
    ]
    # A's two results, C's two, none for D.
    assert list(df["case_id"]) == [cohort["A"]["id"]] * 2 + [cohort["C"]["id"]] * 2
    assert pd.api.types.is_string_dtype(df["case_id"])
    for column in ("lab_id", "sequence", "day", "value", "ref_low", "ref_high", "si_value", "conventional_value"):
        assert pd.api.types.is_numeric_dtype(df[column]), column


def test_the_lab_table_gives_each_value_in_si_and_conventional_units(curator, cohort):
    df = read_csv(curator, LABS_CSV).set_index("lab_id")
    a_labs, c_labs = cohort["A"]["labs"], cohort["C"]["labs"]
    zoledronic_acid = cohort["A"]["interventions"][0]["id"]

    high = df.loc[a_labs[0]["id"]]  # 14.0 mg/dL x 0.2495 = 3.493 -> 3.49 mmol/L; above 10.1
    assert (high["analyte"], high["loinc"], high["value"], high["unit"]) == ("calcium_total", "17861-6", 14.0, "mg/dL")
    assert (high["ref_low"], high["ref_high"]) == (8.9, 10.1)
    assert (high["si_value"], high["si_unit"]) == (3.49, "mmol/L")
    assert (high["conventional_value"], high["conventional_unit"]) == (14.0, "mg/dL")
    assert (high["interpretation"], high["interpretation_basis"]) == ("high", "reported_range")
    assert (high["sequence"], high["day"]) == (2, 0)
    assert pd.isna(high["follows_intervention_id"])

    after = df.loc[a_labs[1]["id"]]  # 9.5 x 0.2495 = 2.370 -> 2.37 mmol/L; within 8.9-10.1
    assert (after["si_value"], after["interpretation"]) == (2.37, "normal")
    assert after["follows_intervention_id"] == zoledronic_acid

    low = df.loc[c_labs[0]["id"]]  # 1.6 mmol/L / 0.2495 = 6.413 -> 6.41 mg/dL; below 2.1
    assert (low["value"], low["unit"], low["si_value"], low["si_unit"]) == (1.6, "mmol/L", 1.6, "mmol/L")
    assert (low["conventional_value"], low["conventional_unit"]) == (6.41, "mg/dL")
    assert pd.isna(low["loinc"])  # 17861-6 is total calcium as a mass concentration (mg/dL) only
    assert low["interpretation"] == "low"

    pth = df.loc[c_labs[1]["id"]]  # 120 pg/mL x 0.106 = 12.72 pmol/L; above 65
    assert (pth["analyte"], pth["loinc"], pth["value"], pth["unit"]) == ("pth_intact", "2731-8", 120.0, "pg/mL")
    assert (pth["si_value"], pth["si_unit"]) == (12.72, "pmol/L")
    assert (pth["conventional_value"], pth["conventional_unit"]) == (120.0, "pg/mL")
    assert pth["interpretation"] == "high"


def test_the_case_list_filters_apply_to_both_tables(curator, cohort):
    cases = read_csv(curator, CASES_CSV, {"disorder": "hypocalcemia"})
    labs = read_csv(curator, LABS_CSV, {"disorder": "hypocalcemia"})
    assert list(cases["case_id"]) == [cohort["C"]["id"]]
    assert list(labs["case_id"]) == [cohort["C"]["id"]] * 2
    # Same-row semantics as the list: A recommended denosumab.
    same_row = {"agent": "denosumab", "intervention_status": "recommended"}
    assert list(read_csv(curator, CASES_CSV, same_row)["case_id"]) == [cohort["A"]["id"]]
    assert set(read_csv(curator, LABS_CSV, same_row)["case_id"]) == {cohort["A"]["id"]}
    # Ordering too: peaks A 14.0, C 6.41, D none (last).
    ordered = read_csv(curator, CASES_CSV, {"ordering": "-peak_calcium"})
    assert list(ordered["case_id"]) == [cohort["A"]["id"], cohort["C"]["id"], cohort["D"]["id"]]


def test_an_empty_selection_is_a_header_only_table(curator, cohort):
    cases = read_csv(curator, CASES_CSV, {"disorder": "hypocalcemia", "sex": "female"})
    labs = read_csv(curator, LABS_CSV, {"disorder": "soft_tissue_calcification"})  # D has no labs
    assert (len(cases), len(cases.columns)) == (0, len(exports.CASE_COLUMNS))
    assert (len(labs), len(labs.columns)) == (0, 24)


@pytest.mark.parametrize("url", [CASES_CSV, LABS_CSV])
def test_an_invalid_filter_is_a_400(curator, url):
    response = curator.get(url, {"disorder": "nonsense"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["disorder"]


def test_an_analysts_tables_leave_out_drafts(cohort):
    publish(cohort["A"])
    analyst = client_for("analyst")
    assert list(read_csv(analyst, CASES_CSV)["case_id"]) == [cohort["A"]["id"]]
    assert list(read_csv(analyst, LABS_CSV)["case_id"]) == [cohort["A"]["id"]] * 2
    assert len(read_csv(analyst, CASES_CSV, {"disorder": "hypocalcemia"})) == 0  # C is a draft


def test_the_json_list_flattens_with_json_normalize(curator, cohort):
    results = curator.get(CASES).json()["results"]
    df = pd.json_normalize(results).set_index("id")
    a, c, d = (df.loc[cohort[letter]["id"]] for letter in "ACD")
    assert (a["patient.age_years"], a["patient.sex"], a["source.year"]) == (67, "female", 2013)
    assert (a["derived.peak_calcium.mg_dl"], a["derived.peak_calcium.mmol_l"]) == (14.0, 3.49)
    assert (a["derived.peak_ctcae.grade"], a["derived.nadir_calcium.mg_dl"]) == (4, 9.5)
    assert (a["derived.normalisation.normalised"], a["derived.normalisation.days"]) == (True, 5)
    assert (c["patient.age_years"], c["patient.age_90_or_over"]) == (90, True)
    assert (c["derived.peak_calcium.mg_dl"], c["derived.peak_calcium.mmol_l"]) == (6.41, 1.6)
    assert c["derived.nadir_ctcae.grade"] == 3
    assert pd.isna(d["patient.age_years"])
    assert pd.isna(d["derived.peak_calcium.mg_dl"])


def test_the_csv_exports_take_the_same_number_of_queries_for_1_or_10_cases(curator, agents, django_assert_num_queries):
    # Expected queries for cases.csv, whatever the number of cases (7):
    #   1. the cases, joined to their source, created_by and updated_by
    #   2. their tumors
    #   3. their metastases
    #   4. their mechanisms, joined to the suspect agent
    #   5. their findings
    #   6. their lab results
    #   7. their interventions, joined to the agent
    # and for labs.csv (1): the lab results of the filtered cases (a subquery), in case and timeline order.
    post_case(curator, A)
    curator.get(CASES_CSV)  # the first request of a user also reads its permissions (2 queries)
    for url, rows, queries in ((CASES_CSV, 1, 7), (LABS_CSV, 2, 1)):
        with django_assert_num_queries(queries):
            assert len(read_csv(curator, url)) == rows
    for _ in range(9):
        post_case(curator, A)
    for url, rows, queries in ((CASES_CSV, 10, 7), (LABS_CSV, 20, 1)):
        with django_assert_num_queries(queries):
            assert len(read_csv(curator, url)) == rows


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_text_a_spreadsheet_would_run_as_a_formula_starts_with_an_apostrophe(curator, text):
    # OWASP's CSV-injection advice: a cell starting with = + - @ tab or CR gets a leading apostrophe.
    post_case(
        curator,
        {
            **D,
            "title": text,
            "tumors": [{"site": "breast", "histology": text}],
            "interventions": [{"category": "drug", "agent_text": text, "intent": "calcium_directed", "day": 0}],
        },
    )
    row = read_csv(curator, CASES_CSV).iloc[0]
    assert (row["title"], row["histology"], row["first_calcium_directed"]) == ("'" + text,) * 3


def test_numbers_stay_numbers_negative_ones_too(curator):
    post_case(
        curator,
        {
            **D,
            "title": "-3 days before: a title that reads as text",
            "labs": [
                {"analyte": "calcium_total", "value": 7.1, "unit": "mg/dL", "sequence": 1, "day": -3},
                {"analyte": "calcium_total", "value": 8.0, "unit": "mg/dL", "sequence": 2, "day": 2},
            ],
        },
    )
    labs = read_csv(curator, LABS_CSV)
    assert labs["day"].tolist() == [-3, 2]
    assert pd.api.types.is_integer_dtype(labs["day"])
    assert labs["value"].tolist() == [7.1, 8.0]
    # Text that starts with a minus but is not a number still gets its apostrophe.
    assert read_csv(curator, CASES_CSV)["title"].tolist() == ["'-3 days before: a title that reads as text"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("\t=1", "'\t=1"),  # the API trims text, so tab and CR are checked here
        ("\r=1", "'\r=1"),
        ("\t-3", "'\t-3"),
        ("-3", "-3"),  # text that is a number stays a number
        ("-1.5e3", "-1.5e3"),
        (-3, -3),
        (-2.5, -2.5),
        (None, ""),
        ("calcium_total", "calcium_total"),
    ],
)
def test_only_text_that_is_not_a_number_is_escaped(value, cell):
    assert exports.cell(value) == cell


def test_the_case_table_carries_a_censored_peak_and_ionized_grades(curator):
    posted = post_case(
        curator,
        {
            "labs": [
                {"analyte": "calcium_total", "value": 12, "unit": "mg/dL", "sequence": 1},
                {"analyte": "calcium_total", "comparator": ">", "value": 15, "unit": "mg/dL", "sequence": 2},
                {"analyte": "calcium_ionized", "value": 1.7, "unit": "mmol/L", "ref_low": 1.12, "ref_high": 1.32},
            ]
        },
    )
    row = read_csv(curator, CASES_CSV).set_index("case_id").loc[posted["id"]]
    assert (row["peak_calcium_mg_dl"], row["peak_calcium_comparator"], row["peak_ctcae_grade"]) == (15.0, ">", 4)
    assert (row["nadir_calcium_mg_dl"], row["nadir_calcium_mmol_l"]) == (12.0, 2.99)  # 12 x 0.2495 = 2.994
    assert pd.isna(row["nadir_calcium_comparator"])
    # ionized 1.7 mmol/L: > 1.6 to 1.8 -> grade 3 (peak and nadir are the one value)
    assert (row["ionized_peak_mmol_l"], row["ionized_peak_ctcae_grade"]) == (1.7, 3)
    assert (row["ionized_nadir_mmol_l"], row["ionized_nadir_ctcae_grade"]) == (1.7, 0)
