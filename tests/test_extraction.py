"""The extractor (cases/extraction.py) on small texts with a small vocabulary: each kind, negation, spans."""

import pytest

from cases import extraction
from cases.extraction import AgentTerm, AnalyteTerm, PhenotypeTerm, Vocabulary, extract, looks_english, normalise
from cases.vocabularies import MetastasisSite

VOCABULARY = Vocabulary(
    analytes=(
        AnalyteTerm("calcium_total", ("Serum total calcium", "calcium", "Ca"), ("mg/dL", "mmol/L")),
        AnalyteTerm("calcium_ionized", ("ionized calcium",), ("mg/dL", "mmol/L")),
        AnalyteTerm("pth_intact", ("PTH", "intact PTH", "parathyroid hormone"), ("pg/mL", "pmol/L")),
        AnalyteTerm("pthrp", ("PTH-related protein", "PTHrP"), ("pmol/L",)),
        AnalyteTerm("magnesium", ("magnesium", "Mg"), ("mg/dL", "mmol/L")),
        AnalyteTerm("phosphate", ("phosphate",), ("mg/dL", "mmol/L")),
        AnalyteTerm("creatinine", ("creatinine",), ("mg/dL", "µmol/L")),
    ),
    agents=(
        AgentTerm("zoledronic_acid", "Zoledronic acid", "drug", ("zoledronate",)),
        AgentTerm("doxorubicin", "Doxorubicin", "drug", ("adriamycin",)),
        AgentTerm("cyclophosphamide", "Cyclophosphamide", "drug"),
        AgentTerm("plicamycin", "Plicamycin (mithramycin)", "drug", ("plicamycin", "mithramycin")),
        AgentTerm("calcitonin_salmon", "Calcitonin (salmon)", "drug"),
        AgentTerm("calcium_gluconate", "Calcium gluconate", "drug"),
        AgentTerm("spinal", "Spinal cord decompression and stabilization", "procedure"),
    ),
    phenotypes=(
        PhenotypeTerm("HP:0001254", "Lethargy"),
        PhenotypeTerm("HP:0001324", "Muscle weakness", ("Muscular weakness",)),
        PhenotypeTerm("HP:0003072", "Hypercalcemia", ("High blood calcium level",)),
    ),
)


def run(text):
    return [p.as_dict() for p in extract(text, VOCABULARY)]


def of_kind(text, kind):
    return [p for p in run(text) if p["kind"] == kind]


def test_spans_point_at_the_evidence_in_the_text_as_given():
    text = "A 67-year-old\nwoman had a serum cal-\ncium of 14.2 mg/dL."
    for p in run(text):
        assert text[p["span"][0] : p["span"][1]] == p["quote"]
    (lab,) = of_kind(text, "lab")
    assert lab["fields"] == {"analyte": "calcium_total", "specimen": "serum", "value": 14.2, "unit": "mg/dL"}
    assert lab["quote"] == "cal-\ncium of 14.2 mg/dL"


def test_normalise_joins_broken_words_and_maps_offsets():
    norm, index = normalise("adri-\nmycin  and\n\nmore")
    assert norm == "adrimycin and\nmore"
    assert index[norm.index("and")] == 13


@pytest.mark.parametrize(
    ("text", "age", "sex"),
    [
        ("A 67-year-old woman presented.", 67, "female"),
        ("a sixty-one-year old female with breast cancer", 61, "female"),
        ("An 80-year-old man was admitted.", 80, "male"),
    ],
)
def test_patient(text, age, sex):
    (p,) = of_kind(text, "patient")
    assert p["fields"] == {"age_years": age, "sex": sex}


def test_lab_range_censored_reference_and_inherited_range():
    text = (
        "Serum calcium levels were between 12 and 16 mg/dL (normal range, 8.9–10.1 mg/dL). "
        "PTH was <5 pg/mL. Ionized calcium 1.2–1.4 mmol/L. "
        "Her serum calcium level decreased to 10.6 mg/dL after surgery and to 9.8 mg/dL after embolization."
    )
    labs = [p["fields"] for p in of_kind(text, "lab")]
    assert labs[0] == {"analyte": "calcium_total", "specimen": "serum", "value": 12, "value_high": 16,
                       "unit": "mg/dL", "ref_low": 8.9, "ref_high": 10.1}  # fmt: skip
    assert labs[1] == {"analyte": "pth_intact", "comparator": "<", "value": 5, "unit": "pg/mL"}
    assert labs[2] == {"analyte": "calcium_ionized", "value": 1.2, "value_high": 1.4, "unit": "mmol/L"}
    # two values of one analyte in one sentence: two proposals, in order, with the range printed earlier
    later = [(lab["value"], lab["ref_low"], lab["ref_high"]) for lab in labs[3:]]
    assert later == [(10.6, 8.9, 10.1), (9.8, 8.9, 10.1)]
    assert "printed earlier" in labs[3]["notes"]


def test_qualitative_lab_and_source_word():
    text = "Further evaluation showed an elevated PTH-related protein level with a low intact PTH level of 15.1 pg/mL."
    labs = [p["fields"] for p in of_kind(text, "lab")]
    assert labs == [
        {"analyte": "pthrp", "qualitative": "high"},
        {"analyte": "pth_intact", "value": 15.1, "unit": "pg/mL", "qualitative": "low"},
    ]
    assert [p["fields"]["qualitative"] for p in of_kind("Calcium and phosphate levels were normal.", "lab")] == [
        "normal",
        "normal",
    ]


def test_no_lab_from_units_citations_percentages_or_agents():
    text = "It accounts for 80% of cases.5 Creatinine clearance fell after 2 cycles. Calcium gluconate was given."
    assert of_kind(text, "lab") == []
    assert of_kind("The dose was 4 mg/dL in 3 doses.", "lab") == []  # "mg" is a unit, not magnesium


def test_disorder_word_takes_the_calcium_value_right_after_it():
    (lab,) = of_kind("• Hypercalcemia (11 mg/dL)", "lab")
    assert lab["fields"] == {"analyte": "calcium_total", "value": 11, "unit": "mg/dL"}
    assert lab["quote"] == "Hypercalcemia (11 mg/dL)"


def test_agents_synonyms_typos_combinations_cycles_duration_dose_route():
    text = "She underwent 6 cycles of cyclophosphamide/adrimycin. She used zoledronate for 5 years."
    rows = [p["fields"] for p in of_kind(text, "intervention")]
    assert [r["agent"] for r in rows] == ["cyclophosphamide", "doxorubicin", "zoledronic_acid"]
    assert rows[0]["cycles"] == rows[1]["cycles"] == 6
    assert rows[0]["regimen"] == "cyclophosphamide/adrimycin"
    assert (rows[2]["duration_text"], rows[2]["duration_days"]) == ("5 years", 1825)
    (zol,) = of_kind("Zoledronic acid 4 mg was given intravenously.", "intervention")
    assert (zol["fields"]["dose_value"], zol["fields"]["dose_unit"]) == (4, "mg")
    (iv,) = of_kind("She received intravenous zoledronic acid.", "intervention")
    assert iv["fields"]["route"] == "intravenous"


def test_agent_names_with_a_qualifier_and_inserted_words():
    assert [p["fields"]["agent"] for p in of_kind("Mithramycin therapy is advised against.", "intervention")] == [
        "plicamycin"
    ]
    # "Calcitonin (salmon)": plain "calcitonin" does not say which calcitonin
    assert of_kind("Consider calcitonin.", "intervention") == []
    assert [p["fields"]["agent"] for p in of_kind("Give salmon calcitonin.", "intervention")] == ["calcitonin_salmon"]
    (p,) = of_kind("Spinal cord decompression and cervical stabilization is recommended.", "intervention")
    assert p["fields"]["agent"] == "spinal"
    assert p["fields"]["status"] == "recommended"


def test_metastases_present_and_explicitly_absent_by_negex():
    text = (
        "The metastatic disease was confined to the liver and right axillary lymph nodes, and evidence of osseous "
        "metastasis was absent. No metastases were observed on the thorax or abdominal CTs. "
        "She had cervical spine metastases."
    )
    found = [(p["fields"]["site"], p["fields"]["present"]) for p in of_kind(text, "metastasis")]
    assert found == [
        ("liver", True),
        ("lymph_node", True),
        ("bone", False),
        ("thorax", False),
        ("abdomen", False),
        ("bone", True),
    ]
    assert set(extraction.SITE_WORDS) <= set(MetastasisSite.values)


def test_findings_coded_to_hpo_with_negation():
    text = "She presented with lethargy and muscle weakness. There was no hypercalcemia."
    found = [(p["fields"]["hpo_id"], p["fields"]["present"]) for p in of_kind(text, "finding")]
    assert found == [("HP:0001254", True), ("HP:0001324", True), ("HP:0003072", False)]


def test_tumor_receptors_tnm_histology():
    text = (
        "Biopsy showed poorly differentiated breast carcinoma with neuroendocrine differentiation. The tissue was "
        "HR positive and ERBB2 (formerly HER2/neu) negative. Mastectomy for breast cancer (T2N1M0). ER positive, "
        "PR negative."
    )
    fields = [p["fields"] for p in of_kind(text, "tumor")]
    assert fields[0] == {
        "histology": "poorly differentiated breast carcinoma with neuroendocrine differentiation",
        "grade": "poorly_differentiated",
        "site": "breast",
    }
    assert {"hormone_receptor": "positive"} in fields
    assert {"her2": "negative"} in fields
    assert {"tnm_reported": "T2N1M0", "site": "breast"} in fields  # the site the sentence names with the stage
    assert {"er": "positive"} in fields and {"pr": "negative"} in fields
    assert of_kind("Stage T1N0M0 was assigned.", "tumor")[0]["fields"] == {"tnm_reported": "T1N0M0"}


def test_treatments_named_only_by_their_class_are_proposed_without_an_agent():
    text = "She received adjuvant chemotherapy, radiotherapy, and five years of zoledronate."
    rows = [p["fields"] for p in of_kind(text, "intervention")]
    # "adjuvant": the sentence treats a cancer, so each of its treatments is proposed as cancer-directed
    assert {"category": "drug", "agent_text": "adjuvant chemotherapy", "intent": "cancer_directed"} in rows
    assert {"category": "radiotherapy", "agent_text": "radiotherapy", "intent": "cancer_directed"} in rows
    assert [r["agent"] for r in rows if r.get("agent")] == ["zoledronic_acid"]
    (plain,) = of_kind("Radiotherapy was given to the spine.", "intervention")
    assert plain["fields"] == {"category": "radiotherapy", "agent_text": "Radiotherapy"}
    # "for the treatment of breast cancer" is what background sentences say of any drug: no intent from it
    (background,) = of_kind("Zoledronate is used for the treatment of breast cancer.", "intervention")
    assert "intent" not in background["fields"]
    (surgery,) = of_kind("She had a mastectomy with zoledronate for breast cancer.", "intervention")
    assert surgery["fields"]["intent"] == "cancer_directed"


def test_timing_phrases_go_to_the_rows_of_their_sentence():
    text = "Eight months after radioembolization, she presented with lethargy. On day 3 calcium was 9 mg/dL."
    finding, lab = of_kind(text, "finding")[0], of_kind(text, "lab")[0]
    assert finding["fields"]["timing_text"] == "Eight months after radioembolization"
    assert finding["timing"]["anchor"] == "radioembolization"
    assert finding["timing"]["offset_days"] == 240 and finding["timing"]["approximate"]
    assert "day" not in finding["fields"]  # relative to radioembolization, not to day 0
    start, end = finding["timing"]["span"]
    assert text[start:end] == "Eight months after radioembolization"
    assert lab["fields"]["day"] == 3


def test_an_agent_named_as_the_anchor_of_a_timing_phrase_is_not_timed_by_it():
    # "21 months after the first doxorubicin dose" times the CT, not the doxorubicin (seed 000's embolization).
    text = "CT obtained 21 months after the first doxorubicin dose showed hypercalcemia."
    (agent,) = of_kind(text, "intervention")
    (finding,) = of_kind(text, "finding")
    assert "timing_text" not in agent["fields"] and agent["timing"] is None
    assert finding["fields"]["timing_text"] == "21 months after the first doxorubicin dose"


def test_english_check():
    assert looks_english("Serum calcium 12 mg/dL")
    assert not looks_english("患者は67歳の女性で、高カルシウム血症を呈した。" * 3)
    assert not looks_english("La paciente de 67 años presentó hipercalcemia y letargo con dolor óseo " * 4)
    assert looks_english("A 67-year-old woman presented with lethargy and weakness; her calcium was high. " * 3)


def test_ten_thousand_words_stay_offsets_exact():
    text = ("A 67-year-old woman had serum calcium of 12.4 mg/dL and received zoledronic acid. " * 800)[:60000]
    proposals = run(text)
    assert len([p for p in proposals if p["kind"] == "lab"]) >= 700
    assert all(text[p["span"][0] : p["span"][1]] == p["quote"] for p in proposals)


def test_capitalised_words_are_words_but_short_abbreviations_match_only_as_printed():
    vocabulary = Vocabulary(VOCABULARY.analytes, (), (PhenotypeTerm("HP:0000988", "Skin rash", ("Rash",)),))
    assert [p.fields["hpo_id"] for p in extract("She had a rash.", vocabulary)] == ["HP:0000988"]
    assert extract("4 mg/dL and 2 ca", vocabulary) == []  # "Mg" and "Ca" are abbreviations


def test_receptor_words_with_hyphens_and_citation_numbers():
    fields = [p["fields"] for p in of_kind("For hormone receptor-positive disease and HER2- tumors.", "tumor")]
    assert fields == [{"hormone_receptor": "positive"}, {"her2": "negative"}]
    assert of_kind("supplementing with vitamin D/calcium 6, 7.", "lab") == []
    assert of_kind("Her calcium was 14.2 on admission.", "lab")[0]["fields"] == {
        "analyte": "calcium_total",
        "value": 14.2,
    }
