"""A case as a FHIR R4 (4.0.1) Bundle of type "collection", built from the API's case document.

- Patient: gender, deceased, and the age at the index event as an extension (valueAge, comparator ">=" for 90 or
  older). No identifier, name, date or address: the registry has none.
- DocumentReference: the source (citation, DOI / PMID as identifiers, its address); every other resource points
  to it (derivedFrom, evidence, report, supportingInfo).
- Condition, mCODE-style, per primary tumor: bodySite with the ICD-O-3 topography, the ICD-O-3 morphology in the
  mCODE histology-morphology-behavior extension, laterality, grade and stage as text (their mCODE codes are
  SNOMED CT, which the registry does not hold).
- Condition for the calcium disorder (HPO where domain.md gives one), with the mechanisms as notes and the peak
  or nadir CTCAE grade as severity; a Condition per finding (HPO where entered) and per metastasis site
  (verificationStatus "refuted" for a site the source found free).
- Observation per lab value (LOINC, valueQuantity in UCUM with its comparator, valueRange for a reported range,
  the source's word for a qualitative result, referenceRange as reported, interpretation); Observation for ER,
  PR, HER2 (LOINC) and for a hormone-receptor status given without ER / PR detail; menopausal status.
- MedicationStatement per drug (ATC; "intended" when recommended, "not-taken" when advised against), Procedure per
  procedure, supportive measure or radiotherapy ("not-done" when advised against), ServiceRequest (intent
  "proposal") for one only recommended.

Time: the registry counts days from the case's index event and stores no calendar date, so every timed resource
carries the case-timeline extension (sequence, day, approximate, the source's phrase) instead of a dateTime.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from cases import measures
from cases.vocabularies import (
    DISORDER_HPO,
    RECEPTOR_LOINC,
    AdverseEvents,
    CalciumOutcome,
    CalciumResponse,
    Certainty,
    ChallengeResult,
    Disorder,
    DrugAction,
    Intent,
    InterventionCategory,
    InterventionStatus,
    Laterality,
    MechanismCode,
    MenopausalStatus,
    MetastasisSite,
    QualitativeResult,
    ReceptorStatus,
    Route,
    SourceKind,
    TumorGrade,
    TumorResponse,
    TumorSite,
)

from . import HPO_LABELS, choice_label
from .phenopacket import case_document

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HPO = "http://human-phenotype-ontology.org"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
ATC = "http://www.whocc.no/atc"
DOI = "https://doi.org"
PMID = "https://pubmed.ncbi.nlm.nih.gov"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
MCODE_HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
MCODE_RELATED_PRIMARY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"

FLAG_CODES = {
    measures.HIGH: ("H", "High"),
    measures.LOW: ("L", "Low"),
    measures.NORMAL: ("N", "Normal"),
    measures.INDETERMINATE: ("IND", "Indeterminate"),
    QualitativeResult.POSITIVE: ("POS", "Positive"),
    QualitativeResult.NEGATIVE: ("NEG", "Negative"),
}
BASIS_TEXT = {
    measures.BASIS_REPORTED: "against the reported reference range",
    measures.BASIS_DEFAULT: "against the registry's default limit (no range reported)",
    measures.BASIS_QUALITATIVE: "as the source words it (no value reported)",
}
RECEPTOR_TEXT = {"er": "Estrogen receptor (ER)", "pr": "Progesterone receptor (PR)", "her2": "HER2"}
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


def canonical_base() -> str:
    """Base of the registry's own FHIR definitions (extensions, identifier systems). Set REGISTRY_CANONICAL_URL
    to the registry's public address; the default is a reserved example domain that resolves nowhere."""
    return settings.REGISTRY_CANONICAL_URL.rstrip("/")


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(text: str, *codings: dict) -> dict:
    concept: dict[str, Any] = {}
    if codings:
        concept["coding"] = list(codings)
    if text:
        concept["text"] = text
    return concept


def _quantity(value, unit: str, comparator: str = "") -> dict:
    quantity: dict[str, Any] = {"value": value}
    if comparator:
        quantity["comparator"] = comparator
    if unit:
        quantity["unit"] = unit
        if unit in measures.UCUM:  # a unit added in the analyte table may have no UCUM code yet: its text only
            quantity.update({"system": UCUM, "code": measures.UCUM[unit]})
    return quantity


def _notes(*texts: str) -> list[dict]:
    return [{"text": t} for t in texts if t]


def _verification(present: bool) -> dict:
    code = "confirmed" if present else "refuted"
    return _concept("", _coding(CONDITION_VERIFICATION, code, code.capitalize()))


class _Builder:
    def __init__(self, document: dict) -> None:
        self.doc = document
        self.rid = document["id"]
        base = canonical_base()
        self.timeline_url = f"{base}/fhir/StructureDefinition/case-timeline"
        self.age_url = f"{base}/fhir/StructureDefinition/age-at-index-event"
        self.case_system = f"{base}/case-id"
        self.entries: list[dict] = []
        self.patient = self.uid("patient")
        self.source = self.uid("source")
        self.disorder = self.uid("disorder")
        self.tumors = [self.uid("tumor", n) for n in range(len(document["tumors"]))]
        self.interventions = [self.uid("intervention", n) for n in range(len(document["interventions"]))]

    def uid(self, kind: str, n: int | None = None) -> str:
        """Stable ids: the same case gives the same Bundle."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{canonical_base()}/cases/{self.rid}/{kind}/{n}"))

    @staticmethod
    def ref(resource_id: str) -> dict:
        return {"reference": f"urn:uuid:{resource_id}"}

    def add(self, resource_type: str, resource_id: str, body: dict) -> None:
        kept = {k: v for k, v in body.items() if v is False or v}  # leave out what is empty, keep false
        resource = {"resourceType": resource_type, "id": resource_id, **kept}
        self.entries.append({"fullUrl": f"urn:uuid:{resource_id}", "resource": resource})

    def timeline(self, row: dict, *, follows: list[str] = ()) -> dict:
        """The case-timeline extension: where on the case's course the row is (the registry has no dates)."""
        parts: list[dict] = []
        if row.get("sequence") is not None:
            parts.append({"url": "sequence", "valueInteger": row["sequence"]})
        if row.get("day") is not None:
            parts.append({"url": "day", "valueInteger": row["day"]})
            parts.append({"url": "dayIsApproximate", "valueBoolean": bool(row["day_is_approximate"])})
        if row.get("timing_text"):
            parts.append({"url": "text", "valueString": row["timing_text"]})
        if row.get("end_day") is not None:
            parts.append({"url": "endDay", "valueInteger": row["end_day"]})
            parts.append({"url": "endDayIsApproximate", "valueBoolean": bool(row["end_day_is_approximate"])})
        if row.get("end_timing_text"):
            parts.append({"url": "endText", "valueString": row["end_timing_text"]})
        if row.get("duration_days") is not None:
            parts.append({"url": "durationDays", "valueInteger": row["duration_days"]})
        if row.get("duration_text"):
            parts.append({"url": "durationText", "valueString": row["duration_text"]})
        for followed in follows:  # one part per intervention the result follows (a combination: several)
            parts.append({"url": "followsIntervention", "valueReference": self.ref(followed)})
        return {"url": self.timeline_url, "extension": parts}

    # --- resources ---

    def add_patient(self) -> None:
        patient = self.doc["patient"]
        age = patient["age_years"]
        extension = []
        if age is not None:
            value: dict[str, Any] = {"value": age, "unit": "years", "system": UCUM, "code": "a"}
            if patient["age_90_or_over"]:
                value["comparator"] = ">="  # stored as 90: "90 or older"
            elif age == 0:
                value.update(value=1, comparator="<")  # a FHIR Age must be positive
            extension.append({"url": self.age_url, "valueAge": value})
        vital = self.doc["outcome"]["vital_status"]
        deceased = {"alive": False, "dead": True}.get(vital)
        body: dict[str, Any] = {"extension": extension, "gender": GENDER[patient["sex"]]}
        if deceased is not None:
            body["deceasedBoolean"] = deceased
        self.add("Patient", self.patient, body)
        if patient["menopausal_status"] != MenopausalStatus.NOT_REPORTED:
            self.add(
                "Observation",
                self.uid("menopausal-status"),
                {
                    "status": "final",
                    "code": _concept("Menopausal status"),
                    "subject": self.ref(self.patient),
                    "valueCodeableConcept": _concept(
                        choice_label(MenopausalStatus.choices, patient["menopausal_status"])
                    ),
                    "derivedFrom": [self.ref(self.source)],
                },
            )

    def add_source(self) -> None:
        source = self.doc["source"]
        identifiers = []
        if source["doi"]:
            identifiers.append({"system": DOI, "value": source["doi"]})
        if source["pmid"]:
            identifiers.append({"system": PMID, "value": source["pmid"]})
        url = source["url"] or (
            f"{DOI}/{source['doi']}" if source["doi"] else f"{PMID}/{source['pmid']}/" if source["pmid"] else ""
        )
        attachment = {"title": source["title"]}
        if url:
            attachment["url"] = url
        self.add(
            "DocumentReference",
            self.source,
            {
                "identifier": identifiers,
                "status": "current",
                "type": _concept(choice_label(SourceKind.choices, source["kind"])),
                "subject": self.ref(self.patient),
                "description": source["citation"],
                "content": [{"attachment": attachment}],
            },
        )

    def add_tumor(self, n: int, tumor: dict) -> None:
        site = choice_label(TumorSite.choices, tumor["site"])
        laterality = (
            choice_label(Laterality.choices, tumor["laterality"])
            if tumor["laterality"] not in (Laterality.NOT_REPORTED, Laterality.NOT_APPLICABLE)
            else ""
        )
        body_site_text = f"{site}, {laterality.lower()}" if laterality else site
        codings = [_coding(ICDO3, tumor["icdo3_topography"])] if tumor["icdo3_topography"] else []
        extension = [self.timeline(tumor)]
        if tumor["icdo3_morphology"] or tumor["histology"]:
            morphology = [_coding(ICDO3, tumor["icdo3_morphology"])] if tumor["icdo3_morphology"] else []
            extension.insert(
                0, {"url": MCODE_HISTOLOGY, "valueCodeableConcept": _concept(tumor["histology"], *morphology)}
            )
        stage = tumor["tnm_reported"] or tumor["stage_text"]
        outcome = self.doc["outcome"]
        tumor_response = outcome["tumor_response"] if outcome["tumor_response"] != TumorResponse.NOT_ASSESSED else ""
        self.add(
            "Condition",
            self.tumors[n],
            {
                "extension": extension,
                "verificationStatus": _verification(True),
                "code": _concept(
                    f"Primary cancer: {site.lower()}" + (f", {tumor['histology']}" if tumor["histology"] else "")
                ),
                "bodySite": [_concept(body_site_text, *codings)],
                "subject": self.ref(self.patient),
                "onsetString": tumor["timing_text"],
                "stage": [{"summary": _concept(" ".join(filter(None, [tumor["tnm_reported"], tumor["stage_text"]])))}]
                if stage
                else [],
                "evidence": [{"detail": [self.ref(self.source)]}],
                "note": _notes(
                    f"Grade: {choice_label(TumorGrade.choices, tumor['grade'])}"
                    if tumor["grade"] != TumorGrade.NOT_REPORTED
                    else "",
                    f"Tumor response at follow-up: {choice_label(TumorResponse.choices, tumor_response)}"
                    if tumor_response and n == 0
                    else "",
                    f"Source: “{tumor['quote']}”" if tumor["quote"] else "",
                ),
            },
        )
        markers = [(m, tumor[m]) for m in ("er", "pr", "her2")]
        if tumor["er"] == tumor["pr"] == ReceptorStatus.UNKNOWN:
            markers.append(("hormone_receptor", tumor["hormone_receptor"]))
        for marker, status in markers:
            if status not in (ReceptorStatus.POSITIVE, ReceptorStatus.NEGATIVE):
                continue
            code, display = FLAG_CODES[status]
            loinc = RECEPTOR_LOINC.get(marker)
            text = RECEPTOR_TEXT.get(marker, "Hormone receptor status (ER / PR not specified)")
            self.add(
                "Observation",
                self.uid(f"tumor-{n}-{marker}"),
                {
                    "extension": [self.timeline(tumor)],
                    "status": "final",
                    "category": [_concept("", _coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory"))],
                    "code": _concept(text, *([_coding(LOINC, loinc)] if loinc else [])),
                    "subject": self.ref(self.patient),
                    "focus": [self.ref(self.tumors[n])],
                    "valueCodeableConcept": _concept(choice_label(ReceptorStatus.choices, status)),
                    "interpretation": [_concept("", _coding(INTERPRETATION, code, display))],
                    "derivedFrom": [self.ref(self.source)],
                },
            )

    def mechanism_note(self, m: dict) -> str:
        text = (
            f"Mechanism {m['rank']}: {choice_label(MechanismCode.choices, m['code'])}, "
            f"{choice_label(Certainty.choices, m['certainty']).lower()}."
        )
        if m["suspect_agent"]:
            atc = f" (ATC {m['suspect_agent_atc']})" if m["suspect_agent_atc"] else ""
            text += f" Suspect agent: {m['suspect_agent']}{atc}."
        for name, choices in (
            ("action_taken", DrugAction),
            ("dechallenge", ChallengeResult),
            ("rechallenge", ChallengeResult),
        ):
            if m[name]:
                text += f" {name.replace('_', ' ').capitalize()}: {choice_label(choices.choices, m[name]).lower()}."
        if m["evidence"]:
            text += f" Evidence: {m['evidence']}"
        return text

    def episodes(self) -> list[tuple[dict, dict]]:
        """(episode, its derived block) in order (issue 13, point 1); a document without episodes is one."""
        doc = self.doc
        episodes = doc.get("episodes") or [
            {"disorder": doc["disorder"], "mechanisms": doc["mechanisms"], **doc["outcome"], "sequence": None}
        ]
        blocks = doc["derived"].get("episodes") or []
        return [(e, blocks[k] if k < len(blocks) else doc["derived"]) for k, e in enumerate(episodes)]

    def episode_of_intervention(self, n: int) -> int:
        for k, (_, block) in enumerate(self.episodes()):
            if n in block.get("intervention_indexes", ()):
                return k
        return 0

    def add_disorder(self) -> None:
        """One Condition per calcium-disorder episode, the first with the case's index event and follow-up."""
        for k, (episode, derived) in enumerate(self.episodes()):
            self.add_episode(k, episode, derived)

    def add_episode(self, k: int, episode: dict, derived: dict) -> None:
        doc = self.doc
        hpo = DISORDER_HPO.get(episode["disorder"])
        label = choice_label(Disorder.choices, episode["disorder"])
        grade = {
            Disorder.HYPERCALCEMIA: derived["peak_ctcae"],
            Disorder.HYPOCALCEMIA: derived["nadir_ctcae"],
        }.get(episode["disorder"])
        severity = (
            _concept(f"CTCAE v5.0 grade {grade['grade']} ({grade['basis'].replace('_', ' ')})")
            if grade and grade["grade"] is not None
            else None
        )
        in_episode = derived.get("lab_indexes")
        calcium_labs = [
            self.ref(self.uid("lab", n))
            for n, lab in enumerate(doc["labs"])
            if lab["analyte"] in measures.CALCIUM_ANALYTES and (in_episode is None or n in in_episode)
        ]
        outcome = {**doc["outcome"], "calcium_outcome": episode.get("calcium_outcome", CalciumOutcome.NOT_REPORTED)}
        if k:  # a later episode: its own start, mechanisms and outcome; the case's follow-up stays on the first
            outcome = {**outcome, "follow_up_days": None, "follow_up_text": "", "notes": ""}
        start = (
            {"day": 0, "day_is_approximate": False, "timing_text": doc["index_event"]}
            if k == 0
            else {key: episode.get(key) for key in ("sequence", "day", "day_is_approximate", "timing_text")}
        )
        self.add(
            "Condition",
            self.disorder if k == 0 else self.uid("disorder", k),
            {
                "extension": [self.timeline(start)],
                "verificationStatus": _verification(True),
                "severity": severity,
                "code": _concept(label, *([_coding(HPO, hpo, HPO_LABELS[hpo])] if hpo else [])),
                "subject": self.ref(self.patient),
                "onsetString": doc["index_event"] if k == 0 else episode.get("timing_text") or None,
                "evidence": [{"detail": [*calcium_labs, self.ref(self.source)]}],
                "note": _notes(
                    *(self.mechanism_note(m) for m in episode["mechanisms"]),
                    f"Calcium outcome: {choice_label(CalciumOutcome.choices, outcome['calcium_outcome'])}"
                    if outcome["calcium_outcome"] != CalciumOutcome.NOT_REPORTED
                    else "",
                    "Follow-up: "
                    + "; ".join(
                        filter(
                            None,
                            [
                                f"{outcome['follow_up_days']} days" if outcome["follow_up_days"] is not None else "",
                                outcome["follow_up_text"],
                            ],
                        )
                    )
                    if outcome["follow_up_days"] is not None or outcome["follow_up_text"]
                    else "",
                    outcome["notes"],
                    doc["summary"] if k == 0 else episode.get("notes", ""),
                ),
            },
        )

    def add_finding(self, n: int, finding: dict) -> None:
        hpo = finding["hpo_id"]
        coding = [_coding(HPO, hpo, HPO_LABELS.get(hpo))] if hpo else []
        self.add(
            "Condition",
            self.uid("finding", n),
            {
                "extension": [self.timeline(finding)],
                "verificationStatus": _verification(finding["present"]),
                "code": _concept(finding["label"], *coding),
                "subject": self.ref(self.patient),
                "evidence": [{"detail": [self.ref(self.source)]}],
                "note": _notes(f"Source: “{finding['quote']}”" if finding["quote"] else ""),
            },
        )

    def add_metastasis(self, n: int, metastasis: dict) -> None:
        site = choice_label(MetastasisSite.choices, metastasis["site"])
        extension = [self.timeline(metastasis)]
        if len(self.tumors) == 1:
            extension.insert(0, {"url": MCODE_RELATED_PRIMARY, "valueReference": self.ref(self.tumors[0])})
        self.add(
            "Condition",
            self.uid("metastasis", n),
            {
                "extension": extension,
                "verificationStatus": _verification(metastasis["present"]),
                "code": _concept(f"Metastasis: {site.lower()}"),
                "bodySite": [_concept(metastasis["detail"] or site)],
                "subject": self.ref(self.patient),
                "evidence": [{"detail": [self.ref(self.source)]}],
                "note": _notes(f"Source: “{metastasis['quote']}”" if metastasis["quote"] else ""),
            },
        )

    def add_lab(self, n: int, lab: dict) -> None:
        analyte = measures.analyte(lab["analyte"])
        body: dict[str, Any] = {
            "status": "final",
            "category": [_concept("", _coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory"))],
            "code": _concept(analyte.label, *([_coding(LOINC, lab["loinc"])] if lab["loinc"] else [])),
            "subject": self.ref(self.patient),
        }
        follows = [self.interventions[i] for i in lab.get("follows_intervention_indexes") or []]
        body["extension"] = [self.timeline(lab, follows=follows)]
        word = choice_label(QualitativeResult.choices, lab["qualitative"])
        if lab["value"] is not None and lab["value_high"] is not None:
            body["valueRange"] = {
                "low": _quantity(lab["value"], lab["unit"]),
                "high": _quantity(lab["value_high"], lab["unit"]),
            }
        elif lab["value"] is not None:
            body["valueQuantity"] = _quantity(lab["value"], lab["unit"], lab["comparator"])
        else:
            body["valueCodeableConcept"] = _concept(word)
        interpretation = lab["interpretation"]
        flag = interpretation["flag"] or (lab["qualitative"] if lab["value"] is None else None)
        if flag in FLAG_CODES:
            code, display = FLAG_CODES[flag]
            basis = BASIS_TEXT.get(interpretation["basis"], "as the source words it")
            body["interpretation"] = [_concept(f"{display.lower()}, {basis}", _coding(INTERPRETATION, code, display))]
        notes = []
        if lab["value"] is not None and word:
            notes.append(f"The source calls the result {word.lower()}.")
        if lab["specimen"] != "not_reported":
            notes.append(f"Specimen: {lab['specimen']}.")
        if lab["quote"]:
            notes.append(f"Source: “{lab['quote']}”")
        notes.append(lab["notes"])
        body["note"] = _notes(*notes)
        if lab["ref_low"] is not None or lab["ref_high"] is not None:
            limits = {}
            if lab["ref_low"] is not None:
                limits["low"] = _quantity(lab["ref_low"], lab["unit"])
            if lab["ref_high"] is not None:
                limits["high"] = _quantity(lab["ref_high"], lab["unit"])
            body["referenceRange"] = [limits]
        body["derivedFrom"] = [self.ref(self.source)]
        self.add("Observation", self.uid("lab", n), body)

    def intervention_notes(self, row: dict, *, responses: bool = True) -> list[dict]:
        """Notes; responses=False where the resource has fields of its own for them (Procedure.outcome)."""
        texts = [f"Intent: {choice_label(Intent.choices, row['intent']).lower()}."]
        if row["regimen"]:
            texts.append(f"Regimen: {row['regimen']}.")
        if row["category"] != InterventionCategory.DRUG:
            texts += [t for t in (row["dose_text"], row["schedule"], row["cycles_text"]) if t]
        if responses and row["calcium_response"] != CalciumResponse.NOT_ASSESSED:
            texts.append(f"Calcium response: {choice_label(CalciumResponse.choices, row['calcium_response']).lower()}.")
        if responses and row["tumor_response"] != TumorResponse.NOT_ASSESSED:
            texts.append(f"Tumor response: {choice_label(TumorResponse.choices, row['tumor_response']).lower()}.")
        if row["adverse_events"] != AdverseEvents.NOT_REPORTED:
            texts.append(
                f"Adverse events: {choice_label(AdverseEvents.choices, row['adverse_events']).lower()}."
                + (f" {row['adverse_events_text']}" if row["adverse_events_text"] else "")
            )
        if row["quote"]:
            texts.append(f"Source: “{row['quote']}”")
        texts.append(row["notes"])
        return _notes(*texts)

    def reasons(self, row: dict, n: int) -> list[dict]:
        if row["intent"] == Intent.CALCIUM_DIRECTED:  # the episode it falls in (issue 13, point 1)
            k = self.episode_of_intervention(n)
            return [self.ref(self.disorder if k == 0 else self.uid("disorder", k))]
        if row["intent"] == Intent.CANCER_DIRECTED:
            return [self.ref(t) for t in self.tumors]
        return []

    def add_intervention(self, n: int, row: dict) -> None:
        name = row["agent_text"] or row["agent_name"] or ""
        status = row["status"]
        advised_against = [_concept("Advised against")] if status == InterventionStatus.ADVISED_AGAINST else []
        common = {
            "extension": [self.timeline(row)],
            "subject": self.ref(self.patient),
            "reasonReference": self.reasons(row, n),
            "note": self.intervention_notes(row),
        }
        if row["category"] == InterventionCategory.DRUG:
            dosage: dict[str, Any] = {}
            text = "; ".join(t for t in (row["dose_text"], row["schedule"], row["cycles_text"]) if t)
            if text:
                dosage["text"] = text
            if row["route"]:
                dosage["route"] = _concept(choice_label(Route.choices, row["route"]))
            if row["dose_value"] is not None:
                dose: dict[str, Any] = {"value": row["dose_value"]}
                if row["dose_unit"]:
                    dose["unit"] = row["dose_unit"]
                dosage["doseAndRate"] = [{"doseQuantity": dose}]
            medication = _concept(name, *([_coding(ATC, row["atc"])] if row["atc"] else []))
            self.add(
                "MedicationStatement",
                self.interventions[n],
                {
                    **common,
                    "status": {"administered": "completed", "recommended": "intended"}.get(status, "not-taken"),
                    "statusReason": advised_against,
                    "medicationCodeableConcept": medication,
                    "derivedFrom": [self.ref(self.source)],
                    "dosage": [dosage] if dosage else [],
                },
            )
            return
        category = _concept(choice_label(InterventionCategory.choices, row["category"]))
        if status == InterventionStatus.RECOMMENDED:
            self.add(
                "ServiceRequest",
                self.interventions[n],
                {
                    **common,
                    "status": "unknown",
                    "intent": "proposal",
                    "category": [category],
                    "code": _concept(name),
                    "supportingInfo": [self.ref(self.source)],
                },
            )
            return
        outcome = "; ".join(
            f"{label}: {choice_label(choices, row[field]).lower()}"
            for field, label, choices, none in (
                ("calcium_response", "calcium response", CalciumResponse.choices, CalciumResponse.NOT_ASSESSED),
                ("tumor_response", "tumor response", TumorResponse.choices, TumorResponse.NOT_ASSESSED),
            )
            if row[field] != none
        )
        complication = (
            [_concept(row["adverse_events_text"] or "Adverse events observed")]
            if row["adverse_events"] == AdverseEvents.OBSERVED
            else []
        )
        self.add(
            "Procedure",
            self.interventions[n],
            {
                **common,
                "note": self.intervention_notes(row, responses=False),
                "status": "completed" if status == InterventionStatus.ADMINISTERED else "not-done",
                "statusReason": advised_against[0] if advised_against else None,
                "category": category,
                "code": _concept(name),
                "performedString": row["timing_text"],
                "outcome": _concept(outcome) if outcome else None,
                "complication": complication,
                "report": [self.ref(self.source)],
            },
        )

    def build(self) -> dict:
        doc = self.doc
        self.add_patient()
        self.add_source()
        for n, tumor in enumerate(doc["tumors"]):
            self.add_tumor(n, tumor)
        self.add_disorder()
        for n, metastasis in enumerate(doc["metastases"]):
            self.add_metastasis(n, metastasis)
        for n, finding in enumerate(doc["findings"]):
            self.add_finding(n, finding)
        for n, lab in enumerate(doc["labs"]):
            self.add_lab(n, lab)
        for n, row in enumerate(doc["interventions"]):
            self.add_intervention(n, row)
        timestamp = doc["updated_at_utc"]
        return {
            "resourceType": "Bundle",
            "id": self.uid("bundle"),
            "meta": {"lastUpdated": timestamp},
            "identifier": {"system": self.case_system, "value": self.rid},
            "type": "collection",
            "timestamp": timestamp,
            "entry": self.entries,
        }


def case_bundle(case) -> dict:
    """The case as a FHIR R4 collection Bundle (JSON object)."""
    return _Builder(case_document(case)).build()
