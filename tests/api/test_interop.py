"""Phenopacket v2 and FHIR R4 exports: every source case and a hand-built case with every field filled pass the
official validators, keep their codes, values, units and timings, and come back whole through Phenopacket import."""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile

import phenopackets
import pydantic
import pytest
from django.core.management import call_command
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as R4Bundle
from fhirclient.models.fhirabstractbase import FHIRValidationError
from google.protobuf import json_format
from rest_framework.test import APIClient

from api.interop import HPO_RELEASE
from api.interop.phenopacket import case_document, phenopacket_import
from cases import measures
from cases.document import ImportFailed
from cases.models import Agent, Case, Source
from cases.services import cases_refresh_derived
from tests.api.documents import client_for
from tests.api.phenopacket_schema import required_field_errors
from tests.factories import make_case, make_lab
from tests.queries import count_queries

pytestmark = pytest.mark.django_db

SOURCE_CASES = [1, 2, 3]
ROW_KINDS = ["episodes", "tumors", "metastases", "mechanisms", "findings", "labs", "interventions"]
DOMAIN_HPO = {"HP:0003072", "HP:0002901", "HP:0001254", "HP:0001347"}


def phenopacket_url(case) -> str:
    return f"/api/v1/cases/{case.registry_id if isinstance(case, Case) else case}/phenopacket/"


def fhir_url(case) -> str:
    return f"/api/v1/cases/{case.registry_id if isinstance(case, Case) else case}/fhir/"


# --- a hand-built case with every field filled ----------------------------------------------------------------


def full_document(source: Source, age_years: int) -> dict:
    """Every field of every row kind, each value kind of a lab (value, range, censored, qualitative only, a
    one-sided range, a unit without a LOINC code, µmol/L), every intervention category and status."""
    timing = {"day_is_approximate": False}
    return {
        "source_id": source.pk,
        "title": "Hypocalcemia after denosumab with osteoblastic metastases (hand-built test case)",
        "case_label": "Case 2",
        "disorder": "hypocalcemia",
        "index_event": "Presentation with tetany",
        "summary": "A woman with breast cancer and osteoblastic bone metastases presents with tetany after denosumab.",
        "curation_notes": "Built by the tests; every field is filled.",
        "patient": {"age_years": age_years, "sex": "female", "menopausal_status": "postmenopausal"},
        "tumors": [
            {
                "site": "breast",
                "icdo3_topography": "C50.4",
                "laterality": "left",
                "histology": "invasive ductal carcinoma",
                "icdo3_morphology": "8500/3",
                "grade": "moderately_differentiated",
                "er": "positive",
                "pr": "negative",
                "her2": "positive",
                "hormone_receptor": "positive",
                "tnm_reported": "T2N1M1",
                "stage_text": "stage IV",
                "size_mm": 32,
                "size_text": "3.2 cm",
                "sequence": 1,
                "day": -400,
                "day_is_approximate": True,
                "timing_text": "about 13 months before presentation",
                "quote": "invasive ductal carcinoma of the left breast",
            }
        ],
        "metastases": [
            {
                "site": "bone",
                "detail": "diffuse osteoblastic",
                "present": True,
                "sequence": 2,
                "day": -30,
                **timing,
                "timing_text": "a month before presentation",
                "quote": "diffuse osteoblastic bone metastases",
            },
            {
                "site": "liver",
                "detail": "",
                "present": False,
                "sequence": 5,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "quote": "no liver metastases",
            },
            {"site": "unspecified", "detail": "metastatic", "present": True, "sequence": 2},
        ],
        "mechanisms": [
            {"rank": 1, "code": "osteoblastic_hungry_bone", "certainty": "probable", "evidence": "Osteoblastic."},
            {
                "rank": 2,
                "code": "drug_related",
                "certainty": "possible",
                "evidence": "Onset after denosumab.",
                "suspect_agent": "denosumab",
                "action_taken": "drug_withdrawn",
                "dechallenge": "positive",
                "rechallenge": "not_done",
            },
        ],
        "findings": [
            {
                "label": "Carpopedal spasm",
                "hpo_id": "",
                "present": True,
                "sequence": 5,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "quote": "carpopedal spasm",
            },
            {
                "label": "Hypocalcemia",
                "hpo_id": "HP:0002901",
                "present": True,
                "sequence": 5,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "quote": "severe hypocalcemia",
            },
            {
                "label": "Lethargy",
                "hpo_id": "HP:0001254",
                "present": False,
                "sequence": 5,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "quote": "no lethargy",
            },
        ],
        "interventions": [
            {
                "category": "drug",
                "agent": "denosumab",
                "agent_text": "denosumab",
                "regimen": "denosumab monotherapy",
                "intent": "supportive",
                "status": "administered",
                "dose_text": "120 mg every 4 weeks",
                "dose_value": 120,
                "dose_unit": "mg",
                "route": "subcutaneous",
                "given_before_presentation": True,
                "schedule": "every 4 weeks",
                "cycles": 3,
                "cycles_text": "3 doses",
                "sequence": 3,
                "day": -90,
                "day_is_approximate": True,
                "timing_text": "about three months before presentation",
                "end_day": -10,
                "end_day_is_approximate": True,
                "end_timing_text": "ten days before presentation",
                "duration_days": 80,
                "duration_text": "about three months",
                "calcium_response": "none",
                "tumor_response": "stable_disease",
                "adverse_events": "observed",
                "adverse_events_text": "Severe hypocalcemia.",
                "quote": "denosumab 120 mg every 4 weeks",
                "notes": "Stopped after the hypocalcemia.",
            },
            {
                "category": "drug",
                "agent": "calcium_gluconate",
                "agent_text": "IV calcium gluconate",
                "intent": "calcium_directed",
                "status": "administered",
                "route": "intravenous",
                "sequence": 6,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "calcium_response": "normalised",
                "adverse_events": "none_observed",
                "quote": "intravenous calcium gluconate",
            },
            {
                "category": "procedure",
                "agent": "mastectomy",
                "agent_text": "left mastectomy",
                "intent": "cancer_directed",
                "status": "administered",
                "sequence": 1,
                "day": -380,
                "day_is_approximate": True,
                "timing_text": "after diagnosis",
                "tumor_response": "complete_response",
            },
            {
                "category": "radiotherapy",
                "agent": "external_beam_radiotherapy",
                "agent_text": "palliative radiotherapy to the spine",
                "intent": "cancer_directed",
                "status": "administered",
                "cycles": 5,
                "cycles_text": "5 fractions",
                "sequence": 2,
                "day": -40,
                **timing,
                "timing_text": "before presentation",
            },
            {
                "category": "supportive_care",
                "agent_text": "dietary calcium advice",
                "intent": "supportive",
                "status": "administered",
                "sequence": 7,
                "day": 3,
                **timing,
                "timing_text": "at discharge",
            },
            {
                "category": "drug",
                "agent_text": "chemotherapy (regimen not named)",
                "intent": "cancer_directed",
                "status": "administered",
                "sequence": 2,
                "timing_text": "after mastectomy",
                "notes": "Regimen not named.",
            },
            {
                "category": "drug",
                "agent": "cholecalciferol",
                "agent_text": "vitamin D",
                "intent": "calcium_directed",
                "status": "recommended",
                "sequence": 8,
                "timing_text": "at discharge",
            },
            {
                "category": "procedure",
                "agent": "hemodialysis",
                "agent_text": "hemodialysis",
                "intent": "calcium_directed",
                "status": "advised_against",
                "sequence": 6,
                "timing_text": "at presentation",
                "notes": "Not indicated.",
            },
        ],
        "labs": [
            {
                "analyte": "calcium_total",
                "specimen": "serum",
                "value": 6.2,
                "unit": "mg/dL",
                "ref_low": 8.5,
                "ref_high": 10.5,
                "sequence": 5,
                "day": 0,
                **timing,
                "timing_text": "at presentation",
                "quote": "calcium 6.2 mg/dL",
                "notes": "Lowest value.",
            },
            {
                "analyte": "calcium_total",
                "value": 6.0,
                "value_high": 7.0,
                "unit": "mg/dL",
                "qualitative": "low",
                "sequence": 5,
                "day": 1,
                "day_is_approximate": True,
                "timing_text": "the next day",
            },
            {
                "analyte": "calcium_ionized",
                "specimen": "blood",
                "value": 0.8,
                "unit": "mmol/L",
                "ref_low": 1.15,
                "ref_high": 1.3,
                "sequence": 5,
                "day": 0,
                **timing,
            },
            {
                "analyte": "calcium_total",
                "value": 2.3,
                "unit": "mmol/L",
                "ref_high": 2.6,
                "sequence": 9,
                "day": 10,
                **timing,
                "follows_intervention_index": 1,
            },
            {"analyte": "calcium_corrected", "qualitative": "low", "sequence": 5, "timing_text": "at presentation"},
            {
                "analyte": "pth_intact",
                "comparator": "<",
                "value": 5,
                "unit": "pg/mL",
                "qualitative": "low",
                "ref_low": 15,
                "ref_high": 65,
                "sequence": 5,
            },
            {"analyte": "vitamin_d_25oh", "value": 12, "unit": "ng/mL", "ref_low": 30, "sequence": 5},
            {"analyte": "albumin", "value": 3.0, "unit": "g/dL", "sequence": 5, "day": 0, **timing},
            {"analyte": "creatinine", "value": 88, "unit": "µmol/L", "sequence": 5},
            {"analyte": "magnesium", "qualitative": "normal", "sequence": 5},
            {"analyte": "alkaline_phosphatase", "value": 400, "unit": "U/L", "qualitative": "high", "sequence": 5},
            {"analyte": "pthrp", "qualitative": "negative", "sequence": 5},
            # issue 13: values as printed
            {
                "analyte": "calcium_unspecified",
                "value": 7.1,
                "unit": "mg/dL",
                "value_is_approximate": True,
                "sequence": 6,
            },
            {
                "analyte": "pth_intact",
                "value": 80,
                "ref_low": 10,
                "ref_high": 65,
                "unit_not_reported": True,
                "sequence": 6,
            },
            {"analyte": "pthrp", "value": 45, "unit": "pg/mL", "sequence": 6},
        ],
        "outcome": {
            "vital_status": "dead",
            "follow_up_days": 120,
            "follow_up_text": "four months",
            "calcium_outcome": "improved",
            "tumor_response": "progressive_disease",
            "notes": "Died of progressive disease.",
        },
    }


def make_full_case(curator, age_years: int = 67) -> Case:
    source = Source.objects.create(
        kind="case_report",
        citation="Doe J, Roe R. Hypocalcemia after denosumab. J Test Oncol. 2021;1:1-3.",
        title="Hypocalcemia after denosumab",
        journal="J Test Oncol",
        year=2021,
        doi="10.5555/interop-test",
        pmid="99999999",
        url="https://example.org/interop-test",
        notes="Made up for the tests.",
    )
    response = curator.post("/api/v1/cases/", full_document(source, age_years), format="json")
    assert response.status_code == 201, response.json()
    return Case.objects.get(pk=int(response.json()["id"].removeprefix("CCR-")))


@pytest.fixture(params=[67, 95], ids=["age-67", "age-90-plus"])
def full_case(request, curator):
    call_command("loaddata", "agents", verbosity=0)
    return make_full_case(curator, request.param)


@pytest.fixture(params=["source-1", "source-2", "source-3", "full-age-67", "full-age-90-plus"])
def any_case(request, curator):
    """Each source case, and the hand-built case at 67 and at 90 or older."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases_refresh_derived(Case.objects.all())
    kind, _, arg = request.param.partition("-")
    if kind == "source":
        return Case.objects.get(pk=int(arg))
    return make_full_case(curator, 67 if arg == "age-67" else 95)


# --- helpers ---------------------------------------------------------------------------------------------------


def parse_phenopacket(packet: dict) -> phenopackets.Phenopacket:
    """The official schema's own parser; unknown fields are an error."""
    return json_format.Parse(json.dumps(packet), phenopackets.Phenopacket(), ignore_unknown_fields=False)


def validate_fhir(bundle: dict) -> None:
    """fhir.resources (FHIR R4B models: 8.x ships no R4 package) and fhirclient (genuine R4 4.0.1 models, strict)."""
    Bundle.model_validate(bundle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R4Bundle(copy.deepcopy(bundle), strict=True)


def curies(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        if {"id", "label"} <= set(node) and ":" in node["id"]:
            found.add(node["id"])
        for value in node.values():
            found |= curies(value)
    elif isinstance(node, list):
        for item in node:
            found |= curies(item)
    return found


def _annotations(packet: dict) -> dict[str, dict]:
    """The registry annotations by row path ("labs/0")."""
    return {
        r["id"].split("#")[1]: json.loads(r["description"])
        for r in packet["metaData"]["externalReferences"]
        if "#" in r.get("id", "")
    }


def comparable(case: Case) -> dict:
    """The case document without what the server owns (ids, status, version, timestamps, users): what a round trip
    must keep. It still holds every code (HPO, LOINC via the analyte, ICD-O-3, ATC via the agent), value, unit,
    reference range, qualitative word, timing (sequence, day, approximate flag, phrase, end, duration), quote, note,
    the derived measures recomputed from them, and the source."""
    document = json.loads(json.dumps(case_document(Case.objects.with_children().get(pk=case.pk))))
    for key in ("id", "status", "version", "created_at", "updated_at", "updated_at_utc", "created_by", "updated_by"):
        document.pop(key)
    for kind in ROW_KINDS:
        for row in document[kind]:
            row.pop("id")
    for episode in document["episodes"]:  # issue 13, point 1: its mechanisms without their ids
        for mechanism in episode["mechanisms"]:
            mechanism.pop("id")
    return document


def resources(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def timeline(resource: dict) -> dict:
    (ext,) = [e for e in resource["extension"] if e["url"].endswith("/case-timeline")]
    return {part["url"]: next(v for k, v in part.items() if k.startswith("value")) for part in ext["extension"]}


# --- Phenopacket ------------------------------------------------------------------------------------------------


def test_every_case_exports_a_phenopacket_the_official_schema_parses(any_case, curator):
    response = curator.get(phenopacket_url(any_case))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    packet = response.json()
    parsed = parse_phenopacket(packet)
    assert parsed.id == any_case.registry_id
    assert parsed.meta_data.phenopacket_schema_version == "2.0"
    # metaData lists every ontology whose terms are used, and only those
    prefixes = {curie.split(":")[0] for curie in curies({k: v for k, v in packet.items() if k != "metaData"})}
    assert {r["namespacePrefix"] for r in packet["metaData"]["resources"]} == prefixes


def test_every_case_exports_a_phenopacket_complete_by_the_v2_required_fields(any_case, curator):
    """The strict check (tests/api/phenopacket_schema.py) beside the protobuf parse: every element the schema marks
    required is present with a real term, or the element is not emitted at all."""
    packet = curator.get(phenopacket_url(any_case)).json()
    assert required_field_errors(packet) == []
    resources = {r["namespacePrefix"]: r for r in packet["metaData"]["resources"]}
    assert resources["HP"]["version"] == HPO_RELEASE == "2025-01-16"
    # every row of the case is either an element or an annotation naming none, so the import loses nothing
    rows = {r["id"].split("#")[1] for r in packet["metaData"]["externalReferences"] if "#" in r.get("id", "")}
    document = case_document(Case.objects.with_children().get(pk=any_case.pk))
    assert rows == {"case", "source"} | {f"{kind}/{n}" for kind in ROW_KINDS for n in range(len(document[kind]))}


@pytest.mark.parametrize(
    "spoil, error",
    [
        (lambda p: p["phenotypicFeatures"][0].pop("type"), "'type' is a required property"),
        (lambda p: p["phenotypicFeatures"][0]["type"].update(label=""), "should be non-empty"),
        (lambda p: p["diseases"][0].pop("term"), "'term' is a required property"),
        (lambda p: p["measurements"][0].pop("value"), "is not valid under any of the given schemas"),
        (lambda p: p["measurements"][0].pop("assay"), "'assay' is a required property"),
        (lambda p: p["medicalActions"][0]["treatment"].pop("agent"), "'agent' is a required property"),
        (lambda p: p["medicalActions"].append({"radiationTherapy": {}}), "'modality' is a required property"),
        (lambda p: p["medicalActions"].append({"procedure": {}}), "'code' is a required property"),
        (lambda p: p["metaData"]["resources"][0].pop("version"), "'version' is a required property"),
        (lambda p: p["metaData"].update(resources=[]), "should be non-empty"),
        (lambda p: p.update(phenotypicFeatures=[]), "should be non-empty"),
    ],
)
def test_the_strict_check_refuses_what_the_protobuf_parser_accepts(curator, spoil, error):
    call_command("loaddata", "agents", verbosity=0)
    packet = curator.get(phenopacket_url(make_full_case(curator, 67))).json()
    assert required_field_errors(packet) == []
    spoil(packet)
    parse_phenopacket(packet)  # protobuf 3: every field optional, so the official parser alone cannot tell
    assert any(error in message for message in required_field_errors(packet)), required_field_errors(packet)


def test_a_phenopacket_uses_only_codes_the_registry_holds(any_case, curator):
    packet = curator.get(phenopacket_url(any_case)).json()
    case = Case.objects.with_children().get(pk=any_case.pk)
    allowed = (
        DOMAIN_HPO
        | {f.hpo_id for f in case.findings.all() if f.hpo_id}
        | {f"LOINC:{lab.loinc}" for lab in case.labs.all() if lab.loinc}
        | {f"UCUM:{u}" for u in measures.UCUM.values()}
        | {f"ATC:{a}" for a in Agent.objects.exclude(atc_code="").values_list("atc_code", flat=True)}
        | {f"ICDO:{t.icdo3_topography}" for t in case.tumors.all()}
        | {f"ICDO:{t.icdo3_morphology}" for t in case.tumors.all() if t.icdo3_morphology}
    )
    assert curies(packet) <= allowed


def test_the_phenopacket_of_source_case_1_maps_its_rows(source_cases, analyst):
    packet = analyst.get(phenopacket_url("CCR-000001")).json()
    assert packet["subject"]["sex"] == "FEMALE"
    assert packet["subject"]["timeAtLastEncounter"] == {"age": {"iso8601duration": "P67Y"}}
    features = packet["phenotypicFeatures"]
    lethargy = next(f for f in features if f.get("type", {}).get("id") == "HP:0001254")
    assert lethargy["onset"] == {"age": {"iso8601duration": "P67Y"}}  # day 0
    weakness = next(f for f in features if f["description"] == "Generalized weakness")
    assert weakness["type"] == {"id": "HP:0003324", "label": "Generalized muscle weakness"}  # checked in hp.obo
    annotations = _annotations(packet)
    # A feature needs a type: an uncoded finding and a metastasis site (no code in the registry) are annotations.
    assert annotations["findings/0"] == {
        "element": None,
        "label": "Disease progression in the liver on follow-up imaging",
        "present": True,
        **{k: annotations["findings/0"][k] for k in ("sequence", "timing_text", "quote")},
    }
    absent_bone = next(a for k, a in annotations.items() if k.startswith("metastases/") and a["site"] == "bone")
    assert absent_bone["element"] is None and absent_bone["present"] is False
    assert all("Metastasis" not in f["description"] for f in features)
    calcium = packet["measurements"][0]
    assert calcium["assay"] == {"id": "LOINC:17861-6", "label": "Serum total calcium"}
    assert calcium["value"]["quantity"] == {
        "unit": {"id": "UCUM:mg/dL", "label": "mg/dL"},
        "value": 12.0,  # the low end of "between 12 and 16": the high end is in the description and annotation
        "referenceRange": {"unit": {"id": "UCUM:mg/dL", "label": "mg/dL"}, "low": 8.9, "high": 10.1},
    }
    assert "12–16 mg/dL" in calcium["description"]
    # "elevated PTH-related protein": a measurement needs a value, and the word has no term: an annotation
    pthrp = next(a for k, a in annotations.items() if k.startswith("labs/") and a.get("analyte") == "pthrp")
    assert pthrp["element"] is None and pthrp["qualitative"] == "high"
    assert all(m["assay"]["id"] != "LOINC:15087-0" for m in packet["measurements"])
    agents = [a["treatment"]["agent"]["id"] for a in packet["medicalActions"]]
    assert agents[:2] == ["ATC:L01AA01", "ATC:L01DB01"]  # cyclophosphamide, doxorubicin
    # A procedure needs a code the registry does not have: radioembolization and IV fluids are annotations.
    assert all(set(a) <= {"treatment", "treatmentTarget"} for a in packet["medicalActions"])
    radioembolization = next(
        a
        for k, a in annotations.items()
        if k.startswith("interventions/") and a.get("agent") == "radioembolization_y90"
    )
    assert radioembolization["element"] is None and radioembolization["day"] == -240
    assert "diseases" not in packet  # no ICD-O-3 morphology coded: a disease without its term is not emitted
    (tumor,) = [a for k, a in annotations.items() if k.startswith("tumors/")]
    assert tumor["element"] is None and tumor["icdo3_topography"] == "C50.9"
    (source,) = [r for r in packet["metaData"]["externalReferences"] if "id" not in r]
    assert source == {"description": Case.objects.get(pk=1).source.citation}  # no PMID, DOI or URL in the seed


def test_the_phenopacket_cites_the_source_by_pmid_and_doi(full_case, curator):
    refs = curator.get(phenopacket_url(full_case)).json()["metaData"]["externalReferences"]
    by_id = {r.get("id"): r for r in refs}
    assert by_id["PMID:99999999"]["reference"] == "https://pubmed.ncbi.nlm.nih.gov/99999999/"
    assert by_id["DOI:10.5555/interop-test"]["reference"] == "https://doi.org/10.5555/interop-test"
    assert by_id["DOI:10.5555/interop-test"]["description"] == full_case.source.citation


def test_the_hand_built_case_maps_every_kind_of_value(curator):
    call_command("loaddata", "agents", verbosity=0)
    case = make_full_case(curator, 67)
    packet = curator.get(phenopacket_url(case)).json()
    annotations = _annotations(packet)
    (disease,) = packet["diseases"]
    assert disease["term"] == {"id": "ICDO:8500/3", "label": "invasive ductal carcinoma"}
    assert disease["primarySite"]["id"] == "ICDO:C50.4"
    assert disease["onset"] == {"age": {"iso8601duration": "P65Y330D"}}  # day -400
    measurements = {m["description"].split(" (reference")[0]: m for m in packet["measurements"]}
    assert measurements["Ionized calcium 0.8 mmol/L"]["assay"]["id"] == "LOINC:1994-3"  # in whole blood
    vitamin_d = measurements["25-hydroxyvitamin D 12 ng/mL"]
    assert "referenceRange" not in vitamin_d["value"]["quantity"]  # one-sided: kept in the annotation
    assert len(packet["measurements"]) == 6, sorted(measurements)
    # A qualitative calcium ("low", no number) has no unit and so no LOINC property (cases.measures.Loinc): a
    # measurement needs its assay, so it stays whole in its annotation, as do the rows below.
    # Total calcium in mmol/L has no LOINC code in domain.md (no assay), "<5 pg/mL" is not the number 5, and
    # "normal" magnesium and "negative" PTHrP have no term: none is a measurement, each is whole in its annotation.
    document = case_document(Case.objects.with_children().get(pk=case.pk))

    def annotation(kind: str, **fields) -> dict:
        (n,) = [n for n, row in enumerate(document[kind]) if fields.items() <= row.items()]
        return annotations[f"{kind}/{n}"]

    creatinine = annotation("labs", analyte="creatinine")  # 2160-0 is the mass code (mg/dL), not for µmol/L
    assert (creatinine["element"], creatinine["value"], creatinine["unit"]) == (None, 88.0, "µmol/L")
    corrected = annotation("labs", analyte="calcium_corrected")
    assert (corrected["element"], corrected["qualitative"]) == (None, "low")
    in_mmol = annotation("labs", analyte="calcium_total", unit="mmol/L")
    pth = annotation("labs", analyte="pth_intact", comparator="<")
    magnesium = annotation("labs", analyte="magnesium")
    pthrp = annotation("labs", analyte="pthrp", qualitative="negative")
    assert in_mmol == {**in_mmol, "element": None, "analyte": "calcium_total", "value": 2.3, "unit": "mmol/L"}
    assert pth == {**pth, "element": None, "comparator": "<", "value": 5.0, "unit": "pg/mL", "qualitative": "low"}
    assert (magnesium["element"], magnesium["qualitative"]) == (None, "normal")
    assert (pthrp["element"], pthrp["qualitative"]) == (None, "negative")
    assert not any("value" in m and m["value"].get("quantity", {}).get("value") == 5 for m in packet["measurements"])
    assert packet["medicalActions"] == [  # in timeline order: only administered drugs with an ATC-coded agent
        {"treatment": {"agent": {"id": "ATC:M05BX04", "label": "Denosumab"}}},
        {
            "treatment": {"agent": {"id": "ATC:A12AA03", "label": "Calcium gluconate"}},
            "treatmentTarget": {"id": "HP:0002901", "label": "Hypocalcemia"},
        },
    ]
    # No procedure code, no radiotherapy modality / site / dose, no agent: annotations, never empty elements.
    mastectomy, radiotherapy, advice, chemotherapy = (
        annotation("interventions", category=category, agent=agent)
        for category, agent in [
            ("procedure", "mastectomy"),
            ("radiotherapy", "external_beam_radiotherapy"),
            ("supportive_care", None),
            ("drug", None),
        ]
    )
    assert (mastectomy["element"], mastectomy["agent"], mastectomy["status"]) == (None, "mastectomy", "administered")
    assert (radiotherapy["element"], radiotherapy["cycles"], radiotherapy["category"]) == (None, 5, "radiotherapy")
    assert (advice["element"], advice["category"]) == (None, "supportive_care")
    assert (chemotherapy["element"], chemotherapy["agent_text"]) == (None, "chemotherapy (regimen not named)")
    # findings: a coded one is a feature, an uncoded one an annotation with its text
    assert [f["type"]["id"] for f in packet["phenotypicFeatures"]] == ["HP:0002901", "HP:0001254"]
    assert annotation("findings", label="Carpopedal spasm")["element"] is None
    assert packet["subject"]["vitalStatus"] == {"status": "DECEASED"}


def test_ages_over_89_are_p90y_with_a_note_and_no_other_age(curator):
    call_command("loaddata", "agents", verbosity=0)
    case = make_full_case(curator, 95)
    packet = curator.get(phenopacket_url(case)).json()
    assert packet["subject"]["timeAtLastEncounter"] == {"age": {"iso8601duration": "P90Y"}}
    (record,) = [r for r in packet["metaData"]["externalReferences"] if r.get("id") == case.registry_id]
    assert "90 or older" in record["description"]
    body = {k: v for k, v in packet.items() if k not in ("subject", "metaData")}
    assert "iso8601duration" not in json.dumps(body)  # the exact age is unknown: event times stay day offsets


def test_what_the_schema_cannot_hold_is_annotated_in_metadata_not_in_unknown_fields(full_case, curator):
    packet = curator.get(phenopacket_url(full_case)).json()
    annotations = {
        r["id"].split("#")[1]: json.loads(r["description"])
        for r in packet["metaData"]["externalReferences"]
        if "#" in r.get("id", "")
    }
    assert annotations["mechanisms/1"] == {
        "element": None,
        "rank": 2,
        "code": "drug_related",
        "certainty": "possible",
        "evidence": "Onset after denosumab.",
        "suspect_agent": "denosumab",
        "action_taken": "drug_withdrawn",
        "dechallenge": "positive",
        "rechallenge": "not_done",
    }
    calcium = annotations["labs/0"]
    assert calcium["element"] == "measurements/0"
    assert {"sequence", "timing_text", "quote", "notes", "specimen"} <= set(calcium)
    # What a Phenopacket field carries is not repeated in the annotation: the importer must read it from there.
    assert not {"analyte", "value", "unit", "ref_low", "ref_high"} & set(calcium)


# --- FHIR -------------------------------------------------------------------------------------------------------


def test_every_case_exports_a_fhir_bundle_that_validates(any_case, curator):
    response = curator.get(fhir_url(any_case))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    validate_fhir(bundle)
    assert bundle["type"] == "collection"
    assert bundle["identifier"]["value"] == any_case.registry_id
    (patient,) = resources(bundle, "Patient")
    assert "identifier" not in patient and "name" not in patient and "birthDate" not in patient
    (source,) = resources(bundle, "DocumentReference")
    assert source["description"] == any_case.source.citation
    urls = {e["fullUrl"] for e in bundle["entry"]}
    references = {value for value in _walk(bundle) if isinstance(value, str) and value.startswith("urn:uuid:")} - urls
    assert not references, "every reference resolves inside the Bundle"


def _walk(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
    else:
        yield node


def test_the_fhir_validators_refuse_what_is_not_r4():
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    bundle = client_for("curator").get(fhir_url("CCR-000001")).json()
    spoiled = copy.deepcopy(bundle)
    spoiled["entry"][0]["resource"]["favouriteColour"] = "blue"
    with pytest.raises(pydantic.ValidationError, match="favouriteColour"):
        Bundle.model_validate(spoiled)
    with pytest.raises(FHIRValidationError, match="favouriteColour"):
        R4Bundle(spoiled, strict=True)
    r5 = copy.deepcopy(bundle)
    statement = next(e["resource"] for e in r5["entry"] if e["resource"]["resourceType"] == "MedicationStatement")
    statement["medication"] = {"concept": statement.pop("medicationCodeableConcept")}  # R5's shape
    with pytest.raises(pydantic.ValidationError):
        Bundle.model_validate(r5)


def test_the_fhir_bundle_of_source_case_1(source_cases, analyst):
    bundle = analyst.get(fhir_url("1")).json()
    (patient,) = resources(bundle, "Patient")
    assert patient["gender"] == "female"
    (age,) = patient["extension"]
    assert age["url"].endswith("/age-at-index-event")
    assert age["valueAge"] == {"value": 67, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}
    conditions = resources(bundle, "Condition")
    cancer = conditions[0]
    assert cancer["bodySite"][0]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/icd-o-3", "code": "C50.9"}
    ]
    histology = next(e for e in cancer["extension"] if e["url"].endswith("mcode-histology-morphology-behavior"))
    assert histology["valueCodeableConcept"] == {
        "text": "poorly differentiated breast carcinoma with neuroendocrine differentiation"
    }  # no ICD-O-3 morphology coded: the text only
    hypercalcemia = conditions[1]
    assert hypercalcemia["code"]["coding"] == [
        {"system": "http://human-phenotype-ontology.org", "code": "HP:0003072", "display": "Hypercalcemia"}
    ]
    assert hypercalcemia["severity"]["text"] == "CTCAE v5.0 grade 4 (calcium total)"
    assert any("Humoral (PTHrP), confirmed" in n["text"] for n in hypercalcemia["note"])
    absent_bone = next(c for c in conditions if c["code"]["text"] == "Metastasis: bone")
    assert absent_bone["verificationStatus"]["coding"][0]["code"] == "refuted"
    observations = resources(bundle, "Observation")
    her2 = next(o for o in observations if o["code"].get("coding", [{}])[0].get("code") == "48676-1")
    assert her2["valueCodeableConcept"] == {"text": "Negative"}
    hr = next(o for o in observations if o["code"]["text"].startswith("Hormone receptor"))
    assert hr["valueCodeableConcept"] == {"text": "Positive"}  # "HR positive" without ER / PR detail
    labs = [o for o in observations if o["code"].get("coding", [{}])[0].get("system") == "http://loinc.org"]
    calcium = next(o for o in labs if "valueRange" in o)
    assert calcium["valueRange"]["high"] == {
        "value": 16.0,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert calcium["referenceRange"][0]["low"]["value"] == 8.9
    assert calcium["interpretation"][0]["coding"][0]["code"] == "H"
    assert timeline(calcium) == {
        "sequence": 8,
        "day": 0,
        "dayIsApproximate": True,
        "text": "serial laboratory studies after presentation",
    }
    statements = resources(bundle, "MedicationStatement")
    assert statements[0]["medicationCodeableConcept"]["coding"] == [
        {"system": "http://www.whocc.no/atc", "code": "L01AA01"}
    ]
    procedures = resources(bundle, "Procedure")
    assert [p["code"]["text"] for p in procedures][:2] == [
        "radioembolization treatment with Y90 glass microspheres",
        "intravenous fluids",
    ]


def test_the_fhir_bundle_of_the_hand_built_case(full_case, curator):
    bundle = curator.get(fhir_url(full_case)).json()
    (patient,) = resources(bundle, "Patient")
    assert patient["deceasedBoolean"] is True
    age = patient["extension"][0]["valueAge"]
    if full_case.age_years == 90:
        assert (age["value"], age["comparator"]) == (90, ">=")  # 90 or older
    observations = resources(bundle, "Observation")
    receptors = {
        o["code"]["coding"][0]["code"]: o["valueCodeableConcept"]["text"] for o in observations if o.get("focus")
    }
    assert receptors == {"85337-4": "Positive", "85339-0": "Negative", "48676-1": "Positive"}
    pth = next(o for o in observations if o["code"]["text"] == "Intact PTH")
    assert pth["valueQuantity"]["comparator"] == "<"
    creatinine = next(o for o in observations if o["code"]["text"] == "Serum creatinine")
    assert creatinine["valueQuantity"]["code"] == "umol/L"
    after_calcium = next(o for o in observations if o.get("valueQuantity", {}).get("value") == 2.3)
    gluconate = next(
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"].get("medicationCodeableConcept", {}).get("text") == "IV calcium gluconate"
    )
    assert timeline(after_calcium)["followsIntervention"] == {"reference": gluconate}
    statements = {s["medicationCodeableConcept"]["text"]: s for s in resources(bundle, "MedicationStatement")}
    assert statements["denosumab"]["dosage"][0]["doseAndRate"] == [{"doseQuantity": {"value": 120.0, "unit": "mg"}}]
    assert statements["vitamin D"]["status"] == "intended"
    assert timeline(statements["denosumab"])["endDay"] == -10
    procedures = {p["code"]["text"]: p for p in resources(bundle, "Procedure")}
    assert procedures["hemodialysis"]["status"] == "not-done"
    assert procedures["palliative radiotherapy to the spine"]["category"] == {"text": "Radiotherapy"}
    (source,) = resources(bundle, "DocumentReference")
    assert {i["system"]: i["value"] for i in source["identifier"]} == {
        "https://doi.org": "10.5555/interop-test",
        "https://pubmed.ncbi.nlm.nih.gov": "99999999",
    }


# --- Phenopacket import: the round trip -------------------------------------------------------------------------


def test_a_phenopacket_round_trip_recreates_an_equivalent_case(any_case, curator):
    """Equal = the whole case document minus server-owned fields (see comparable): same codes, values, units,
    reference ranges, timings, quotes and notes, and therefore the same derived measures."""
    packet = curator.get(phenopacket_url(any_case)).json()
    imported = phenopacket_import(packet, user=curator.user, confirm=["duplicate"])  # the same case again
    assert imported.pk != any_case.pk
    assert imported.status == "draft"
    assert imported.source_id == any_case.source_id  # matched, not duplicated
    assert comparable(imported) == comparable(any_case)


def test_the_importer_reads_values_and_codes_from_the_phenopacket_fields(full_case, curator):
    packet = curator.get(phenopacket_url(full_case)).json()
    packet["measurements"][0]["value"]["quantity"]["value"] = 3.4
    packet["measurements"][0]["assay"] = {"id": "LOINC:29265-6", "label": "Albumin-corrected calcium"}
    packet["measurements"][0]["value"]["quantity"]["unit"] = {"id": "UCUM:mmol/L", "label": "mmol/L"}
    reference = packet["measurements"][0]["value"]["quantity"]["referenceRange"]
    reference.update(unit={"id": "UCUM:mmol/L", "label": "mmol/L"}, low=2.2, high=2.6)
    packet["phenotypicFeatures"][1]["excluded"] = False  # lethargy
    imported = Case.objects.with_children().get(
        pk=phenopacket_import(packet, user=curator.user, confirm=["duplicate"]).pk  # the same patient
    )
    lab = imported.labs.all()[0]
    assert (lab.analyte, float(lab.value), lab.unit) == ("calcium_corrected", 3.4, "mmol/L")
    assert imported.findings.get(label="Lethargy").present is True


def test_the_importer_refuses_unknown_fields_and_foreign_phenopackets(full_case, curator):
    packet = curator.get(phenopacket_url(full_case)).json()
    spoiled = copy.deepcopy(packet)
    spoiled["subject"]["favouriteColour"] = "blue"
    with pytest.raises(ImportFailed, match="Not a valid Phenopacket v2"):
        phenopacket_import(spoiled, user=curator.user)
    foreign = {"id": "x", "subject": {"id": "p1", "sex": "MALE"}, "metaData": {"phenopacketSchemaVersion": "2.0"}}
    with pytest.raises(ImportFailed, match="not a Phenopacket made by the registry"):
        phenopacket_import(foreign, user=curator.user)
    unknown_atc = copy.deepcopy(packet)
    unknown_atc["medicalActions"][0]["treatment"]["agent"]["id"] = "ATC:Z99ZZ99"
    with pytest.raises(ImportFailed, match="no agent of the registry has this ATC code"):
        phenopacket_import(unknown_atc, user=curator.user)
    assert Case.objects.count() == 1


# --- permissions, bulk downloads, speed -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [phenopacket_url, fhir_url])
def test_analysts_get_published_cases_only_and_a_draft_is_a_404(analyst, url):
    draft, published = make_case(), make_case(status="published")
    assert analyst.get(url(draft)).status_code == 404
    assert analyst.get(url(published)).status_code == 200
    assert analyst.get(url(f"{published.pk}")).status_code == 200  # "1" as well as "CCR-000001"
    assert analyst.get(url("CCR-999999")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/1/phenopacket/",
        "/api/v1/cases/CCR-000001/fhir/",
        "/api/v1/exports/phenopackets.jsonl",
        "/api/v1/exports/phenopackets.zip",
    ],
)
def test_anonymous_users_get_401(path):
    make_case(status="published")
    response = APIClient().get(path)
    assert response.status_code == 401


def test_the_jsonl_download_has_one_phenopacket_per_filtered_visible_case(source_cases, analyst):
    make_case(disorder="hypercalcemia")  # a draft: not for analysts
    response = analyst.get("/api/v1/exports/phenopackets.jsonl", {"disorder": "hypercalcemia"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response.streaming
    packets = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [p["id"] for p in packets] == ["CCR-000001", "CCR-000003"]
    for packet in packets:
        parse_phenopacket(packet)


def test_the_zip_download_has_one_file_per_case(source_cases, analyst):
    response = analyst.get("/api/v1/exports/phenopackets.zip", {"tumor_site": "breast"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["CCR-000001.json", "CCR-000002.json", "CCR-000003.json"]
    parse_phenopacket(json.loads(archive.read("CCR-000002.json")))


@pytest.mark.parametrize("url", [phenopacket_url, fhir_url])
def test_a_case_export_costs_the_same_queries_whatever_its_number_of_labs(analyst, url):
    small, large = make_case(status="published"), make_case(status="published")
    make_lab(small)
    for n in range(40):
        make_lab(large, sequence=n, value=10 + n % 5)
    # Expected (9): the user's own and group permissions for the role check (2), the case with its source and
    # users, then one query each for tumors, metastases, mechanisms (+agents), findings, labs, interventions
    # (+agents), the labs' links to interventions (issue 13), the episodes (issue 13, point 1: 10 -> 11). Issue 16:
    # the permissions in one query (registry.auth_backends): 10.
    assert count_queries(analyst, url(small)) == count_queries(analyst, url(large)) == 10
