"""The tidy CSV tables, tables.zip and the codebook, read the way analysts read them: with pandas and the
codebook's dtypes (R reads them in test_exports_r.py)."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pandas as pd
import pytest
from django.core.cache import cache
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases import measures, tables
from cases.models import Agent, Case
from tests.api.documents import client_for, make_document
from tests.factories import make_source

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
EXPORTS = "/api/v1/exports/"
CASES_CSV = f"{EXPORTS}cases.csv"
LABS_CSV = f"{EXPORTS}labs.csv"
TABLE_URLS = [f"{EXPORTS}{name}.csv" for name in tables.TABLES]
TABLES_ZIP = f"{EXPORTS}tables.zip"
PHENOPACKETS_JSONL = f"{EXPORTS}phenopackets.jsonl"
PHENOPACKETS_ZIP = f"{EXPORTS}phenopackets.zip"
CODEBOOK_CSV = "/api/v1/codebook.csv"
CODEBOOK_JSON = "/api/v1/codebook.json"

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
            # a step in words only (synthetic: no dose is made up), so that dose_steps.csv has a row
            "dose_steps": [{"dose_text": "continued as an infusion", "timing_text": "the next day"}],
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


def body(response) -> bytes:
    """The whole body of a streamed export (every export streams)."""
    assert response.status_code == 200, response.content if not response.streaming else response.status_code
    assert response.streaming
    return b"".join(response.streaming_content)


def pandas_dtypes(client, table: str) -> dict[str, str]:
    """The table's pandas dtypes, from the served codebook (itself read with no options)."""
    codebook = pd.read_csv(io.BytesIO(client.get(CODEBOOK_CSV).content))
    rows = codebook[codebook["table"] == table]
    return dict(zip(rows["column"], rows["pandas_dtype"], strict=True))


def read_csv(client, url: str, params: dict | None = None) -> pd.DataFrame:
    """What an analyst does: read the table with the codebook's dtypes and no other option."""
    response = client.get(url, params or {})
    data = body(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    table = url.rsplit("/", 1)[1].removesuffix(".csv")
    return pd.read_csv(io.BytesIO(data), dtype=pandas_dtypes(client, table))


def rows_by_id(client, table: str, id_column: str, **params) -> pd.DataFrame:
    return read_csv(client, f"{EXPORTS}{table}.csv", params).set_index(id_column)


def publish(*documents: dict) -> None:
    Case.objects.filter(pk__in=[int(d["id"].removeprefix("CCR-")) for d in documents]).update(status="published")


@pytest.mark.parametrize("url", [*TABLE_URLS, TABLES_ZIP, CODEBOOK_CSV, CODEBOOK_JSON])
def test_anonymous_gets_401(url):
    assert APIClient().get(url).status_code == 401


def test_the_case_table_has_one_row_per_case_in_these_columns(curator, cohort):
    df = read_csv(curator, CASES_CSV)
    assert list(df.columns) == [
        *("case_id", "status", "title", "case_label"),
        *("source_kind", "source_citation", "source_title", "source_journal", "source_year", "doi", "pmid"),
        *("age_years", "age_90_or_over", "sex", "menopausal_status", "disorder", "index_event"),
        *("main_mechanism", "suggested_mechanism", "mechanism_agreement", "completeness_score"),
        *("peak_calcium_mg_dl", "peak_calcium_mmol_l", "peak_calcium_basis", "peak_calcium_comparator"),
        *("nadir_calcium_mg_dl", "nadir_calcium_mmol_l", "nadir_calcium_comparator"),
        *("peak_ctcae_grade", "peak_ctcae_basis", "peak_ctcae_limit_basis", "nadir_ctcae_grade"),
        *("ionized_peak_mmol_l", "ionized_peak_ctcae_grade", "ionized_nadir_mmol_l", "ionized_nadir_ctcae_grade"),
        *("first_calcium_directed", "calcium_normalised", "days_to_normalisation", "first_intervention_normalised"),
        *("vital_status", "follow_up_days", "follow_up_text", "calcium_outcome", "tumor_response"),
        *("version", "updated_at"),
    ]
    assert list(df["case_id"]) == [cohort["A"]["id"], cohort["C"]["id"], cohort["D"]["id"]]


@pytest.mark.parametrize("table", list(tables.TABLES))
def test_every_table_reads_with_the_codebooks_dtypes_and_no_other_option(curator, cohort, table):
    dtypes = pandas_dtypes(curator, table)
    df = read_csv(curator, f"{EXPORTS}{table}.csv")
    assert list(df.columns) == list(dtypes) == tables.TABLES[table].column_names
    assert len(df) > 0
    for column, dtype in dtypes.items():
        assert str(df[column].dtype) == dtype, column
    # Without any option pandas reads the same cells as the same kinds: NA is missing, TRUE/FALSE booleans,
    # identifiers text (a CURIE is never a number).
    plain = pd.read_csv(io.BytesIO(body(curator.get(f"{EXPORTS}{table}.csv"))))
    for column, dtype in dtypes.items():
        if dtype == "string":
            assert not pd.api.types.is_numeric_dtype(plain[column]) or plain[column].isna().all(), column


def test_cells_are_true_false_and_na_never_empty(curator, cohort):
    text = body(curator.get(CASES_CSV)).decode()
    d_row = next(line for line in text.splitlines() if line.startswith(cohort["D"]["id"]))
    assert ",," not in d_row and not d_row.endswith(",")
    assert ",NA," in d_row and ",FALSE," in d_row  # age unknown; not 90 or over
    assert "True" not in text and "False" not in text


def test_the_case_table_row_of_a_known_case(curator, cohort):
    row = rows_by_id(curator, "cases", "case_id").loc[cohort["A"]["id"]]
    assert (row["status"], row["title"]) == ("draft", "Breast cancer with PTHrP-mediated hypercalcemia")
    assert (row["source_kind"], row["source_year"]) == ("case_report", 2013)
    assert (row["doi"], row["pmid"]) == ("DOI:10.1155/2013/871917", "PMID:23710001")  # CURIEs, never numbers
    assert (row["age_years"], row["age_90_or_over"], row["sex"]) == (67, False, "female")
    assert (row["menopausal_status"], row["disorder"]) == ("postmenopausal", "hypercalcemia")
    assert (row["main_mechanism"], row["mechanism_agreement"]) == ("humoral_pthrp", "no_suggestion")
    assert pd.isna(row["suggested_mechanism"])
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
    assert row["calcium_normalised"] == True  # noqa: E712 (a numpy bool from pandas' nullable boolean)
    assert row["days_to_normalisation"] == 5
    assert (row["vital_status"], row["follow_up_days"], row["calcium_outcome"]) == ("alive", 180, "normalised")
    assert row["tumor_response"] == "partial_response"
    assert row["version"] == 1
    assert pd.Timestamp(row["updated_at"]).tzinfo is not None


def test_the_case_table_row_of_a_hypocalcemia_case_in_mmol_l(curator, cohort):
    row = rows_by_id(curator, "cases", "case_id").loc[cohort["C"]["id"]]
    assert (row["age_years"], row["age_90_or_over"]) == (90, True)
    assert (row["peak_calcium_mg_dl"], row["peak_calcium_mmol_l"]) == (6.41, 1.6)
    assert (row["nadir_calcium_mg_dl"], row["nadir_calcium_mmol_l"]) == (6.41, 1.6)
    assert (row["peak_ctcae_grade"], row["nadir_ctcae_grade"]) == (0, 3)
    assert row["first_calcium_directed"] == "calcium gluconate"  # no agent: the name as reported
    assert pd.isna(row["calcium_normalised"])
    assert pd.isna(row["days_to_normalisation"])
    assert (row["suggested_mechanism"], row["mechanism_agreement"]) == ("osteoblastic_hungry_bone", "agree")
    assert row["completeness_score"] == 5


def test_missing_values_are_missing(curator, cohort):
    row = rows_by_id(curator, "cases", "case_id").loc[cohort["D"]["id"]]
    for column in (
        "age_years",
        "doi",
        "pmid",
        "main_mechanism",
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


def test_the_export_reads_the_stored_derived_values(curator, cohort):
    # One source per row: what refresh_derived stored is what the table says, even where a recomputation would
    # give another value (here a value set behind the model's back).
    Case.objects.filter(pk=int(cohort["A"]["id"][4:])).update(peak_calcium_mg_dl=Decimal("13.25"), peak_ctcae_grade=3)
    row = rows_by_id(curator, "cases", "case_id").loc[cohort["A"]["id"]]
    assert (row["peak_calcium_mg_dl"], row["peak_ctcae_grade"]) == (13.25, 3)


def test_multi_valued_facts_live_in_the_long_tables(curator, cohort):
    a, c = cohort["A"], cohort["C"]
    tumors = rows_by_id(curator, "tumors", "tumor_id")
    breast = tumors.loc[a["tumors"][0]["id"]]
    assert (breast["case_id"], breast["site"], breast["icdo3_topography"]) == (a["id"], "breast", "ICDO:C50.9")
    assert (breast["histology"], breast["icdo3_morphology"]) == ("Invasive ductal carcinoma", "ICDO:8500/3")
    assert (breast["er"], breast["pr"], breast["her2"], breast["hormone_receptor"]) == (
        *("positive", "negative", "negative", "positive"),
    )
    assert list(tumors["case_id"]) == [a["id"], c["id"]]  # D has none

    metastases = rows_by_id(curator, "metastases", "metastasis_id")
    assert [(r.case_id, r.site, r.present) for r in metastases.itertuples()] == [
        (a["id"], "liver", True),
        (a["id"], "bone", False),  # explicitly free
        (c["id"], "bone", True),
    ]

    mechanisms = read_csv(curator, f"{EXPORTS}mechanisms.csv")
    assert [(r.case_id, r.rank, r.mechanism, r.certainty, r.recorded) for r in mechanisms.itertuples()] == [
        (a["id"], 1, "local_osteolytic", "excluded", False),
        (a["id"], 2, "humoral_pthrp", "confirmed", True),
        (c["id"], 1, "osteoblastic_hungry_bone", "probable", True),
    ]

    interventions = rows_by_id(curator, "interventions", "intervention_id")
    zoledronic = interventions.loc[a["interventions"][0]["id"]]
    assert (zoledronic["agent"], zoledronic["agent_atc"], zoledronic["status"]) == (
        "zoledronic_acid",
        "ATC:M05BA08",
        "administered",
    )
    assert (zoledronic["calcium_before_mg_dl"], zoledronic["calcium_after_mg_dl"]) == (14.0, 9.5)
    assert (zoledronic["calcium_normal_after"], zoledronic["days_to_calcium_after"]) == (True, 5)
    recommended = interventions.loc[a["interventions"][1]["id"]]
    assert (recommended["status"], recommended["calcium_response"]) == ("recommended", "not_assessed")
    assert pd.isna(recommended["day"]) and pd.isna(recommended["calcium_before_mg_dl"])
    gluconate = interventions.loc[c["interventions"][0]["id"]]
    assert pd.isna(gluconate["agent"]) and gluconate["agent_text"] == "calcium gluconate"


def test_the_lab_table_has_one_row_per_result_in_these_columns(curator, cohort):
    df = read_csv(curator, LABS_CSV)
    assert list(df.columns) == [
        *("case_id", "lab_id", "sequence", "day", "day_is_approximate", "timing_text", "analyte", "loinc"),
        *("specimen", "comparator", "value", "value_high", "value_is_approximate", "unit", "unit_not_reported"),
        *("qualitative", "ref_low", "ref_high"),
        *("si_value", "si_value_high", "si_unit", "conventional_value", "conventional_value_high"),
        *("conventional_unit", "interpretation", "interpretation_basis"),
        *("anchor_intervention_id", "anchor_offset_days", "anchor_offset_is_approximate"),  # timed from one
        *("follows_intervention_id", "quote"),
    ]
    # A's two results, C's two, none for D.
    assert list(df["case_id"]) == [cohort["A"]["id"]] * 2 + [cohort["C"]["id"]] * 2


def test_the_lab_table_gives_each_value_in_si_and_conventional_units(curator, cohort):
    df = rows_by_id(curator, "labs", "lab_id")
    a_labs, c_labs = cohort["A"]["labs"], cohort["C"]["labs"]
    zoledronic_acid = cohort["A"]["interventions"][0]["id"]

    high = df.loc[a_labs[0]["id"]]  # 14.0 mg/dL x 0.2495 = 3.493 -> 3.49 mmol/L; above 10.1
    assert (high["analyte"], high["loinc"], high["value"], high["unit"]) == (
        *("calcium_total", "LOINC:17861-6", 14.0, "mg/dL"),
    )
    assert (high["ref_low"], high["ref_high"]) == (8.9, 10.1)
    assert (high["si_value"], high["si_unit"]) == (3.49, "mmol/L")
    assert (high["conventional_value"], high["conventional_unit"]) == (14.0, "mg/dL")
    assert (high["interpretation"], high["interpretation_basis"]) == ("high", "reported_range")
    assert (high["sequence"], high["day"], high["day_is_approximate"]) == (2, 0, False)
    assert high["quote"] == "serum calcium of 14.0 mg/dL"
    assert pd.isna(high["follows_intervention_id"])

    after = df.loc[a_labs[1]["id"]]  # 9.5 x 0.2495 = 2.370 -> 2.37 mmol/L; within 8.9-10.1
    assert (after["si_value"], after["interpretation"]) == (2.37, "normal")
    assert after["follows_intervention_id"] == zoledronic_acid
    links = read_csv(curator, f"{EXPORTS}lab_follows.csv")  # every link, one row each (issue 13)
    assert list(links.itertuples(index=False, name=None)) == [(cohort["A"]["id"], a_labs[1]["id"], zoledronic_acid)]

    low = df.loc[c_labs[0]["id"]]  # 1.6 mmol/L / 0.2495 = 6.413 -> 6.41 mg/dL; below 2.1
    assert (low["value"], low["unit"], low["si_value"], low["si_unit"]) == (1.6, "mmol/L", 1.6, "mmol/L")
    assert (low["conventional_value"], low["conventional_unit"]) == (6.41, "mg/dL")
    assert pd.isna(low["loinc"])  # 17861-6 is total calcium as a mass concentration (mg/dL) only
    assert low["interpretation"] == "low"

    pth = df.loc[c_labs[1]["id"]]  # 120 pg/mL x 0.106 = 12.72 pmol/L; above 65
    assert (pth["analyte"], pth["loinc"], pth["value"], pth["unit"]) == ("pth_intact", "LOINC:2731-8", 120.0, "pg/mL")
    assert (pth["si_value"], pth["si_unit"]) == (12.72, "pmol/L")
    assert pth["interpretation"] == "high"


def test_the_case_list_filters_apply_to_every_table(curator, cohort):
    for url in TABLE_URLS:
        assert set(read_csv(curator, url, {"disorder": "hypocalcemia"})["case_id"]) <= {cohort["C"]["id"]}, url
    assert list(read_csv(curator, CASES_CSV, {"disorder": "hypocalcemia"})["case_id"]) == [cohort["C"]["id"]]
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
    assert (len(cases), len(cases.columns)) == (0, len(tables.CASES.columns))
    assert (len(labs), len(labs.columns)) == (0, len(tables.LABS.columns))


@pytest.mark.parametrize("url", [CASES_CSV, LABS_CSV, TABLES_ZIP])
def test_an_invalid_filter_is_a_400(curator, url):
    response = curator.get(url, {"disorder": "nonsense"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["disorder"]


def test_an_analysts_tables_leave_out_drafts(cohort):
    publish(cohort["A"])
    analyst = client_for("analyst")
    assert list(read_csv(analyst, CASES_CSV)["case_id"]) == [cohort["A"]["id"]]
    assert list(read_csv(analyst, LABS_CSV)["case_id"]) == [cohort["A"]["id"]] * 2
    assert set(read_csv(analyst, f"{EXPORTS}mechanisms.csv")["case_id"]) == {cohort["A"]["id"]}
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


def test_the_exports_stream_in_the_same_number_of_queries_for_1_or_12_cases(curator, agents):
    # Each table is one query over a server-side cursor, whatever the number of rows:
    #   cases.csv: the cases joined to their source, with the first calcium-directed intervention as a subquery;
    #   every long table: its rows of the filtered cases (a subquery), joined to the agent where it has one.
    #   labs.csv: also the links to the interventions each result follows, per chunk of rows (issue 13: 2).
    # tables.zip: the nine tables' queries and the labs' links (10). phenopackets.jsonl / .zip (per chunk of 200
    #   cases, so 9 here): the cases with source and users, then tumors, metastases, mechanisms (+agents),
    #   findings, labs, their links to interventions, interventions (+agents), their dose steps.
    # On PostgreSQL cases.csv and labs.csv are one COPY each, links included (issue 16: cases.tables_copy).
    copied = connection.vendor == "postgresql"
    expected = {
        **{url: 1 for url in TABLE_URLS},
        f"{EXPORTS}labs.csv": 1 if copied else 2,
        # Issue 13, point 1: episodes.csv reads its rows and, per chunk, the interventions the normalisation names
        # (2; tables.zip 10 + 2 = 12); the phenopackets read the episodes with the cases (+1 = 10).
        f"{EXPORTS}episodes.csv": 2,
        TABLES_ZIP: 11 if copied else 12,
        PHENOPACKETS_JSONL: 10,
        PHENOPACKETS_ZIP: 10,
    }
    post_case(curator, A)
    curator.get(CASES_CSV)  # the first request of a user also reads its permissions (1 query, registry.auth_backends)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = curator.get(url)
            assert isinstance(response, StreamingHttpResponse), url
            body(response)
        return len(captured.captured_queries)

    one = {url: queries(url) for url in expected}
    for _ in range(11):
        post_case(curator, A)
    twelve = {url: queries(url) for url in expected}
    assert one == twelve == expected


def test_tables_zip_holds_every_table_and_the_codebook(curator, cohort):
    response = curator.get(TABLES_ZIP)
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.namelist() == [*(f"{name}.csv" for name in tables.TABLES), "codebook.csv", "codebook.json"]
    codebook = pd.read_csv(archive.open("codebook.csv"))
    for name in tables.TABLES:
        entries = codebook[codebook["table"] == name]
        df = pd.read_csv(
            archive.open(f"{name}.csv"), dtype=dict(zip(entries["column"], entries["pandas_dtype"], strict=True))
        )
        assert list(df.columns) == list(entries["column"])
    cases = pd.read_csv(archive.open("cases.csv"))
    assert list(cases["case_id"]) == [cohort[letter]["id"] for letter in "ACD"]
    assert (
        json.loads(archive.read("codebook.json"))["columns"]
        == json.loads(curator.get(CODEBOOK_JSON).content)["columns"]
    )


def test_the_codebook_describes_every_column_with_its_codes(curator):
    codebook = json.loads(curator.get(CODEBOOK_JSON).content)
    assert [t["table"] for t in codebook["tables"]] == list(tables.TABLES)
    columns = {(c["table"], c["column"]): c for c in codebook["columns"]}
    assert len(columns) == sum(len(t.columns) for t in tables.TABLES.values())
    assert all(c["dtype"] in tables.DTYPES and c["meaning"] for c in columns.values())
    disorder = columns[("cases", "disorder")]
    assert disorder["dtype"] == "code"
    assert {"code": "hypercalcemia", "label": "Hypercalcemia", "system": "HPO", "external_code": "HP:0003072"} in (
        disorder["codes"]
    )
    assert {c["code"] for c in columns[("labs", "analyte")]["codes"]} == set(measures.analytes())
    assert columns[("cases", "peak_calcium_mmol_l")]["unit"] == "mmol/L"
    assert (columns[("cases", "age_years")]["pandas_dtype"], columns[("cases", "age_years")]["r_class"]) == (
        "Int64",
        "integer",
    )
    csv_book = pd.read_csv(io.BytesIO(curator.get(CODEBOOK_CSV).content))
    site = csv_book[(csv_book["table"] == "tumors") & (csv_book["column"] == "site")].iloc[0]
    assert "breast, Breast [ICD-O-3 topography C50.9]" in site["codes"]


def test_the_codebook_page_lists_every_table(curator, cohort):
    from django.test import Client

    from tests.factories import make_user

    client = Client()
    client.force_login(make_user("page-reader", "analyst"))
    html = client.get("/codebook/").content.decode()
    for name, table in tables.TABLES.items():
        assert f'id="{name}"' in html
        assert all(f'id="{name}-{c.name}"' in html for c in table.columns)
    assert "Serum total calcium" in html and "LOINC 17861-6" in html


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
    case = read_csv(curator, CASES_CSV).iloc[0]
    assert (case["title"], case["first_calcium_directed"]) == ("'" + text,) * 2
    assert read_csv(curator, f"{EXPORTS}tumors.csv").iloc[0]["histology"] == "'" + text
    assert read_csv(curator, f"{EXPORTS}interventions.csv").iloc[0]["agent_text"] == "'" + text


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
        (-3, "-3"),
        (Decimal("-2.50"), "-2.5"),
        (Decimal("14.0000"), "14"),
        (True, "TRUE"),
        (False, "FALSE"),
        (None, "NA"),
        ("", "NA"),
        ("calcium_total", "calcium_total"),
    ],
)
def test_cells(value, cell):
    assert tables.cell(value) == cell


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
    row = rows_by_id(curator, "cases", "case_id").loc[posted["id"]]
    assert (row["peak_calcium_mg_dl"], row["peak_calcium_comparator"], row["peak_ctcae_grade"]) == (15.0, ">", 4)
    assert (row["nadir_calcium_mg_dl"], row["nadir_calcium_mmol_l"]) == (12.0, 2.99)  # 12 x 0.2495 = 2.994
    assert pd.isna(row["nadir_calcium_comparator"])
    # ionized 1.7 mmol/L: > 1.6 to 1.8 -> grade 3 (peak and nadir are the one value)
    assert (row["ionized_peak_mmol_l"], row["ionized_peak_ctcae_grade"]) == (1.7, 3)
    assert (row["ionized_nadir_mmol_l"], row["ionized_nadir_ctcae_grade"]) == (1.7, 0)
