"""A case as a GA4GH Phenopacket v2 (JSON), and back.

Export (case_phenopacket) maps what the schema has a field for onto that field, with the registry's own codes,
and emits an element only when everything the v2 schema requires of it is there with a real term:

- subject: sex, vital status, and timeAtLastEncounter = the age at the index event (P67Y; P90Y means "90 or
  older", said in the registry-record reference);
- phenotypicFeatures: the calcium disorder (HPO where domain.md gives one) and each finding with an HPO id; absent
  ones are `excluded`; onset = the age on the row's day;
- measurements: each lab value with a LOINC assay and a value: a quantity with a UCUM unit and the reported
  reference range, or for a calcium reported only as high / low the HPO term for hypercalcemia / hypocalcemia;
  timeObserved = the age on the row's day; a censored value is never a quantity;
- diseases: each primary tumor with an ICD-O-3 morphology (term); primarySite = ICD-O-3 topography;
- medicalActions: each *administered* drug with an ATC-coded agent, as a treatment; treatmentTarget = the calcium
  disorder's HPO term for calcium-directed ones, the tumor's ICD-O-3 morphology for cancer-directed ones;
- metaData: every ontology resource used, with its version, the source (PMID / DOI / URL, with its citation) and
  the registry record as external references.

What the schema has no field for (timeline order, approximate flags, the source's timing phrases and quotes, the
mechanisms and their certainty, receptor status, responses, doses, recommended interventions, ...) is kept in
`metaData.externalReferences` as *registry annotations*: one per row of the case document, whose `id` is
"CCR-000001#labs/0" (the row) and whose `description` is a JSON object with the row's remaining fields and the
path of the element the row became ("element": "measurements/0", or null: then the annotation holds every field
of the row, e.g. an uncoded finding, a metastasis site, a procedure). Only the fields that are not represented
by a Phenopacket field are in the annotation; the importer reads the others from the Phenopacket's
own fields (codes, values, units, presence, ages), so a round trip goes through the mapping, not around it.

Import (phenopacket_import) turns such a Phenopacket back into the case document the API accepts and saves it as
a new draft with cases.services.case_save_document.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from google.protobuf import json_format
from google.protobuf.json_format import ParseError
from phenopackets import Phenopacket

from cases import measures
from cases.document import CaseSerializer, ImportFailed, _source_for, flatten
from cases.models import Agent, Case
from cases.rows import ROW_KINDS
from cases.services import case_save_document
from cases.vocabularies import (
    DISORDER_HPO,
    Disorder,
    InterventionCategory,
    InterventionStatus,
    QualitativeResult,
    Sex,
    TumorSite,
    VitalStatus,
)

from . import (
    DAYS_PER_YEAR,
    HPO_LABELS,
    HPO_RELEASE,
    age_at_day,
    age_duration,
    choice_label,
    day_from_age,
    parse_age_duration,
)

SCHEMA_VERSION = "2.0"
CREATED_BY = "Oncology calcium-disorder case registry"

# Ontology resources, by the CURIE prefix used in OntologyClass ids. The schema requires a `version`. HPO's is the
# release every HPO id the registry emits was checked against (HPO_RELEASE). ICD-O-3's edition is its name. For
# LOINC, UCUM and ATC the registry takes its codes from its reference list (domain.md) and records no release:
# rather than guess one, `version` says exactly that (UNRECORDED_RELEASE).
UNRECORDED_RELEASE = "release not recorded (codes from the registry's reference list)"
RESOURCES = {
    "HP": {
        "id": "hp",
        "name": "Human Phenotype Ontology",
        "url": "http://purl.obolibrary.org/obo/hp.owl",
        "version": HPO_RELEASE,
        "namespacePrefix": "HP",
        "iriPrefix": "http://purl.obolibrary.org/obo/HP_",
    },
    "LOINC": {
        "id": "loinc",
        "name": "Logical Observation Identifiers Names and Codes",
        "url": "https://loinc.org",
        "version": UNRECORDED_RELEASE,
        "namespacePrefix": "LOINC",
        "iriPrefix": "https://loinc.org/",
    },
    "UCUM": {
        "id": "ucum",
        "name": "Unified Code for Units of Measure",
        "url": "https://ucum.org",
        "version": UNRECORDED_RELEASE,
        "namespacePrefix": "UCUM",
        "iriPrefix": "https://ucum.org/ucum#",
    },
    "ICDO": {
        "id": "icdo3",
        "name": "International Classification of Diseases for Oncology, third edition (ICD-O-3)",
        "url": "https://www.who.int/standards/classifications/other-classifications/"
        "international-classification-of-diseases-for-oncology",
        "version": "3",
        "namespacePrefix": "ICDO",
        "iriPrefix": "http://terminology.hl7.org/CodeSystem/icd-o-3#",
    },
    "ATC": {
        "id": "atc",
        "name": "Anatomical Therapeutic Chemical Classification System",
        "url": "https://atcddd.fhi.no/atc_ddd_index/",
        "version": UNRECORDED_RELEASE,
        "namespacePrefix": "ATC",
        "iriPrefix": "https://atcddd.fhi.no/atc_ddd_index/?code=",
    },
}

SEX = {Sex.FEMALE: "FEMALE", Sex.MALE: "MALE", Sex.OTHER: "OTHER_SEX", Sex.UNKNOWN: "UNKNOWN_SEX"}
VITAL = {VitalStatus.ALIVE: "ALIVE", VitalStatus.DEAD: "DECEASED", VitalStatus.NOT_REPORTED: "UNKNOWN_STATUS"}
# A calcium reported only as high or low is hypercalcemia or hypocalcemia: the one qualitative value with a code.
CALCIUM_QUALITATIVE_HPO = {QualitativeResult.HIGH: "HP:0003072", QualitativeResult.LOW: "HP:0002901"}

# Returned by the API but the server's: the row's id, and what the document's row serializers compute (read-only).
# Neither exported as annotations nor imported.
READ_ONLY_ROW_FIELDS = frozenset(
    {"id"}
    | {
        name
        for relation in ROW_KINDS
        for name, field in CaseSerializer().fields[relation].child.fields.items()
        if field.read_only
    }
)
CASE_FIELDS = ["title", "case_label", "disorder", "index_event", "summary", "curation_notes"]
SOURCE_FIELDS = ["kind", "title", "journal", "year", "url", "notes"]


def term(curie: str, label: str) -> dict:
    return {"id": curie, "label": label}


def _kept(key: str, value) -> bool:
    """Empty strings, nulls and false flags are the defaults of row fields, which annotations leave out; `present`
    defaults to true, so its false is kept."""
    return value is not None and value != "" and (value is not False or key == "present")


def _annotation(fields: dict, consumed: set[str], element: str | None) -> dict:
    """The row's fields that the element does not carry; with no element (None), all of them."""
    if element is None:
        consumed = set()
    kept = {k: v for k, v in fields.items() if k not in consumed and k not in READ_ONLY_ROW_FIELDS and _kept(k, v)}
    return {"element": element, **kept}


def _unit(unit: str) -> dict:
    return term(f"UCUM:{measures.UCUM[unit]}", unit)


def _time(age_years: int | None, day: int | None) -> dict | None:
    duration = age_at_day(age_years, day)
    return {"age": {"iso8601duration": duration}} if duration else None


def _timed(element: dict, key: str, row: dict, age_years: int | None, consumed: set[str]) -> None:
    """Put the row's day on the element as an age, when it can be; the day then need not be annotated."""
    time = _time(age_years, row.get("day"))
    if time:
        element[key] = time
        consumed.add("day")


def _fmt(value) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def lab_text(lab: dict) -> str:
    """A lab row in words, e.g. 'Serum total calcium 12–16 mg/dL (reference range 8.9–10.1 mg/dL)'."""
    text = measures.analyte(lab["analyte"]).label
    word = choice_label(QualitativeResult.choices, lab["qualitative"]).lower()
    if lab["value"] is not None:
        high = f"–{_fmt(lab['value_high'])}" if lab["value_high"] is not None else ""
        text += f" {lab['comparator']}{_fmt(lab['value'])}{high} {lab['unit']}"
        if word:
            text += f", reported as {word}"
    elif word:
        text += f": {word} (no value reported)"
    low, high = lab["ref_low"], lab["ref_high"]
    if low is not None or high is not None:
        low_text = _fmt(low) if low is not None else "not reported"
        high_text = _fmt(high) if high is not None else "not reported"
        text += f" (reference range {low_text} to {high_text} {lab['unit']})"
    return text


# --- export ----------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, document: dict, case_url: str) -> None:
        self.doc = document
        self.case_url = case_url
        self.rid = document["id"]
        self.age = document["patient"]["age_years"]
        self.disorder_hpo = DISORDER_HPO.get(document["disorder"])
        self.features: list[dict] = []
        self.measurements: list[dict] = []
        self.diseases: list[dict] = []
        self.actions: list[dict] = []
        self.annotations: list[dict] = []

    def annotate(self, path: str, content: dict) -> None:
        self.annotations.append(
            {
                "id": f"{self.rid}#{path}",
                "reference": f"{self.case_url}#{path}",
                "description": json.dumps(content, ensure_ascii=False, sort_keys=True),
            }
        )

    def subject(self) -> dict:
        patient = self.doc["patient"]
        subject: dict[str, Any] = {"id": self.rid, "sex": SEX[patient["sex"]]}
        if self.age is not None:
            subject["timeAtLastEncounter"] = {"age": {"iso8601duration": age_duration(self.age)}}
        subject["vitalStatus"] = {"status": VITAL[self.doc["outcome"]["vital_status"]]}
        return subject

    def disorder_feature(self) -> None:
        """The calcium disorder, unless a finding already reports it with its HPO term."""
        hpo = self.disorder_hpo
        if hpo and any(f["hpo_id"] == hpo and f["present"] for f in self.doc["findings"]):
            return
        if not hpo:  # a calcification has no HPO term in the registry: no typeless feature
            return
        label = choice_label(Disorder.choices, self.doc["disorder"])
        feature: dict[str, Any] = {"type": term(hpo, HPO_LABELS[hpo])}
        day0 = self.doc["index_event"] or "presentation with the calcium disorder"
        feature["description"] = f"{label}, the case's calcium disorder (day 0: {day0})"
        time = _time(self.age, 0)
        if time:
            feature["onset"] = time
        self.features.append(feature)

    def episode(self, n: int, row: dict) -> None:
        """A calcium-disorder episode (issue 13, point 1): the first is the case's disorder (disorder_feature); a
        later one is a phenotypic feature of its own where its disorder has an HPO term, its onset from its day.
        Its fields and its mechanisms (no Phenopacket field holds a mechanism) are an annotation."""
        content = _annotation({k: v for k, v in row.items() if k != "mechanisms"}, set(), None)
        content["mechanisms"] = [_annotation(m, set(), None) for m in row["mechanisms"]]
        for m in content["mechanisms"]:
            m.pop("element")
        hpo = DISORDER_HPO.get(row["disorder"])
        if n and hpo and not any(f["hpo_id"] == hpo and f["present"] for f in self.doc["findings"]):
            label = choice_label(Disorder.choices, row["disorder"])
            feature: dict[str, Any] = {
                "type": term(hpo, HPO_LABELS[hpo]),
                "description": f"{label}, the case's calcium-disorder episode {n + 1}"
                + (f" ({row['timing_text']})" if row["timing_text"] else ""),
            }
            time = _time(self.age, row["day"])
            if time:
                feature["onset"] = time
            self.features.append(feature)
        self.annotate(f"episodes/{n}", content)

    def finding(self, n: int, row: dict) -> None:
        if not row["hpo_id"]:  # a feature needs its type: an uncoded finding is only an annotation
            self.annotate(f"findings/{n}", _annotation(row, set(), None))
            return
        consumed = {"label", "hpo_id", "present"}
        feature: dict[str, Any] = {
            "type": term(row["hpo_id"], HPO_LABELS.get(row["hpo_id"], row["label"])),
            "description": row["label"],
        }
        if not row["present"]:
            feature["excluded"] = True
        _timed(feature, "onset", row, self.age, consumed)
        path = f"phenotypicFeatures/{len(self.features)}"
        self.features.append(feature)
        self.annotate(f"findings/{n}", _annotation(row, consumed, path))

    def metastasis(self, n: int, row: dict) -> None:
        # No code for a metastasis site exists in the registry's vocabularies (domain.md), and a feature needs a
        # coded type: the row is only an annotation.
        self.annotate(f"metastases/{n}", _annotation(row, set(), None))

    def tumor(self, n: int, row: dict) -> None:
        if not row["icdo3_morphology"]:  # a disease needs its term: without a morphology code, only an annotation
            self.annotate(f"tumors/{n}", _annotation(row, set(), None))
            return
        disease: dict[str, Any] = {
            "term": term(f"ICDO:{row['icdo3_morphology']}", row["histology"] or row["icdo3_morphology"])
        }
        consumed = {"icdo3_morphology"}
        _timed(disease, "onset", row, self.age, consumed)
        if row["icdo3_topography"]:
            disease["primarySite"] = term(
                f"ICDO:{row['icdo3_topography']}", choice_label(TumorSite.choices, row["site"])
            )
            consumed.add("icdo3_topography")
        path = f"diseases/{len(self.diseases)}"
        self.diseases.append(disease)
        self.annotate(f"tumors/{n}", _annotation(row, consumed, path))

    def lab(self, n: int, row: dict) -> None:
        """A measurement needs an assay (LOINC) and a value: a quantity for an exact number, or for a calcium
        reported as high / low the HPO term. A censored value ("<5") is not a quantity (it would read as exactly 5)
        and a qualitative word without a term has no value: such rows are only annotations."""
        consumed = {"analyte"}
        value: dict[str, Any] | None = None
        # A unit without a UCUM code (one added in the analyte table, say) is no quantity: the row is an annotation.
        if row["value"] is not None and row["unit"] in measures.UCUM and not row["comparator"]:
            quantity: dict[str, Any] = {"unit": _unit(row["unit"]), "value": row["value"]}
            consumed |= {"value", "unit"}
            # A Phenopacket reference range has both limits (an absent limit would read as 0): a one-sided range
            # stays in the annotation.
            if row["ref_low"] is not None and row["ref_high"] is not None:
                quantity["referenceRange"] = {
                    "unit": _unit(row["unit"]),
                    "low": row["ref_low"],
                    "high": row["ref_high"],
                }
                consumed |= {"ref_low", "ref_high"}
            value = {"quantity": quantity}
        elif row["analyte"] in measures.CALCIUM_ANALYTES and row["qualitative"] in CALCIUM_QUALITATIVE_HPO:
            hpo = CALCIUM_QUALITATIVE_HPO[row["qualitative"]]
            value = {"ontologyClass": term(hpo, HPO_LABELS[hpo])}
            consumed.add("qualitative")
        if not row["loinc"] or value is None:
            self.annotate(f"labs/{n}", _annotation(row, set(), None))
            return
        measurement: dict[str, Any] = {
            "assay": term(f"LOINC:{row['loinc']}", measures.analyte(row["analyte"]).label),
            "description": lab_text(row),
            "value": value,
        }
        _timed(measurement, "timeObserved", row, self.age, consumed)
        path = f"measurements/{len(self.measurements)}"
        self.measurements.append(measurement)
        self.annotate(f"labs/{n}", _annotation(row, consumed, path))

    def intervention(self, n: int, row: dict) -> None:
        """An administered drug with an ATC-coded agent is a treatment. Nothing else is a medical action: a
        recommendation or an option advised against was not done to the patient; a treatment needs its agent, a
        procedure its code and a radiation therapy its modality, body site, dose and fractions, and the registry
        has no codes for procedures, radiotherapy modalities or sites (domain.md). Those rows are annotations."""
        given = row["status"] == InterventionStatus.ADMINISTERED
        if not (given and row["category"] == InterventionCategory.DRUG and row["atc"]):
            self.annotate(f"interventions/{n}", _annotation(row, set(), None))
            return
        action: dict[str, Any] = {"treatment": {"agent": term(f"ATC:{row['atc']}", row["agent_name"])}}
        target = self.treatment_target(row["intent"])
        if target:
            action["treatmentTarget"] = target
        path = f"medicalActions/{len(self.actions)}"
        self.actions.append(action)
        self.annotate(f"interventions/{n}", _annotation(row, {"status", "category", "agent"}, path))

    def treatment_target(self, intent: str) -> dict | None:
        if intent == "calcium_directed" and self.disorder_hpo:
            return term(self.disorder_hpo, HPO_LABELS[self.disorder_hpo])
        if intent == "cancer_directed":
            morphologies = {t["icdo3_morphology"]: t for t in self.doc["tumors"] if t["icdo3_morphology"]}
            if len(morphologies) == 1:
                (code, tumor), *_ = morphologies.items()
                return term(f"ICDO:{code}", tumor["histology"] or code)
        return None

    def case_annotation(self) -> dict:
        doc = self.doc
        content: dict[str, Any] = {"element": None}
        content.update({k: doc[k] for k in CASE_FIELDS if _kept(k, doc[k])})
        patient = {k: v for k, v in doc["patient"].items() if k == "menopausal_status" and _kept(k, v)}
        outcome = {k: v for k, v in doc["outcome"].items() if k != "vital_status" and _kept(k, v)}
        if patient:
            content["patient"] = patient
        if outcome:
            content["outcome"] = outcome
        return content

    def source_references(self) -> list[dict]:
        source = self.doc["source"]
        refs = []
        if source["pmid"]:
            refs.append(
                {
                    "id": f"PMID:{source['pmid']}",
                    "reference": f"https://pubmed.ncbi.nlm.nih.gov/{source['pmid']}/",
                    "description": source["citation"],
                }
            )
        if source["doi"]:
            refs.append(
                {
                    "id": f"DOI:{source['doi']}",
                    "reference": f"https://doi.org/{source['doi']}",
                    "description": source["citation"],
                }
            )
        if not refs:  # no identifier: the address where there is one, and always the citation
            ref = {"reference": source["url"]} if source["url"] else {}
            refs.append({**ref, "description": source["citation"]})
        return refs

    def registry_reference(self) -> dict:
        doc = self.doc
        text = (
            f"Oncology calcium-disorder case registry record {self.rid}, version {doc['version']} ({doc['status']}). "
            f"Times are ages computed from the age at the index event (day 0"
            + (f": {doc['index_event']}" if doc["index_event"] else "")
            + ") plus the day offset, in 365-day years."
        )
        if doc["patient"]["age_90_or_over"]:
            text += (
                " Age: 90 or older. P90Y means 90 years or older (ages over 89 are stored as 90); "
                "no other time is given as an age."
            )
        return {"id": self.rid, "reference": self.case_url, "description": text}

    def build(self) -> dict:
        doc = self.doc
        self.disorder_feature()
        for n, row in enumerate(doc.get("episodes") or []):
            self.episode(n, row)
        for n, row in enumerate(doc["findings"]):
            self.finding(n, row)
        for n, row in enumerate(doc["metastases"]):
            self.metastasis(n, row)
        for n, row in enumerate(doc["tumors"]):
            self.tumor(n, row)
        for n, row in enumerate(doc["labs"]):
            self.lab(n, row)
        for n, row in enumerate(doc["interventions"]):
            self.intervention(n, row)
        for n, row in enumerate(doc["mechanisms"]):
            # No Phenopacket field for a mechanism, its certainty or its evidence.
            self.annotate(f"mechanisms/{n}", _annotation(row, set(), None))
        self.annotate("case", self.case_annotation())
        self.annotate(
            "source", {"element": None, **{k: doc["source"][k] for k in SOURCE_FIELDS if _kept(k, doc["source"][k])}}
        )

        packet: dict[str, Any] = {"id": self.rid, "subject": self.subject()}
        for key, items in (
            ("phenotypicFeatures", self.features),
            ("measurements", self.measurements),
            ("diseases", self.diseases),
            ("medicalActions", self.actions),
        ):
            if items:
                packet[key] = items
        packet["metaData"] = {
            "created": doc["updated_at_utc"],
            "createdBy": CREATED_BY,
            "resources": [RESOURCES[prefix] for prefix in RESOURCES if prefix in _prefixes(packet)],
            "phenopacketSchemaVersion": SCHEMA_VERSION,
            "externalReferences": [*self.source_references(), self.registry_reference(), *self.annotations],
        }
        return packet


def _prefixes(node) -> set[str]:
    """CURIE prefixes of every OntologyClass (an object with an id and a label) in the packet."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("id"), str) and "label" in node and ":" in node["id"]:
            found.add(node["id"].split(":", 1)[0])
        for value in node.values():
            found |= _prefixes(value)
    elif isinstance(node, list):
        for item in node:
            found |= _prefixes(item)
    return found


def case_document(case: Case) -> dict:
    """The API's case document (no queries beyond the prefetched rows of Case.objects.with_children())."""
    document = dict(CaseSerializer(case).data)
    document["updated_at_utc"] = case.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return document


def case_phenopacket(case: Case, *, case_url: str) -> dict:
    """The case as a Phenopacket v2 JSON object. case_url is the address of the case in the API."""
    return _Builder(case_document(case), case_url).build()


# --- import ----------------------------------------------------------------------------------------------------


def loinc_analyte() -> dict[str, str]:
    """The analyte code of each LOINC code in the analyte table."""
    return {code: a.code for a in measures.analytes().values() for code in a.loinc_codes}


UCUM_UNIT = {ucum: unit for unit, ucum in measures.UCUM.items()}
SEX_CODE = {v: k for k, v in SEX.items()}
VITAL_CODE = {v: k for k, v in VITAL.items()}
QUALITATIVE_BY_HPO = {v: k for k, v in CALCIUM_QUALITATIVE_HPO.items()}


def _code(ontology_class: dict | None, prefix: str) -> str | None:
    curie = (ontology_class or {}).get("id") or ""
    return curie.removeprefix(f"{prefix}:") if curie.startswith(f"{prefix}:") else None


class _Reader:
    def __init__(self, packet: dict) -> None:
        self.packet = packet
        self.errors: list[str] = []
        self.annotations: dict[str, dict[int | None, dict]] = {}
        self.sources: list[dict] = []
        rid = packet.get("id")
        for ref in (packet.get("metaData") or {}).get("externalReferences") or []:
            ref_id = ref.get("id") or ""
            if "#" in ref_id:
                kind, _, index = ref_id.split("#", 1)[1].partition("/")
                try:
                    content = json.loads(ref.get("description") or "")
                    position = int(index) if index else None
                except ValueError:
                    content = None
                if not isinstance(content, dict):
                    self.errors.append(f"metaData.externalReferences {ref_id}: not a registry annotation.")
                    continue
                self.annotations.setdefault(kind, {})[position] = content
            elif ref_id != rid:
                self.sources.append(ref)
        age = (((packet.get("subject") or {}).get("timeAtLastEncounter") or {}).get("age") or {}).get("iso8601duration")
        total = parse_age_duration(age) if age else None
        self.age = None if total is None else total // DAYS_PER_YEAR

    def element(self, path: str | None) -> dict:
        if path is None:
            return {}
        key, _, index = path.partition("/")
        try:
            return self.packet[key][int(index)]
        except (KeyError, IndexError, ValueError):
            self.errors.append(f"{path}: no such element, although an annotation refers to it.")
            return {}

    def day(self, row: dict, time: dict | None) -> None:
        duration = ((time or {}).get("age") or {}).get("iso8601duration")
        day = day_from_age(self.age, duration) if duration else None
        if day is not None:
            row["day"] = day

    def rows(self, kind: str) -> list[tuple[dict, dict]]:
        annotated = self.annotations.get(kind, {})
        out = []
        for index in sorted(i for i in annotated if i is not None):
            content = dict(annotated[index])
            out.append((content, self.element(content.pop("element", None))))
        return out

    def finding(self, row: dict, feature: dict) -> dict:
        row["label"] = feature.get("description", "")
        row["hpo_id"] = feature["type"]["id"] if _code(feature.get("type"), "HP") else ""
        row["present"] = not feature.get("excluded", False)
        self.day(row, feature.get("onset"))
        return row

    def metastasis(self, row: dict, feature: dict) -> dict:
        row["present"] = not feature.get("excluded", False)
        self.day(row, feature.get("onset"))
        return row

    def tumor(self, row: dict, disease: dict) -> dict:
        morphology = _code(disease.get("term"), "ICDO")
        topography = _code(disease.get("primarySite"), "ICDO")
        if morphology:
            row["icdo3_morphology"] = morphology
        if topography:
            row["icdo3_topography"] = topography
        self.day(row, disease.get("onset"))
        return row

    def lab(self, row: dict, measurement: dict) -> dict:
        loinc = _code(measurement.get("assay"), "LOINC")
        if loinc:
            analytes = loinc_analyte()
            if loinc not in analytes:
                self.errors.append(f"measurement {loinc}: no analyte of the registry has this LOINC code.")
            else:
                row["analyte"] = analytes[loinc]
        value = measurement.get("value") or {}
        quantity = value.get("quantity")
        if quantity:
            ucum = _code(quantity.get("unit"), "UCUM")
            row["unit"] = UCUM_UNIT.get(ucum, ucum or "")
            row["value"] = quantity.get("value", 0)
            reference = quantity.get("referenceRange")
            if reference:
                row["ref_low"], row["ref_high"] = reference.get("low", 0), reference.get("high", 0)
        elif value.get("ontologyClass"):
            row["qualitative"] = QUALITATIVE_BY_HPO.get(value["ontologyClass"].get("id"), "")
        self.day(row, measurement.get("timeObserved"))
        return row

    def intervention(self, row: dict, action: dict, agents_by_atc: dict[str, str]) -> dict:
        """Only an administered drug with an ATC-coded agent is exported as a medical action (a treatment)."""
        row["status"] = InterventionStatus.ADMINISTERED
        row["category"] = InterventionCategory.DRUG
        atc = _code((action.get("treatment") or {}).get("agent"), "ATC")
        if atc not in agents_by_atc:
            self.errors.append(f"treatment ATC:{atc}: no agent of the registry has this ATC code.")
        else:
            row["agent"] = agents_by_atc[atc]
        return row

    def source(self) -> dict:
        source = {k: v for k, v in (self.annotations.get("source", {}).get(None) or {}).items() if k != "element"}
        for ref in self.sources:
            ref_id = ref.get("id") or ""
            if ref_id.startswith("PMID:"):
                source["pmid"] = ref_id.removeprefix("PMID:")
            elif ref_id.startswith("DOI:"):
                source["doi"] = ref_id.removeprefix("DOI:")
            elif ref.get("reference") and "url" not in source:
                source["url"] = ref["reference"]
            source.setdefault("citation", ref.get("description", ""))
        return source

    def document(self) -> dict:
        case = dict(self.annotations.get("case", {}).get(None) or {})
        case.pop("element", None)
        if not case:
            raise ImportFailed(["This is not a Phenopacket made by the registry: it has no registry annotations."])
        subject = self.packet.get("subject") or {}
        patient = {**case.pop("patient", {}), "sex": SEX_CODE.get(subject.get("sex", "UNKNOWN_SEX"), "unknown")}
        if self.age is not None:
            patient["age_years"] = self.age
        outcome = {
            **case.pop("outcome", {}),
            "vital_status": VITAL_CODE.get((subject.get("vitalStatus") or {}).get("status", "UNKNOWN_STATUS")),
        }
        atcs = [_code((a.get("treatment") or {}).get("agent"), "ATC") for a in self.packet.get("medicalActions") or []]
        agents_by_atc = dict(Agent.objects.filter(atc_code__in=[a for a in atcs if a]).values_list("atc_code", "code"))
        readers = {
            "tumors": self.tumor,
            "metastases": self.metastasis,
            "mechanisms": lambda row, element: row,
            "findings": self.finding,
            "labs": self.lab,
            "interventions": lambda row, element: self.intervention(row, element, agents_by_atc),
        }
        # A row whose annotation names no element holds all its fields itself.
        rows = {
            kind: [readers[kind](row, element) if element else row for row, element in self.rows(kind)]
            for kind in ROW_KINDS
            if kind in readers
        }
        # The episodes with their mechanisms (issue 13, point 1), which then hold the case's disorder, mechanisms
        # and calcium outcome; a Phenopacket made before them has none: its disorder and mechanisms are one episode.
        episodes = [row for row, _ in self.rows("episodes")]
        if episodes:
            rows["episodes"] = episodes
            rows.pop("mechanisms")
            outcome.pop("calcium_outcome", None)
            case.pop("disorder", None)
        return {**case, "patient": patient, "outcome": outcome, **rows}


def phenopacket_to_document(packet: dict) -> tuple[dict, dict]:
    """The case document (API input) and the source (as the API returns it) of a registry-made Phenopacket.

    The Phenopacket must parse as a Phenopacket v2 with no unknown field; ImportFailed lists every problem.
    """
    if not isinstance(packet, dict):
        raise ImportFailed(["Expected a Phenopacket JSON object."])
    try:
        json_format.ParseDict(packet, Phenopacket(), ignore_unknown_fields=False)
    except ParseError as exc:
        raise ImportFailed([f"Not a valid Phenopacket v2: {exc}"]) from exc
    reader = _Reader(packet)
    document = reader.document()
    if reader.errors:
        raise ImportFailed(reader.errors)
    return document, reader.source()


def phenopacket_import(packet: dict, *, user, confirm: list[str] | tuple = ()) -> Case:
    """Create a new draft case from a Phenopacket the registry exported; all or nothing.

    The source is the existing one that is its paper (cases.citations.source_duplicates), or created when none is.
    A case the registry already has (the same paper and patient: cases.duplicates) is refused (NeedsConfirmation)
    unless `confirm` holds "duplicate": importing the same Phenopacket again does not silently make a copy.
    """
    document, source = phenopacket_to_document(packet)
    errors: list[str] = []
    with transaction.atomic():
        document["source_id"] = _source_for({"source": source}, errors, "source")
        serializer = CaseSerializer(data=document)
        if not errors and not serializer.is_valid():
            errors.extend(f"{e['field']}: {e['reason']}" for e in flatten(serializer.errors))
        if errors:
            transaction.set_rollback(True)
            raise ImportFailed(errors)
        data = {**serializer.validated_data, "confirm": [*serializer.validated_data.get("confirm", ()), *confirm]}
        return case_save_document(data=data, user=user, reason="Imported from a Phenopacket")
