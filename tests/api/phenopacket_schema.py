"""A strict check of the Phenopacket v2 rules that the protobuf parser cannot see: the fields the schema marks
REQUIRED, non-empty labels, one-of choices and non-empty lists.

Protobuf 3 makes every field optional, so `json_format.Parse` accepts a feature without `type` or a treatment
without `agent`. The phenopacket-tools validator (Java) enforces the schema's requirements with JSON schemas that
no Python package ships; this is an equivalent JSON Schema (validated with `jsonschema`), written from the
requirement levels of the Phenopacket Schema v2.0 documentation (phenopacket-schema.readthedocs.io, one page per
element) and the phenopacket-tools v2 base schemas. Rules, per element:

- Phenopacket: id, subject, metaData; phenotypicFeatures / measurements / diseases / medicalActions, when
  present, not empty.
- Individual: id. TimeElement: exactly one of age, ageRange, gestationalAge, ontologyClass, timestamp, interval;
  Age: iso8601duration.
- OntologyClass: id (a CURIE) and a non-empty label.
- PhenotypicFeature: type. Disease: term.
- Measurement: assay, and exactly one of value / complexValue; Value: exactly one of quantity / ontologyClass;
  Quantity: unit and value; ReferenceRange: unit, low and high.
- MedicalAction: exactly one of procedure, treatment, radiationTherapy, therapeuticRegimen; Procedure: code;
  Treatment: agent; RadiationTherapy: modality, bodySite, dosage, fractions; TherapeuticRegimen: one of
  ontologyClass / externalReference, and regimenStatus.
- MetaData: created, createdBy, phenopacketSchemaVersion "2.0", resources (at least one); Resource: id, name,
  url, version, namespacePrefix, iriPrefix, all non-empty.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator

_TEXT = {"type": "string", "minLength": 1}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _items(name: str) -> dict:
    return {"type": "array", "minItems": 1, "items": _ref(name)}


def _one_of(*names: str) -> list[dict]:
    return [{"required": [name]} for name in names]


PHENOPACKET_V2_REQUIRED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "subject", "metaData"],
    "properties": {
        "id": _TEXT,
        "subject": _ref("individual"),
        "phenotypicFeatures": _items("phenotypicFeature"),
        "measurements": _items("measurement"),
        "diseases": _items("disease"),
        "medicalActions": _items("medicalAction"),
        "metaData": _ref("metaData"),
    },
    "$defs": {
        "ontologyClass": {
            "type": "object",
            "required": ["id", "label"],
            "properties": {"id": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.-]*:\S+$"}, "label": _TEXT},
        },
        "age": {"type": "object", "required": ["iso8601duration"], "properties": {"iso8601duration": _TEXT}},
        "timeElement": {
            "type": "object",
            "properties": {"age": _ref("age"), "ontologyClass": _ref("ontologyClass")},
            "oneOf": _one_of("age", "ageRange", "gestationalAge", "ontologyClass", "timestamp", "interval"),
        },
        "individual": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": _TEXT, "timeAtLastEncounter": _ref("timeElement")},
        },
        "phenotypicFeature": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": _ref("ontologyClass"), "onset": _ref("timeElement")},
        },
        "disease": {
            "type": "object",
            "required": ["term"],
            "properties": {
                "term": _ref("ontologyClass"),
                "primarySite": _ref("ontologyClass"),
                "onset": _ref("timeElement"),
            },
        },
        "quantity": {
            "type": "object",
            "required": ["unit", "value"],
            "properties": {
                "unit": _ref("ontologyClass"),
                "value": {"type": "number"},
                "referenceRange": {
                    "type": "object",
                    "required": ["unit", "low", "high"],
                    "properties": {"unit": _ref("ontologyClass")},
                },
            },
        },
        "measurement": {
            "type": "object",
            "required": ["assay"],
            "oneOf": _one_of("value", "complexValue"),
            "properties": {
                "assay": _ref("ontologyClass"),
                "timeObserved": _ref("timeElement"),
                "value": {
                    "type": "object",
                    "oneOf": _one_of("quantity", "ontologyClass"),
                    "properties": {"quantity": _ref("quantity"), "ontologyClass": _ref("ontologyClass")},
                },
            },
        },
        "medicalAction": {
            "type": "object",
            "oneOf": _one_of("procedure", "treatment", "radiationTherapy", "therapeuticRegimen"),
            "properties": {
                "procedure": {"type": "object", "required": ["code"], "properties": {"code": _ref("ontologyClass")}},
                "treatment": {"type": "object", "required": ["agent"], "properties": {"agent": _ref("ontologyClass")}},
                "radiationTherapy": {
                    "type": "object",
                    "required": ["modality", "bodySite", "dosage", "fractions"],
                },
                "therapeuticRegimen": {
                    "type": "object",
                    "required": ["regimenStatus"],
                    "oneOf": _one_of("ontologyClass", "externalReference"),
                },
                "treatmentTarget": _ref("ontologyClass"),
            },
        },
        "metaData": {
            "type": "object",
            "required": ["created", "createdBy", "phenopacketSchemaVersion", "resources"],
            "properties": {
                "created": _TEXT,
                "createdBy": _TEXT,
                "phenopacketSchemaVersion": {"const": "2.0"},
                "resources": _items("resource"),
            },
        },
        "resource": {
            "type": "object",
            "required": ["id", "name", "url", "version", "namespacePrefix", "iriPrefix"],
            "properties": {
                key: _TEXT for key in ("id", "name", "url", "version", "namespacePrefix", "iriPrefix")
            },
        },
    },
}

_VALIDATOR = Draft202012Validator(PHENOPACKET_V2_REQUIRED)


def required_field_errors(packet: dict) -> list[str]:
    """Every breach of the rules above, as 'path: message' (empty when the packet complies)."""
    return sorted(
        "/".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in _VALIDATOR.iter_errors(packet)
    )
