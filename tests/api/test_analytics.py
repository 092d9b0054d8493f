"""The cohort analytics endpoints, checked number by number against a hand-built cohort entered through the API
(so that every derived value is computed as in production).

Every expected value below is worked out by hand in the comments from the rules of cases/measures.py,
cases/quality.py and cases/analytics.py; none is computed by calling the code under test.
"""

from __future__ import annotations

import pandas
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import Agent, Case
from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
SUMMARY = "/api/v1/analytics/summary/"
INTERVENTIONS = "/api/v1/analytics/interventions/"
TRAJECTORIES = "/api/v1/analytics/trajectories/"
ENDPOINTS = [SUMMARY, INTERVENTIONS, TRAJECTORIES]

RESPONSES = ("normalised", "partial", "transient", "none", "not_assessed")


# --- building blocks of the documents ------------------------------------------------------------------------


def ca(value, sequence, day=None, **extra) -> dict:
    """Serum total calcium in mg/dL with the reference range 8.5-10.2 mg/dL."""
    return {
        "analyte": "calcium_total",
        "value": value,
        "unit": "mg/dL",
        "ref_low": 8.5,
        "ref_high": 10.2,
        "sequence": sequence,
        "day": day,
        **extra,
    }


def albumin(value, sequence, day) -> dict:
    return {"analyte": "albumin", "value": value, "unit": "g/dL", "sequence": sequence, "day": day}


def pth(value, sequence=1) -> dict:
    return {
        "analyte": "pth_intact",
        "value": value,
        "unit": "pg/mL",
        "ref_low": 15,
        "ref_high": 65,
        "sequence": sequence,
    }


def pthrp(value=None, qualitative="", sequence=1) -> dict:
    if value is None:
        return {"analyte": "pthrp", "qualitative": qualitative, "sequence": sequence}
    return {"analyte": "pthrp", "value": value, "unit": "pmol/L", "ref_low": 0, "ref_high": 2.0, "sequence": sequence}


def rx(agent, sequence, day=None, *, response="not_assessed", intent="calcium_directed", status="administered", **kw):
    category = {"iv_hydration": "supportive_care"}.get(agent, "drug")
    return {
        "category": category,
        "agent": agent,
        "agent_text": agent or kw.pop("text"),
        "intent": intent,
        "status": status,
        "sequence": sequence,
        "day": day,
        "calcium_response": response,
        **kw,
    }


def tumor(site, er="unknown", pr="unknown", her2="unknown", hr="unknown") -> dict:
    return {"site": site, "er": er, "pr": pr, "her2": her2, "hormone_receptor": hr, "sequence": 1}


NA = {"er": "not_applicable", "pr": "not_applicable", "her2": "not_applicable", "hr": "not_applicable"}
BONE = {"site": "bone", "present": True, "sequence": 1}
NO_BONE = {"site": "bone", "present": False, "sequence": 1}
LIVER = {"site": "liver", "present": True, "sequence": 1}


def mechanism(code, rank=1, certainty="probable", **kw) -> dict:
    return {"rank": rank, "code": code, "certainty": certainty, **kw}


# --- the cohort ----------------------------------------------------------------------------------------------
#
# Ten published cases A-I and K, plus one draft J (only curators and reviewers see it). Calcium reference range
# 8.5-10.2 mg/dL throughout. Payne: corrected = Ca + 0.8 x (4.0 - albumin g/dL), used only with an albumin of the
# same day. The peak is the highest calcium value (the high end of a range; the corrected value where there is
# one). CTCAE v5.0 hypercalcemia grade of the peak: 1 above the ULN 10.2, 2 > 11.5, 3 > 12.5, 4 > 13.5 mg/dL.
#
#      disorder/main mechanism   age  tumour site(s)    peak (mg/dL)                   grade  suggestion -> agreement
#   A  hyper/humoral_pthrp        45   breast            13.2 + 0.8 x (4.0-3.0) = 14.00   4    humoral_pthrp -> agree
#   B  hyper/humoral_pthrp        58   lung              12.60                            3    humoral_pthrp -> agree
#   C  hyper/humoral_pthrp        71   breast            max(11.8 + 0.8 x (4.0-4.5)       2    ectopic_pth,
#                                                            = 11.40, 11.60) = 11.60            coexisting_hyper-
#                                                                                               parathyroidism
#                                                                                               -> DISAGREE
#   D  hyper/local_osteolytic     66   breast            12.20                            2    local_osteolytic -> agree
#   E  hyper/local_osteolytic     80   kidney+prostate   14.4 + 0.8 x (4.0-2.5) = 15.60   4    local_osteolytic -> agree
#   F  hyper/local_osteolytic  93->90  breast            11.00                            1    local_osteolytic -> agree
#   G  hyper/drug_related         52   breast            range 12.0-12.8 -> 12.80         3    none -> no_suggestion
#   H  hypo/drug_related          35   breast            max(6.8, 8.6) = 8.60             0    none -> no_suggestion
#   I  hyper/(none recorded)    null   lymph nodes       11.80                            2    calcitriol_mediated
#                                                                                               -> no_mechanism
#   K  calcification/dystrophic null   breast            9.40                             0    dystrophic -> agree
#
# Suggestions: A PTHrP 8.0 > 2.0 (high), PTH 9 < 15 (low), bone metastasis absent. B PTHrP "high" (the source's
# word), PTH 10 low; bone metastases present, but PTHrP high rules osteolytic out. C PTH 120 > 65 (high) -> the two
# PTH rules, although the curator recorded humoral_pthrp. D PTH 8 low, PTHrP 0.5 within 0-2.0, bone present.
# E PTH 12 low, PTHrP "normal", bone present. F PTH 10 low, PTHrP "normal", bone present. G no PTH measured, so no
# hypercalcemia rule can apply. H Mg 1.9 in 1.7-2.2, 25-OH D 30 in 20-100, PTH 40 in 15-65, bone metastasis absent.
# I 1,25-(OH)2 D 110 > 72, PTH 9 low. K calcium 9.4 within range, phosphate "normal".
#
# Interventions (administered unless said otherwise; calcium "before" = the last calcium earlier on the timeline,
# "after" = the linked result, else the first later one before the next administered intervention; "normal after"
# = that value within 8.5-10.2; days = its day - the intervention's day when both are known):
#
#  #   case agent (class)                  intent     status        response     before  after  normal  days
#  1   A    iv_hydration (supportive)      calcium    administered  partial      14.00   12.00  no      1-0=1
#  2   A    zoledronic_acid (bisphosph.)   calcium    administered  normalised   12.00    9.80  yes     4-1=3
#  3   B    zoledronic_acid                calcium    administered  normalised   12.60   10.00  yes     7-2=5
#  4   B    denosumab (RANKL inhibitor)    calcium    recommended   -            -       -      -       -
#  5   C    pamidronate (bisphosphonate)   calcium    administered  none         11.40   11.60  no      7-0=7
#  6   D    iv_hydration                   calcium    administered  transient    12.20   11.00  no      2-1=1
#  7   D    denosumab                      calcium    administered  normalised   11.00    9.60  yes     10-3=7
#  8   E    zoledronic_acid                calcium    administered  partial      15.60   11.60  no      6-0=6
#  9   E    pamidronate                    calcium    advised_against -          -       -      -       -
#  10  F    zoledronic_acid (no day)       calcium    administered  normalised   11.00    9.90  yes     null
#  11  G    tamoxifen (endocrine)          cancer     administered  not_assessed null    12.80  no      1-(-14)=15
#  12  G    iv_hydration                   calcium    administered  normalised   12.80   10.10  yes     4-1=3
#  13  H    denosumab                      supportive administered  not_assessed null     6.80  no      10-0=10
#  14  H    calcium_gluconate (calcium)    calcium    administered  normalised    6.80    8.60  yes     12-10=2
#  15  I    pamidronate                    calcium    recommended   -            -       -      -       -
#  16  I    (free text "prednisone")       calcium    administered  partial      11.80   10.90  no      null
#  17  K    zoledronic_acid (no day)       supportive administered  not_assessed null     9.40  yes     null
#
# (C: 11.40 is the Payne-corrected presentation value; E: 15.60 and 11.2 + 0.8 x (4.0-3.5) = 11.60 are corrected;
# G: the range 12.0-12.8 counts by its high end.)

COHORT: dict[str, dict] = {
    "A": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 45, "sex": "female"},
        "tumors": [tumor("breast", er="positive", pr="negative", her2="negative", hr="positive")],
        "metastases": [LIVER, NO_BONE],
        "mechanisms": [
            mechanism("humoral_pthrp", certainty="confirmed"),
            mechanism("local_osteolytic", rank=2, certainty="excluded"),
        ],
        "interventions": [
            rx("iv_hydration", 2, 0, response="partial"),
            rx("zoledronic_acid", 4, 1, response="normalised"),
        ],
        "labs": [
            ca(13.2, 1, 0),
            albumin(3.0, 1, 0),
            pthrp(8.0),
            pth(9),
            ca(12.0, 3, 1),
            ca(9.8, 5, 4),
        ],
    },
    "B": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 58, "sex": "male"},
        "tumors": [tumor("lung", **NA)],
        "metastases": [BONE],
        "mechanisms": [mechanism("humoral_pthrp")],
        "interventions": [
            rx("zoledronic_acid", 2, 2, response="normalised"),
            rx("denosumab", 4, status="recommended"),
        ],
        "labs": [ca(12.6, 1, 0), pthrp(qualitative="high"), pth(10), ca(10.0, 3, 7)],
    },
    "C": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 71, "sex": "female"},
        "tumors": [tumor("breast", er="negative", pr="negative", her2="positive", hr="negative")],
        "metastases": [NO_BONE],
        "mechanisms": [mechanism("humoral_pthrp")],
        "interventions": [rx("pamidronate", 2, 0, response="none")],
        "labs": [ca(11.8, 1, 0), albumin(4.5, 1, 0), pth(120), pthrp(1.0), ca(11.6, 3, 7)],
    },
    "D": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 66, "sex": "female"},
        "tumors": [tumor("breast", er="positive", pr="positive", her2="negative", hr="positive")],
        "metastases": [BONE],
        "mechanisms": [
            mechanism("local_osteolytic", certainty="confirmed"),
            mechanism("humoral_pthrp", rank=2, certainty="possible"),
        ],
        "interventions": [
            rx("iv_hydration", 2, 1, response="transient", end_day=2),
            rx("denosumab", 4, 3, response="normalised"),
        ],
        "labs": [ca(12.2, 1, 0), pth(8), pthrp(0.5), ca(11.0, 3, 2), ca(9.6, 5, 10)],
    },
    "E": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 80, "sex": "male"},
        "tumors": [tumor("kidney", **NA), tumor("prostate")],
        "metastases": [BONE],
        "mechanisms": [mechanism("local_osteolytic")],
        "interventions": [
            rx("zoledronic_acid", 2, 0, response="partial"),
            rx("pamidronate", 4, status="advised_against"),
        ],
        "labs": [
            ca(14.4, 1, 0),
            albumin(2.5, 1, 0),
            pth(12),
            pthrp(qualitative="normal"),
            ca(11.2, 3, 6),
            albumin(3.5, 3, 6),
        ],
    },
    "F": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 93, "sex": "female"},  # stored as 90, "90 or older"
        "tumors": [tumor("breast", hr="positive")],
        "metastases": [BONE],
        "mechanisms": [mechanism("local_osteolytic")],
        "interventions": [rx("zoledronic_acid", 2, None, response="normalised")],
        "labs": [ca(11.0, 1, 0), pth(10), pthrp(qualitative="normal"), ca(9.9, 3, 3)],
    },
    "G": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": 52, "sex": "female"},
        "tumors": [tumor("breast", er="positive", pr="positive", her2="negative", hr="positive")],
        "metastases": [BONE],
        "mechanisms": [
            mechanism("drug_related", suspect_agent="tamoxifen", action_taken="drug_withdrawn", dechallenge="positive")
        ],
        "interventions": [
            rx("tamoxifen", 1, -14, intent="cancer_directed"),
            rx("iv_hydration", 3, 1, response="normalised"),
        ],
        "labs": [ca(12.0, 2, 1, value_high=12.8), ca(10.1, 4, 4)],
    },
    "H": {
        "disorder": "hypocalcemia",
        "patient": {"age_years": 35, "sex": "female"},
        "tumors": [tumor("breast", er="negative", pr="negative", her2="negative", hr="negative")],
        "metastases": [LIVER, NO_BONE],
        "mechanisms": [mechanism("drug_related", suspect_agent="denosumab")],
        "interventions": [
            rx("denosumab", 1, 0, intent="supportive"),
            rx("calcium_gluconate", 3, 10, response="normalised"),
        ],
        "labs": [
            {"analyte": "magnesium", "value": 1.9, "unit": "mg/dL", "ref_low": 1.7, "ref_high": 2.2, "sequence": 1},
            {"analyte": "vitamin_d_25oh", "value": 30, "unit": "ng/mL", "ref_low": 20, "ref_high": 100, "sequence": 1},
            pth(40, sequence=2),
            ca(6.8, 2, 10),
            ca(8.6, 4, 12),
        ],
    },
    "I": {
        "disorder": "hypercalcemia",
        "patient": {"age_years": None, "sex": "male"},
        "tumors": [tumor("lymph_nodes")],
        "metastases": [],
        "mechanisms": [],
        "interventions": [
            rx("pamidronate", 2, status="recommended"),
            rx(None, 3, None, text="prednisone", response="partial"),
        ],
        "labs": [
            ca(11.8, 1, 0),
            {
                "analyte": "vitamin_d_125oh2",
                "value": 110,
                "unit": "pg/mL",
                "ref_low": 18,
                "ref_high": 72,
                "sequence": 1,
            },
            pth(9),
            ca(10.9, 4, 3),
        ],
    },
    "K": {
        "disorder": "soft_tissue_calcification",
        "patient": {"sex": "female"},
        "tumors": [tumor("breast")],
        "metastases": [],
        "mechanisms": [mechanism("dystrophic_calcification", certainty="confirmed")],
        "interventions": [rx("zoledronic_acid", 1, None, intent="supportive", adverse_events="observed")],
        "labs": [ca(9.4, 2, 0), {"analyte": "phosphate", "qualitative": "normal", "sequence": 2}],
    },
}
PUBLISHED = "ABCDEFGHIK"
DRAFT = {  # J: stays a draft
    "disorder": "hypercalcemia",
    "patient": {"age_years": 30, "sex": "female"},
    "tumors": [tumor("breast")],
    "mechanisms": [mechanism("humoral_pthrp")],
    "interventions": [rx("zoledronic_acid", 2, 0, response="normalised")],
    "labs": [ca(15.0, 1, 0), ca(9.0, 3, 2)],
}

AGENTS = [
    # code, name, category, drug class, ATC
    ("zoledronic_acid", "Zoledronic acid", "drug", "bisphosphonate", "M05BA08"),
    ("pamidronate", "Pamidronate", "drug", "bisphosphonate", "M05BA03"),
    ("denosumab", "Denosumab", "drug", "RANKL inhibitor", "M05BX04"),
    ("iv_hydration", "IV hydration (isotonic saline)", "supportive_care", "supportive", ""),
    ("tamoxifen", "Tamoxifen", "drug", "endocrine", "L02BA01"),
    ("calcium_gluconate", "Calcium gluconate", "drug", "calcium", "A12AA03"),
]


@pytest.fixture(autouse=True)
def fast_logins_and_fresh_throttle(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # the rate limits count requests in the cache, which outlives each test's database


def make_agents() -> None:
    for code, name, category, drug_class, atc in AGENTS:
        Agent.objects.create(code=code, name=name, category=category, drug_class=drug_class, atc_code=atc)


def post_cases(curator, letters: str, *, publish: bool = True) -> dict[str, str]:
    """POSTs the cases (the API computes the derived values), publishes them; returns registry ids by letter."""
    ids = {}
    for letter in letters:
        spec = DRAFT if letter == "J" else COHORT[letter]
        doc = make_document(title=f"Case {letter}", findings=[], **spec)
        response = curator.post(CASES, doc, format="json")
        assert response.status_code == 201, (letter, response.content)
        ids[letter] = response.json()["id"]
    if publish:
        Case.objects.filter(pk__in=[pk(ids[x]) for x in letters if x != "J"]).update(status="published")
    return ids


def pk(registry_id: str) -> int:
    return int(registry_id.removeprefix("CCR-"))


@pytest.fixture
def cohort(curator) -> dict[str, str]:
    make_agents()
    return post_cases(curator, PUBLISHED + "J")


def get(client, url: str, query: str = ""):
    response = client.get(f"{url}?{query}" if query else url)
    assert response.status_code == 200, (url, query, response.content)
    return response.json()


# --- the derived values the analytics rest on ----------------------------------------------------------------


def test_the_cohort_derived_values_are_the_hand_computed_ones(cohort):
    # From the table above.
    expected = {
        "A": ("14.00", 4, "humoral_pthrp", "humoral_pthrp", "agree"),
        "B": ("12.60", 3, "humoral_pthrp", "humoral_pthrp", "agree"),
        "C": ("11.60", 2, "humoral_pthrp", "ectopic_pth", "disagree"),
        "D": ("12.20", 2, "local_osteolytic", "local_osteolytic", "agree"),
        "E": ("15.60", 4, "local_osteolytic", "local_osteolytic", "agree"),
        "F": ("11.00", 1, "local_osteolytic", "local_osteolytic", "agree"),
        "G": ("12.80", 3, "drug_related", "", "no_suggestion"),
        "H": ("8.60", 0, "drug_related", "", "no_suggestion"),
        "I": ("11.80", 2, "", "calcitriol_mediated", "no_mechanism"),
        "K": ("9.40", 0, "dystrophic_calcification", "dystrophic_calcification", "agree"),
    }
    fields = ["peak_calcium_mg_dl", "peak_ctcae_grade", "main_mechanism", "suggested_mechanism", "mechanism_agreement"]
    got = {}
    for letter in PUBLISHED:
        row = Case.objects.filter(pk=pk(cohort[letter])).values(*fields).get()
        got[letter] = (f"{row['peak_calcium_mg_dl']:.2f}", *(row[f] for f in fields[1:]))
    assert got == expected

    def course(letter):
        return [
            (
                i.agent_id and i.agent.code,
                None if i.calcium_before_mg_dl is None else f"{i.calcium_before_mg_dl:.2f}",
                None if i.calcium_after_mg_dl is None else f"{i.calcium_after_mg_dl:.2f}",
                i.calcium_normal_after,
                i.days_to_calcium_after,
            )
            for i in Case.objects.get(pk=pk(cohort[letter])).interventions.select_related("agent")
        ]

    # Rows 1-17 of the interventions table.
    assert course("A") == [
        ("iv_hydration", "14.00", "12.00", False, 1),
        ("zoledronic_acid", "12.00", "9.80", True, 3),
    ]
    assert course("B") == [("zoledronic_acid", "12.60", "10.00", True, 5), ("denosumab", None, None, None, None)]
    assert course("C") == [("pamidronate", "11.40", "11.60", False, 7)]
    assert course("D") == [("iv_hydration", "12.20", "11.00", False, 1), ("denosumab", "11.00", "9.60", True, 7)]
    assert course("E") == [("zoledronic_acid", "15.60", "11.60", False, 6), ("pamidronate", None, None, None, None)]
    assert course("F") == [("zoledronic_acid", "11.00", "9.90", True, None)]
    assert course("G") == [("tamoxifen", None, "12.80", False, 15), ("iv_hydration", "12.80", "10.10", True, 3)]
    assert course("H") == [("denosumab", None, "6.80", False, 10), ("calcium_gluconate", "6.80", "8.60", True, 2)]
    assert course("I") == [("pamidronate", None, None, None, None), (None, "11.80", "10.90", False, None)]
    assert course("K") == [("zoledronic_acid", None, "9.40", True, None)]


# --- summary -------------------------------------------------------------------------------------------------

# Peak calcium of the ten published cases, sorted (mg/dL):
#   H 8.60, K 9.40, F 11.00, C 11.60, I 11.80, D 12.20, B 12.60, G 12.80, A 14.00, E 15.60      n = 10
# Linear interpolation (pandas default, R type 7): position h = (n - 1) p, 0-based.
#   q1:     h = 9 x 0.25 = 2.25 -> 11.00 + 0.25 x (11.60 - 11.00) = 11.15
#   median: h = 4.5             -> 11.80 + 0.5  x (12.20 - 11.80) = 12.00
#   q3:     h = 6.75            -> 12.60 + 0.75 x (12.80 - 12.60) = 12.75
# In mmol/L (x 0.2495, rounded to 0.01): 8.60 -> 2.1457 -> 2.15; 11.15 -> 2.781925 -> 2.78; 12.00 -> 2.994 -> 2.99;
#   12.75 -> 3.181125 -> 3.18; 15.60 -> 3.8922 -> 3.89.
PEAKS = [8.60, 9.40, 11.00, 11.60, 11.80, 12.20, 12.60, 12.80, 14.00, 15.60]
# Ages of the published cases (I and K not reported; F 93 is stored as 90), sorted: n = 8
#   35 (H), 45 (A), 52 (G), 58 (B), 66 (D), 71 (C), 80 (E), 90 (F)
#   q1:     h = 7 x 0.25 = 1.75 -> 45 + 0.75 x (52 - 45) = 50.25
#   median: h = 3.5             -> 58 + 0.5  x (66 - 58) = 62
#   q3:     h = 5.25            -> 71 + 0.25 x (80 - 71) = 73.25
AGES = [35, 45, 52, 58, 66, 71, 80, 90]

EXPECTED_SUMMARY = {
    "cases": 10,  # the draft J is not an analyst's
    "by_disorder": {"hypercalcemia": 8, "hypocalcemia": 1, "soft_tissue_calcification": 1},  # ABCDEFGI, H, K
    # one episode each (issue 13): by episode as by case
    "episodes": 10,
    "by_episode_disorder": {"hypercalcemia": 8, "hypocalcemia": 1, "soft_tissue_calcification": 1},
    # main mechanism: ABC, DEF, GH, K; I recorded none
    "by_main_mechanism": {
        "humoral_pthrp": 3,
        "local_osteolytic": 3,
        "drug_related": 2,
        "dystrophic_calcification": 1,
        "none": 1,
    },
    # any recorded mechanism that is not excluded: humoral A B C D(possible); osteolytic D E F (A's is excluded);
    # drug-related G H; dystrophic K
    "by_mechanism": {"humoral_pthrp": 4, "local_osteolytic": 3, "drug_related": 2, "dystrophic_calcification": 1},
    # cases per site: breast A C D F G H K; lung B; E has two primaries (kidney and prostate); lymph nodes I
    "by_tumor_site": {"breast": 7, "lung": 1, "kidney": 1, "prostate": 1, "lymph_nodes": 1},
    # cases with a tumour of that status; E counts under not_applicable (kidney) and unknown (prostate)
    "by_receptor_status": {
        # ER+ A D G; ER- C H; unknown E F I K; n/a B E
        "er": {"positive": 3, "negative": 2, "unknown": 4, "not_applicable": 2},
        # PR+ D G; PR- A C H; unknown E F I K; n/a B E
        "pr": {"positive": 2, "negative": 3, "unknown": 4, "not_applicable": 2},
        # HER2+ C; HER2- A D G H; unknown E F I K; n/a B E
        "her2": {"positive": 1, "negative": 4, "unknown": 4, "not_applicable": 2},
        # HR+ A D F G; HR- C H; unknown E I K; n/a B E
        "hormone_receptor": {"positive": 4, "negative": 2, "unknown": 3, "not_applicable": 2},
    },
    # grade 0 H K; 1 F; 2 C D I; 3 B G; 4 A E (JSON object keys are strings)
    "by_ctcae_grade": {"0": 2, "1": 1, "2": 3, "3": 2, "4": 2},
    # agree A B D E F K; disagree C; no_suggestion G H; no_mechanism I
    "by_mechanism_agreement": {"agree": 6, "disagree": 1, "no_suggestion": 2, "no_mechanism": 1},
    "age": {
        "n": 8,
        "min": 35,
        "q1": 50.25,
        "median": 62,
        "q3": 73.25,
        "max": 90,
        # 35 | 45 | 52 58 | 66 | 71 | 80 | 90 ("90 or older")
        "bands": {"0-17": 0, "18-39": 1, "40-49": 1, "50-59": 2, "60-69": 1, "70-79": 1, "80-89": 1, "90+": 1},
    },
    "peak_calcium": {
        "mg_dl": {"n": 10, "min": 8.6, "q1": 11.15, "median": 12.0, "q3": 12.75, "max": 15.6},
        "mmol_l": {"n": 10, "min": 2.15, "q1": 2.78, "median": 2.99, "q3": 3.18, "max": 3.89},
    },
}


def test_the_hand_quartiles_are_pandas_quartiles():
    # The analysts' own tool agrees with the hand arithmetic above (pandas' default is linear interpolation).
    assert pandas.Series(PEAKS).quantile([0.25, 0.5, 0.75]).tolist() == pytest.approx([11.15, 12.0, 12.75])
    assert pandas.Series(AGES).quantile([0.25, 0.5, 0.75]).tolist() == pytest.approx([50.25, 62.0, 73.25])


def test_summary_of_the_published_cohort(analyst, cohort):
    assert get(analyst, SUMMARY) == EXPECTED_SUMMARY


def test_a_filter_changes_the_summary(analyst, cohort):
    # disorder=hypocalcemia: H alone. Peak 8.60 (= every quartile of one value), 8.60 x 0.2495 = 2.1457 -> 2.15;
    # age 35; grade 0; drug_related; no suggestion; breast, ER-/PR-/HER2-/HR-.
    one_peak = {"n": 1, "min": 8.6, "q1": 8.6, "median": 8.6, "q3": 8.6, "max": 8.6}
    assert get(analyst, SUMMARY, "disorder=hypocalcemia") == {
        "cases": 1,
        "by_disorder": {"hypocalcemia": 1},
        "episodes": 1,
        "by_episode_disorder": {"hypocalcemia": 1},
        "by_main_mechanism": {"drug_related": 1},
        "by_mechanism": {"drug_related": 1},
        "by_tumor_site": {"breast": 1},
        "by_receptor_status": {
            f: {"positive": 0, "negative": 1, "unknown": 0, "not_applicable": 0}
            for f in ("er", "pr", "her2", "hormone_receptor")
        },
        "by_ctcae_grade": {"0": 1},
        "by_mechanism_agreement": {"no_suggestion": 1},
        "age": {
            "n": 1,
            "min": 35,
            "q1": 35,
            "median": 35,
            "q3": 35,
            "max": 35,
            "bands": {"0-17": 0, "18-39": 1, "40-49": 0, "50-59": 0, "60-69": 0, "70-79": 0, "80-89": 0, "90+": 0},
        },
        "peak_calcium": {"mg_dl": one_peak, "mmol_l": {**one_peak, **dict.fromkeys(list(one_peak)[1:], 2.15)}},
    }
    # Two disorders: hypercalcemia (8) and the calcification case K (1) = 9.
    both = get(analyst, SUMMARY, "disorder=hypercalcemia&disorder=soft_tissue_calcification")
    assert (both["cases"], both["by_disorder"]) == (9, {"hypercalcemia": 8, "soft_tissue_calcification": 1})
    # Peak at least 12.5 mg/dL: B 12.60, G 12.80, A 14.00, E 15.60 -> sorted 12.6, 12.8, 14.0, 15.6, n = 4:
    #   q1 h = 0.75 -> 12.6 + 0.75 x 0.2 = 12.75; median h = 1.5 -> 12.8 + 0.5 x 1.2 = 13.40;
    #   q3 h = 2.25 -> 14.0 + 0.25 x 1.6 = 14.40.
    high = get(analyst, SUMMARY, "peak_calcium_min=12.5")
    assert high["peak_calcium"]["mg_dl"] == {"n": 4, "min": 12.6, "q1": 12.75, "median": 13.4, "q3": 14.4, "max": 15.6}
    assert pandas.Series([12.6, 12.8, 14.0, 15.6]).quantile([0.25, 0.5, 0.75]).tolist() == pytest.approx(
        [12.75, 13.4, 14.4]
    )
    assert high["by_ctcae_grade"] == {"3": 2, "4": 2}


def test_a_disagreement_is_counted_and_can_be_filtered(analyst, cohort):
    # C: the curator recorded humoral_pthrp, but PTH 120 pg/mL is above 65, so the labs point to ectopic PTH or a
    # coexisting hyperparathyroidism, not to PTHrP.
    assert get(analyst, SUMMARY)["by_mechanism_agreement"]["disagree"] == 1
    document = get(analyst, f"{CASES}{cohort['C']}/")
    assert document["derived"]["mechanism_check"] == {
        "recorded": ["humoral_pthrp"],
        "suggested": [
            {"code": "ectopic_pth", "rule": "PTH high: ectopic PTH if there is no parathyroid disease"},
            {"code": "coexisting_hyperparathyroidism", "rule": "PTH high: parathyroid adenoma if imaging shows one"},
        ],
        "agreement": "disagree",
    }
    listed = get(analyst, CASES, "mechanism_agreement=disagree")
    assert [c["id"] for c in listed["results"]] == [cohort["C"]]
    summary = get(analyst, SUMMARY, "mechanism_agreement=disagree")
    assert (summary["cases"], summary["by_main_mechanism"], summary["by_mechanism_agreement"]) == (
        1,
        {"humoral_pthrp": 1},
        {"disagree": 1},
    )
    assert [t["case_id"] for t in get(analyst, TRAJECTORIES, "mechanism_agreement=disagree")] == [cohort["C"]]
    # suggested_mechanism is the first suggestion
    assert [c["id"] for c in get(analyst, CASES, "suggested_mechanism=ectopic_pth")["results"]] == [cohort["C"]]


def test_analysts_see_published_cases_only(analyst, curator, cohort):
    # The draft J (hypercalcemia, peak 15.00, humoral_pthrp, zoledronic acid) counts for a curator only.
    assert get(curator, SUMMARY)["cases"] == 11
    assert get(curator, SUMMARY)["by_disorder"]["hypercalcemia"] == 9
    assert get(analyst, SUMMARY)["cases"] == 10
    assert cohort["J"] in [t["case_id"] for t in get(curator, TRAJECTORIES)]
    assert [t["case_id"] for t in get(analyst, TRAJECTORIES)] == [cohort[x] for x in PUBLISHED]
    zoledronic = {r["key"]: r for r in get(curator, INTERVENTIONS)["by_agent"]}["zoledronic_acid"]
    assert (zoledronic["cases"], zoledronic["administered"]) == (6, 6)  # A B E F K + J
    zoledronic = {r["key"]: r for r in get(analyst, INTERVENTIONS)["by_agent"]}["zoledronic_acid"]
    assert (zoledronic["cases"], zoledronic["administered"]) == (5, 5)  # A B E F K


# --- interventions -------------------------------------------------------------------------------------------


def row(
    group,
    key,
    cases,
    *,
    administered=0,
    recommended=0,
    advised_against=0,
    responses=None,
    both=0,
    before=None,
    after=None,
    change=None,
    days=None,
    **extra,
) -> dict:
    return {
        "group": group,
        "key": key,
        **extra,
        "cases": cases,
        "administered": administered,
        "recommended": recommended,
        "advised_against": advised_against,
        "calcium_response": {r: (responses or {}).get(r, 0) for r in RESPONSES},
        "with_calcium_before_and_after": both,
        "median_calcium_before_mg_dl": before,
        "median_calcium_after_mg_dl": after,
        "median_calcium_change_mg_dl": change,
        "median_days_to_normal_calcium": days,
    }


def agent(code, name, atc, cases, **kw) -> dict:
    return row("agent", code, cases, agent_name=name, atc=atc, **kw)


# Per agent, from rows 1-17 above. Medians: before/after over the administered rows that have the value; change
# over the rows with both; days over the rows whose "after" value is normal and whose days are known. Response
# counts are of administered rows only.
BY_AGENT = [
    # row 14
    agent(
        "calcium_gluconate",
        "Calcium gluconate",
        "A12AA03",
        1,
        administered=1,
        responses={"normalised": 1},
        both=1,
        before=6.8,
        after=8.6,
        change=1.8,  # 8.60 - 6.80
        days=2.0,
    ),
    # rows 4 (B, recommended), 7 (D), 13 (H): after 6.80, 9.60 -> (6.80 + 9.60) / 2 = 8.20; change 9.60 - 11.00
    agent(
        "denosumab",
        "Denosumab",
        "M05BX04",
        3,
        administered=2,
        recommended=1,
        responses={"normalised": 1, "not_assessed": 1},
        both=1,
        before=11.0,
        after=8.2,
        change=-1.4,
        days=7.0,
    ),
    # rows 1 (A), 6 (D), 12 (G): before 12.20 12.80 14.00 -> 12.80; after 10.10 11.00 12.00 -> 11.00;
    # change -2.70 -2.00 -1.20 -> -2.00; days: only row 12 is normal after -> 3
    agent(
        "iv_hydration",
        "IV hydration (isotonic saline)",
        None,  # no ATC code for a supportive measure
        3,
        administered=3,
        responses={"partial": 1, "transient": 1, "normalised": 1},
        both=3,
        before=12.8,
        after=11.0,
        change=-2.0,
        days=3.0,
    ),
    # rows 5 (C), 9 (E, advised against), 15 (I, recommended): 11.40 -> 11.60, +0.20, not normal
    agent(
        "pamidronate",
        "Pamidronate",
        "M05BA03",
        3,
        administered=1,
        recommended=1,
        advised_against=1,
        responses={"none": 1},
        both=1,
        before=11.4,
        after=11.6,
        change=0.2,
    ),
    # row 11 (G): no calcium before, 12.80 after (not normal)
    agent("tamoxifen", "Tamoxifen", "L02BA01", 1, administered=1, responses={"not_assessed": 1}, after=12.8),
    # rows 2 (A), 3 (B), 8 (E), 10 (F), 17 (K):
    #   before 11.00 12.00 12.60 15.60 -> (12.00 + 12.60) / 2 = 12.30
    #   after 9.40 9.80 9.90 10.00 11.60 -> 9.90
    #   change -4.00 -2.60 -2.20 -1.10 -> (-2.60 - 2.20) / 2 = -2.40
    #   days: normal after in rows 2 (3 days), 3 (5 days), 10 and 17 (no day) -> (3 + 5) / 2 = 4.0
    agent(
        "zoledronic_acid",
        "Zoledronic acid",
        "M05BA08",
        5,
        administered=5,
        responses={"normalised": 3, "partial": 1, "not_assessed": 1},
        both=4,
        before=12.3,
        after=9.9,
        change=-2.4,
        days=4.0,
    ),
    # row 16 (I): free text, no agent
    agent(None, None, None, 1, administered=1, responses={"partial": 1}, both=1, before=11.8, after=10.9, change=-0.9),
]

BY_DRUG_CLASS = [
    # rows 2 3 5 8 9 10 15 17 (zoledronic acid + pamidronate), cases A B C E F I K:
    #   before 11.00 11.40 12.00 12.60 15.60 -> 12.00
    #   after 9.40 9.80 9.90 10.00 11.60 11.60 -> (9.90 + 10.00) / 2 = 9.95
    #   change -4.00 -2.60 -2.20 -1.10 +0.20 -> -2.20; days 3, 5 -> 4.0
    row(
        "drug_class",
        "bisphosphonate",
        7,
        administered=6,
        recommended=1,
        advised_against=1,
        responses={"normalised": 3, "partial": 1, "none": 1, "not_assessed": 1},
        both=5,
        before=12.0,
        after=9.95,
        change=-2.2,
        days=4.0,
    ),
    row("drug_class", "calcium", 1, administered=1, responses={"normalised": 1}, both=1, before=6.8, after=8.6,
        change=1.8, days=2.0),
    row("drug_class", "endocrine", 1, administered=1, responses={"not_assessed": 1}, after=12.8),
    row("drug_class", "RANKL inhibitor", 3, administered=2, recommended=1,
        responses={"normalised": 1, "not_assessed": 1}, both=1, before=11.0, after=8.2, change=-1.4, days=7.0),
    row("drug_class", "supportive", 3, administered=3, responses={"partial": 1, "transient": 1, "normalised": 1},
        both=3, before=12.8, after=11.0, change=-2.0, days=3.0),
    row("drug_class", None, 1, administered=1, responses={"partial": 1}, both=1, before=11.8, after=10.9, change=-0.9),
]  # fmt: skip

BY_INTENT = [
    # calcium-directed: rows 1-10, 12, 14-16 (14 rows), cases A-I (9). Administered 1 2 3 5 6 7 8 10 12 14 16 = 11,
    # each with both values. Recommended 4, 15; advised against 9.
    #   before 6.80 11.00 11.00 11.40 11.80 12.00 12.20 12.60 12.80 14.00 15.60 -> 6th of 11 = 12.00
    #   after 8.60 9.60 9.80 9.90 10.00 10.10 10.90 11.00 11.60 11.60 12.00 -> 10.10
    #   change -4.00 -2.70 -2.60 -2.20 -2.00 -1.40 -1.20 -1.10 -0.90 +0.20 +1.80 -> -1.40
    #   days (normal after, day known): rows 2 (3), 3 (5), 7 (7), 12 (3), 14 (2) -> 2 3 3 5 7 -> 3.0
    row(
        "intent",
        "calcium_directed",
        9,
        administered=11,
        recommended=2,
        advised_against=1,
        responses={"normalised": 6, "partial": 3, "transient": 1, "none": 1},
        both=11,
        before=12.0,
        after=10.1,
        change=-1.4,
        days=3.0,
    ),
    # row 11 (G)
    row("intent", "cancer_directed", 1, administered=1, responses={"not_assessed": 1}, after=12.8),
    # rows 13 (H, after 6.80) and 17 (K, after 9.40): (6.80 + 9.40) / 2 = 8.10; row 17 is normal after but undated
    row("intent", "supportive", 2, administered=2, responses={"not_assessed": 2}, after=8.1),
]


def by_key(rows: list[dict], *names) -> dict:
    return {tuple(r.get(n) for n in names): r for r in rows}


def test_interventions_per_agent_drug_class_and_intent(analyst, cohort):
    tables = get(analyst, INTERVENTIONS)
    assert list(tables) == ["by_agent", "by_drug_class", "by_intent"]
    for name, expected in [("by_agent", BY_AGENT), ("by_drug_class", BY_DRUG_CLASS), ("by_intent", BY_INTENT)]:
        got = tables[name]
        assert len(got) == len(expected), name
        assert by_key(got, "key") == by_key(expected, "key"), name
        keys = [r["key"] for r in got if r["key"] is not None]
        assert keys == sorted(keys), name  # ordered by the grouping (where a NULL sorts is the database's choice)


# With ?by=mechanism every table is split again by the case's main mechanism (null for I, which has none).
AGENT_BY_MECHANISM = [
    agent("calcium_gluconate", "Calcium gluconate", "A12AA03", 1, administered=1, responses={"normalised": 1}, both=1,
          before=6.8, after=8.6, change=1.8, days=2.0, mechanism="drug_related"),  # row 14 (H)
    agent("denosumab", "Denosumab", "M05BX04", 1, recommended=1, mechanism="humoral_pthrp"),  # row 4 (B)
    agent("denosumab", "Denosumab", "M05BX04", 1, administered=1, responses={"normalised": 1}, both=1, before=11.0,
          after=9.6, change=-1.4, days=7.0, mechanism="local_osteolytic"),  # row 7 (D)
    agent("denosumab", "Denosumab", "M05BX04", 1, administered=1, responses={"not_assessed": 1}, after=6.8,
          mechanism="drug_related"),  # row 13 (H)
    agent("iv_hydration", "IV hydration (isotonic saline)", None, 1, administered=1, responses={"partial": 1}, both=1,
          before=14.0, after=12.0, change=-2.0, mechanism="humoral_pthrp"),  # row 1 (A), not normal after
    agent("iv_hydration", "IV hydration (isotonic saline)", None, 1, administered=1, responses={"transient": 1},
          both=1, before=12.2, after=11.0, change=-1.2, mechanism="local_osteolytic"),  # row 6 (D)
    agent("iv_hydration", "IV hydration (isotonic saline)", None, 1, administered=1, responses={"normalised": 1},
          both=1, before=12.8, after=10.1, change=-2.7, days=3.0, mechanism="drug_related"),  # row 12 (G)
    agent("pamidronate", "Pamidronate", "M05BA03", 1, administered=1, responses={"none": 1}, both=1, before=11.4,
          after=11.6, change=0.2, mechanism="humoral_pthrp"),  # row 5 (C)
    agent("pamidronate", "Pamidronate", "M05BA03", 1, advised_against=1, mechanism="local_osteolytic"),  # row 9 (E)
    agent("pamidronate", "Pamidronate", "M05BA03", 1, recommended=1, mechanism=None),  # row 15 (I)
    agent("tamoxifen", "Tamoxifen", "L02BA01", 1, administered=1, responses={"not_assessed": 1}, after=12.8,
          mechanism="drug_related"),  # row 11 (G)
    # rows 2 (A), 3 (B): before (12.00 + 12.60) / 2 = 12.30; after (9.80 + 10.00) / 2 = 9.90;
    # change (-2.20 - 2.60) / 2 = -2.40; days (3 + 5) / 2 = 4.0
    agent("zoledronic_acid", "Zoledronic acid", "M05BA08", 2, administered=2, responses={"normalised": 2}, both=2,
          before=12.3, after=9.9, change=-2.4, days=4.0, mechanism="humoral_pthrp"),
    # rows 8 (E), 10 (F): before (15.60 + 11.00) / 2 = 13.30; after (11.60 + 9.90) / 2 = 10.75;
    # change (-4.00 - 1.10) / 2 = -2.55; days: F is normal after but undated -> null
    agent("zoledronic_acid", "Zoledronic acid", "M05BA08", 2, administered=2,
          responses={"partial": 1, "normalised": 1}, both=2, before=13.3, after=10.75, change=-2.55,
          mechanism="local_osteolytic"),
    agent("zoledronic_acid", "Zoledronic acid", "M05BA08", 1, administered=1, responses={"not_assessed": 1},
          after=9.4, mechanism="dystrophic_calcification"),  # row 17 (K)
    agent(None, None, None, 1, administered=1, responses={"partial": 1}, both=1, before=11.8, after=10.9,
          change=-0.9, mechanism=None),  # row 16 (I)
]  # fmt: skip

DRUG_CLASS_BY_MECHANISM = [
    # rows 2 (A), 3 (B), 5 (C): before 11.40 12.00 12.60 -> 12.00; after 9.80 10.00 11.60 -> 10.00;
    # change -2.60 -2.20 +0.20 -> -2.20; days 3, 5 -> 4.0
    row("drug_class", "bisphosphonate", 3, administered=3, responses={"normalised": 2, "none": 1}, both=3,
        before=12.0, after=10.0, change=-2.2, days=4.0, mechanism="humoral_pthrp"),
    # rows 8 (E), 9 (E, advised against), 10 (F): cases E F
    row("drug_class", "bisphosphonate", 2, administered=2, advised_against=1,
        responses={"partial": 1, "normalised": 1}, both=2, before=13.3, after=10.75, change=-2.55,
        mechanism="local_osteolytic"),
    row("drug_class", "bisphosphonate", 1, administered=1, responses={"not_assessed": 1}, after=9.4,
        mechanism="dystrophic_calcification"),  # row 17 (K)
    row("drug_class", "bisphosphonate", 1, recommended=1, mechanism=None),  # row 15 (I)
    row("drug_class", "calcium", 1, administered=1, responses={"normalised": 1}, both=1, before=6.8, after=8.6,
        change=1.8, days=2.0, mechanism="drug_related"),
    row("drug_class", "endocrine", 1, administered=1, responses={"not_assessed": 1}, after=12.8,
        mechanism="drug_related"),
    row("drug_class", "RANKL inhibitor", 1, recommended=1, mechanism="humoral_pthrp"),
    row("drug_class", "RANKL inhibitor", 1, administered=1, responses={"normalised": 1}, both=1, before=11.0,
        after=9.6, change=-1.4, days=7.0, mechanism="local_osteolytic"),
    row("drug_class", "RANKL inhibitor", 1, administered=1, responses={"not_assessed": 1}, after=6.8,
        mechanism="drug_related"),
    row("drug_class", "supportive", 1, administered=1, responses={"partial": 1}, both=1, before=14.0, after=12.0,
        change=-2.0, mechanism="humoral_pthrp"),
    row("drug_class", "supportive", 1, administered=1, responses={"transient": 1}, both=1, before=12.2, after=11.0,
        change=-1.2, mechanism="local_osteolytic"),
    row("drug_class", "supportive", 1, administered=1, responses={"normalised": 1}, both=1, before=12.8, after=10.1,
        change=-2.7, days=3.0, mechanism="drug_related"),
    row("drug_class", None, 1, administered=1, responses={"partial": 1}, both=1, before=11.8, after=10.9,
        change=-0.9, mechanism=None),
]  # fmt: skip

INTENT_BY_MECHANISM = [
    # rows 1 2 3 4 5 (A A B B C): administered 1 2 3 5, recommended 4.
    #   before 11.40 12.00 12.60 14.00 -> (12.00 + 12.60) / 2 = 12.30
    #   after 9.80 10.00 11.60 12.00 -> (10.00 + 11.60) / 2 = 10.80
    #   change -2.60 -2.20 -2.00 +0.20 -> (-2.20 - 2.00) / 2 = -2.10
    #   days: rows 2 (3), 3 (5) -> 4.0
    row("intent", "calcium_directed", 3, administered=4, recommended=1,
        responses={"partial": 1, "normalised": 2, "none": 1}, both=4, before=12.3, after=10.8, change=-2.1, days=4.0,
        mechanism="humoral_pthrp"),
    # rows 6 7 8 9 10 (D D E E F): administered 6 7 8 10, advised against 9.
    #   before 11.00 11.00 12.20 15.60 -> (11.00 + 12.20) / 2 = 11.60
    #   after 9.60 9.90 11.00 11.60 -> (9.90 + 11.00) / 2 = 10.45
    #   change -4.00 -1.40 -1.20 -1.10 -> (-1.40 - 1.20) / 2 = -1.30
    #   days: row 7 (7); row 10 is undated -> 7.0
    row("intent", "calcium_directed", 3, administered=4, advised_against=1,
        responses={"transient": 1, "normalised": 2, "partial": 1}, both=4, before=11.6, after=10.45, change=-1.3,
        days=7.0, mechanism="local_osteolytic"),
    # rows 12 (G), 14 (H): before (12.80 + 6.80) / 2 = 9.80; after (10.10 + 8.60) / 2 = 9.35;
    # change (-2.70 + 1.80) / 2 = -0.45; days (3 + 2) / 2 = 2.5
    row("intent", "calcium_directed", 2, administered=2, responses={"normalised": 2}, both=2, before=9.8, after=9.35,
        change=-0.45, days=2.5, mechanism="drug_related"),
    # rows 15 (recommended), 16 (I)
    row("intent", "calcium_directed", 1, administered=1, recommended=1, responses={"partial": 1}, both=1,
        before=11.8, after=10.9, change=-0.9, mechanism=None),
    row("intent", "cancer_directed", 1, administered=1, responses={"not_assessed": 1}, after=12.8,
        mechanism="drug_related"),  # row 11 (G)
    row("intent", "supportive", 1, administered=1, responses={"not_assessed": 1}, after=6.8,
        mechanism="drug_related"),  # row 13 (H)
    row("intent", "supportive", 1, administered=1, responses={"not_assessed": 1}, after=9.4,
        mechanism="dystrophic_calcification"),  # row 17 (K)
]  # fmt: skip


def test_interventions_split_by_mechanism(analyst, cohort):
    tables = get(analyst, INTERVENTIONS, "by=mechanism")
    for name, expected in [
        ("by_agent", AGENT_BY_MECHANISM),
        ("by_drug_class", DRUG_CLASS_BY_MECHANISM),
        ("by_intent", INTENT_BY_MECHANISM),
    ]:
        got = tables[name]
        assert len(got) == len(expected), name
        assert by_key(got, "key", "mechanism") == by_key(expected, "key", "mechanism"), name


def test_interventions_of_a_filtered_cohort(analyst, cohort):
    # Hypercalcemia at 60 or older: C (71), D (66), E (80), F (90); I has no age. Their agents: pamidronate (rows 5,
    # 9), hydration and denosumab (D), zoledronic acid (rows 8 E, 10 F) - the same rows as zoledronic acid's
    # local_osteolytic row of AGENT_BY_MECHANISM, so the same numbers without the split.
    tables = get(analyst, INTERVENTIONS, "disorder=hypercalcemia&age_min=60")
    assert sorted(r["key"] for r in tables["by_agent"]) == [
        "denosumab",
        "iv_hydration",
        "pamidronate",
        "zoledronic_acid",
    ]
    zoledronic = by_key(tables["by_agent"], "key")[("zoledronic_acid",)]
    expected = {k: v for k, v in AGENT_BY_MECHANISM[12].items() if k != "mechanism"}
    assert zoledronic == expected


@pytest.mark.parametrize(
    ("afters", "change"),
    [
        # before 10.20 in both cases; changes 10.15 - 10.20 = -0.05 and 10.00 - 10.20 = -0.20:
        # median (-0.05 - 0.20) / 2 = -0.125 -> half up (away from zero) -> -0.13
        ((10.15, 10.0), -0.13),
        # changes -0.25 and -0.20 -> -0.225 -> -0.23
        ((9.95, 10.0), -0.23),
        # changes +2.15 and +1.80 -> +1.975 -> +1.98
        ((12.35, 12.0), 1.98),
    ],
)
def test_a_median_change_half_way_between_two_values_rounds_half_up_on_every_database(curator, afters, change):
    # SQLite subtracts decimals in floating point (10.15 - 10.20 = -0.0499999999999989), which once rounded -0.125 to
    # -0.12 instead of -0.13; PostgreSQL computes exactly.
    make_agents()
    for after in afters:
        doc = make_document(
            title="Half-way",
            labs=[ca(10.2, 1, 0), ca(after, 3, 1)],
            interventions=[rx("zoledronic_acid", 2, 0, response="partial")],
        )
        assert curator.post(CASES, doc, format="json").status_code == 201
    (zoledronic,) = get(curator, INTERVENTIONS)["by_agent"]
    assert zoledronic["median_calcium_change_mg_dl"] == change
    # (after medians: (10.15 + 10.00) / 2 = 10.075 -> 10.08; (9.95 + 10.00) / 2 = 9.975 -> 9.98; 12.175 -> 12.18)
    assert zoledronic["median_calcium_after_mg_dl"] == {-0.13: 10.08, -0.23: 9.98, 1.98: 12.18}[change]


def test_an_unknown_by_is_a_400(analyst, cohort):
    response = analyst.get(f"{INTERVENTIONS}?by=agent")
    assert response.status_code == 400
    assert "by" in response.content.decode()


# --- trajectories --------------------------------------------------------------------------------------------


def point(day, sequence, value, basis="calcium_total", value_high=None, comparator="") -> dict:
    return {
        "day": day,
        "sequence": sequence,
        "basis": basis,
        "value": value,
        "value_high": value_high,
        "comparator": comparator,
    }


def span(label, agent_code, start, sequence, intent="calcium_directed", end=None) -> dict:
    return {
        "label": label,
        "agent": agent_code,
        "intent": intent,
        "start_day": start,
        "end_day": end,
        "sequence": sequence,
    }


HYDRATION, ZOLEDRONIC = "IV hydration (isotonic saline)", "Zoledronic acid"


def trajectory(letter, mechanism_code, points, interventions, aligned=True) -> dict:
    return {
        "letter": letter,
        "title": f"Case {letter}",
        "main_mechanism": mechanism_code,
        "aligned": aligned,
        "unit": "mg/dL",
        "points": points,
        "interventions": interventions,
    }


# align=index: days as recorded (day 0 = the index event); administered interventions only.
BY_INDEX = [
    trajectory(
        "A",
        "humoral_pthrp",
        [point(0, 1, 14.0, "calcium_corrected"), point(1, 3, 12.0), point(4, 5, 9.8)],
        [span(HYDRATION, "iv_hydration", 0, 2), span(ZOLEDRONIC, "zoledronic_acid", 1, 4)],
    ),
    # the recommended denosumab is not drawn
    trajectory("B", "humoral_pthrp", [point(0, 1, 12.6), point(7, 3, 10.0)],
               [span(ZOLEDRONIC, "zoledronic_acid", 2, 2)]),
    trajectory(
        "C",
        "humoral_pthrp",
        [point(0, 1, 11.4, "calcium_corrected"), point(7, 3, 11.6)],
        [span("Pamidronate", "pamidronate", 0, 2)],
    ),
    trajectory(
        "D",
        "local_osteolytic",
        [point(0, 1, 12.2), point(2, 3, 11.0), point(10, 5, 9.6)],
        [span(HYDRATION, "iv_hydration", 1, 2, end=2), span("Denosumab", "denosumab", 3, 4)],
    ),
    trajectory(
        "E",
        "local_osteolytic",
        [point(0, 1, 15.6, "calcium_corrected"), point(6, 3, 11.6, "calcium_corrected")],
        [span(ZOLEDRONIC, "zoledronic_acid", 0, 2)],
    ),
    trajectory("F", "local_osteolytic", [point(0, 1, 11.0), point(3, 3, 9.9)],
               [span(ZOLEDRONIC, "zoledronic_acid", None, 2)]),
    trajectory(
        "G",
        "drug_related",
        [point(1, 2, 12.0, value_high=12.8), point(4, 4, 10.1)],
        [span("Tamoxifen", "tamoxifen", -14, 1, "cancer_directed"), span(HYDRATION, "iv_hydration", 1, 3)],
    ),
    trajectory(
        "H",
        "drug_related",
        [point(10, 2, 6.8), point(12, 4, 8.6)],
        [span("Denosumab", "denosumab", 0, 1, "supportive"), span("Calcium gluconate", "calcium_gluconate", 10, 3)],
    ),
    trajectory("I", None, [point(0, 1, 11.8), point(3, 4, 10.9)], [span("prednisone", None, None, 3)]),
    trajectory(
        "K",
        "dystrophic_calcification",
        [point(0, 2, 9.4)],
        [span(ZOLEDRONIC, "zoledronic_acid", None, 1, "supportive")],
    ),
]  # fmt: skip

# align=first_calcium_directed: day - the day of the first administered calcium-directed intervention.
#   A: hydration day 0 -> unchanged.            B: zoledronic acid day 2 -> 0-2=-2, 7-2=5.
#   C: pamidronate day 0 -> unchanged.          D: hydration day 1 -> -1, 1, 9; spans 0 (end 2-1=1) and 3-1=2.
#   E: zoledronic acid day 0 -> unchanged.      F: zoledronic acid has no day -> not aligned, every day null.
#   G: hydration day 1 (tamoxifen is cancer-directed) -> 0, 3; tamoxifen -14-1=-15, hydration 0.
#   H: calcium gluconate day 10 (denosumab is supportive) -> 0, 2; denosumab 0-10=-10, gluconate 0.
#   I: prednisone has no day (pamidronate was only recommended) -> not aligned.
#   K: no calcium-directed intervention at all -> not aligned.
BY_FIRST = [
    BY_INDEX[0],
    trajectory("B", "humoral_pthrp", [point(-2, 1, 12.6), point(5, 3, 10.0)],
               [span(ZOLEDRONIC, "zoledronic_acid", 0, 2)]),
    BY_INDEX[2],
    trajectory(
        "D",
        "local_osteolytic",
        [point(-1, 1, 12.2), point(1, 3, 11.0), point(9, 5, 9.6)],
        [span(HYDRATION, "iv_hydration", 0, 2, end=1), span("Denosumab", "denosumab", 2, 4)],
    ),
    BY_INDEX[4],
    trajectory(
        "F",
        "local_osteolytic",
        [point(None, 1, 11.0), point(None, 3, 9.9)],
        [span(ZOLEDRONIC, "zoledronic_acid", None, 2)],
        aligned=False,
    ),
    trajectory(
        "G",
        "drug_related",
        [point(0, 2, 12.0, value_high=12.8), point(3, 4, 10.1)],
        [span("Tamoxifen", "tamoxifen", -15, 1, "cancer_directed"), span(HYDRATION, "iv_hydration", 0, 3)],
    ),
    trajectory(
        "H",
        "drug_related",
        [point(0, 2, 6.8), point(2, 4, 8.6)],
        [span("Denosumab", "denosumab", -10, 1, "supportive"), span("Calcium gluconate", "calcium_gluconate", 0, 3)],
    ),
    trajectory("I", None, [point(None, 1, 11.8), point(None, 4, 10.9)], [span("prednisone", None, None, 3)],
               aligned=False),
    trajectory(
        "K",
        "dystrophic_calcification",
        [point(None, 2, 9.4)],
        [span(ZOLEDRONIC, "zoledronic_acid", None, 1, "supportive")],
        aligned=False,
    ),
]  # fmt: skip


def with_ids(expected: list[dict], cohort: dict[str, str]) -> list[dict]:
    out = []
    for t in expected:
        t = dict(t)
        out.append({"case_id": cohort[t.pop("letter")], **t})
    return out


@pytest.mark.parametrize(("query", "expected"), [("", BY_INDEX), ("align=index", BY_INDEX)])
def test_trajectories_on_the_index_event(analyst, cohort, query, expected):
    assert get(analyst, TRAJECTORIES, query) == with_ids(expected, cohort)


def test_trajectories_on_the_first_calcium_directed_intervention(analyst, cohort):
    assert get(analyst, TRAJECTORIES, "align=first_calcium_directed") == with_ids(BY_FIRST, cohort)


def test_trajectories_are_capped_per_page_and_the_pages_give_the_whole_cohort(analyst, cohort, monkeypatch):
    from cases import analytics

    whole = get(analyst, TRAJECTORIES, "align=first_calcium_directed")
    assert len(whole) > 3  # the cohort spans several pages of 3
    monkeypatch.setattr(analytics, "TRAJECTORIES_PER_PAGE", 3)
    pages, url = [], f"{TRAJECTORIES}?align=first_calcium_directed"
    while url:
        response = analyst.get(url)
        assert response.status_code == 200
        assert response["X-Total-Count"] == str(len(whole))
        assert len(response.json()) <= 3
        pages.append(response.json())
        url = response.headers.get("Link", "").partition(">")[0].removeprefix("<")
    assert len(pages) == -(-len(whole) // 3)
    assert [t for page in pages for t in page] == whole  # in id order, each case once
    assert analyst.get(f"{TRAJECTORIES}?page={len(pages) + 1}").json() == []
    assert analyst.get(f"{TRAJECTORIES}?page={10**30}").json() == []  # past any OFFSET the database takes


@pytest.mark.parametrize("page", ["0", "-1", "x", ""])
def test_a_bad_trajectories_page_is_a_400_naming_it(analyst, cohort, page):
    response = analyst.get(f"{TRAJECTORIES}?page={page}")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["page"]


@pytest.mark.parametrize("align", ["day0", "", "FIRST_CALCIUM_DIRECTED"])
def test_an_unknown_align_is_a_400(analyst, cohort, align):
    response = analyst.get(f"{TRAJECTORIES}?align={align}")
    assert response.status_code == 400
    assert "align" in response.content.decode()


# --- access and cost -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_users_get_a_401(url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_user_without_a_role_gets_a_403(url):
    assert client_for(None).get(url).status_code == 403


def test_an_empty_cohort_is_answered(analyst):
    summary = get(analyst, SUMMARY)
    nothing = {"n": 0, "min": None, "q1": None, "median": None, "q3": None, "max": None}
    assert (summary["cases"], summary["age"]["n"], summary["peak_calcium"]) == (
        0,
        0,
        {"mg_dl": nothing, "mmol_l": nothing},
    )
    assert get(analyst, INTERVENTIONS) == {"by_agent": [], "by_drug_class": [], "by_intent": []}
    assert get(analyst, TRAJECTORIES) == []


# Queries per request, with the user's permissions already cached on the (force-authenticated) user object:
#   summary (PostgreSQL 7, SQLite 11): one aggregate of the cases (count, age bands, n/min/max of age and peak
#     calcium), the values at the quartiles' positions (PostgreSQL: one query, percentile_disc; SQLite: ranked rows, one
#     per field), by disorder / main mechanism / CTCAE grade / agreement (PostgreSQL: one query, GROUPING SETS;
#     SQLite: 4), by mechanism 1, by tumor site 1, receptor statuses 1, episodes per disorder 1 (issue 13). Was 14 on
#     both before issue 16's analytics round: each field its own scan of the (wide) case table.
#   interventions: on PostgreSQL 1, the three tables (agent, drug class, intent) with their counts and medians in one
#     GROUPING SETS pass (was 3, one per table, and before issue 16 15); on SQLite 5 per table = the counts, then the
#     medians of before, after, change and days to normal (ranked windows, cases.analytics.group_medians).
#   trajectories (4): the cohort's count (X-Total-Count), then the page's cases, their calcium and albumin results
#     and their administered interventions with their agents (was: cases, then three prefetches).
POSTGRESQL = connection.vendor == "postgresql"
QUERIES = {SUMMARY: 7 if POSTGRESQL else 11, INTERVENTIONS: 1 if POSTGRESQL else 15, TRAJECTORIES: 4}


def endpoint_query_counts(client) -> dict[str, int]:
    counts = {}
    for url in ENDPOINTS:
        for query in ("", {INTERVENTIONS: "by=mechanism", TRAJECTORIES: "align=first_calcium_directed"}.get(url, "")):
            with CaptureQueriesContext(connection) as queries:
                get(client, url, query)
            counts[f"{url}?{query}"] = len(queries)
    return counts


def test_each_endpoint_runs_a_fixed_number_of_queries(curator, analyst):
    make_agents()
    ids = post_cases(curator, "ABC")
    get(analyst, SUMMARY)  # caches the analyst's permissions on the user object
    small = endpoint_query_counts(analyst)
    ids.update(post_cases(curator, "DEFGHI"))
    assert Case.objects.published().count() == 9
    large = endpoint_query_counts(analyst)
    assert small == large
    assert large == {
        f"{SUMMARY}?": QUERIES[SUMMARY],
        f"{INTERVENTIONS}?": QUERIES[INTERVENTIONS],
        f"{INTERVENTIONS}?by=mechanism": QUERIES[INTERVENTIONS],
        f"{TRAJECTORIES}?": QUERIES[TRAJECTORIES],
        f"{TRAJECTORIES}?align=first_calcium_directed": QUERIES[TRAJECTORIES],
    }
