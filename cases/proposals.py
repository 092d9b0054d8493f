"""The registry's vocabularies for the extractor (cases/extraction.py), read from the database, and the one
entry point the API, the admin and the management commands call: `propose(text)`."""

from __future__ import annotations

import re

from django.db.models import Count, Max

from . import extraction, hpo, measures
from .models import Agent, HpoRelease, HpoTerm


def analyte_terms() -> tuple[extraction.AnalyteTerm, ...]:
    return tuple(
        extraction.AnalyteTerm(code, (a.label, *a.synonyms), a.units) for code, a in measures.analytes().items()
    )


# Drug classes (Agent.drug_class) given only to treat a cancer: their agents are proposed as cancer-directed.
# Plicamycin's "antineoplastic antibiotic" is not among them: the registry's reports give it for hypercalcemia.
ANTINEOPLASTIC_CLASSES = frozenset({"chemotherapy", "endocrine", "aromatase inhibitor", "anti-HER2", "mTOR inhibitor"})


def agent_terms() -> tuple[extraction.AgentTerm, ...]:
    return tuple(
        extraction.AgentTerm(
            a.code,
            a.name,
            a.category,
            tuple(a.synonym_list),
            "cancer_directed" if a.drug_class in ANTINEOPLASTIC_CLASSES else "",
        )
        for a in Agent.objects.order_by("code")
    )


def phenotype_terms() -> tuple[extraction.PhenotypeTerm, ...]:
    """Phenotypic abnormalities except neoplasms: a tumor is proposed as a tumor row, not as a finding."""
    rows = list(
        HpoTerm.objects.filter(obsolete=False, phenotypic_abnormality=True).values_list(
            "id", "label", "synonyms", "parents"
        )
    )
    neoplasms = hpo.descendants({i: parents for i, _, _, parents in rows}, hpo.NEOPLASM) | {hpo.NEOPLASM}
    return tuple(
        extraction.PhenotypeTerm(i, label, tuple(synonyms)) for i, label, synonyms, _ in rows if i not in neoplasms
    )


_cache: dict[str, object] = {}


def extractor() -> extraction.Extractor:
    """The compiled extractor, rebuilt only when the agents, the analytes (read from the registry, no query) or the
    HPO table change (4 queries)."""
    agents = (Agent.objects.count(), Agent.history.aggregate(n=Count("history_id"), last=Max("history_date")))
    hpo = (HpoRelease.objects.values_list("version", "loaded_at").first(), HpoTerm.objects.count())
    analytes = analyte_terms()
    fingerprint = repr((agents, hpo, analytes))
    if _cache.get("fingerprint") != fingerprint:
        vocabulary = extraction.Vocabulary(analytes, agent_terms(), phenotype_terms())
        _cache.update(fingerprint=fingerprint, extractor=extraction.Extractor(vocabulary))
    return _cache["extractor"]


def propose(text: str) -> list[dict]:
    return [p.as_dict() for p in extractor().extract(text)]


# --- the workspace's "Propose from text" (cases/admin_proposals.py) -----------------------------------------

# Longer texts are refused rather than tying up a worker: a case report is usually under 50,000 characters, and
# the extractor handles about 60,000 characters (10,000 words) in under half a second.
MAX_PROPOSAL_CHARACTERS = 500_000


class UnusableText(ValueError):
    """A text no proposals can be drawn from; the message says why, for the curator."""


def check_text(text: str) -> list[str]:
    """UnusableText for an empty, too long or non-English text; else notes for the curator (no numbers)."""
    if not text.strip():
        raise UnusableText(
            "The source has no text: paste the report's text into the source, save it, and propose again."
        )
    if len(text) > MAX_PROPOSAL_CHARACTERS:
        raise UnusableText(
            f"The source's text has {len(text):,} characters; proposals are drawn from texts of up to "
            f"{MAX_PROPOSAL_CHARACTERS:,} (a case report is usually under 50,000). Keep the report's own text in the "
            "source, not the whole issue or book it appeared in."
        )
    if not extraction.looks_english(text):
        raise UnusableText("The text does not look like English: proposals are drawn only from English case reports.")
    if not any(c.isdigit() for c in text):
        return ["The text contains no numbers: no lab values, ages, doses or durations can be proposed from it."]
    return []


def fact_key(proposal: dict) -> tuple:
    """What a proposal says, without where: repeated mentions of one fact ("zoledronic acid" ten times) are one
    proposal for the curator, with all its mentions."""
    f = proposal["fields"]
    kind = proposal["kind"]
    if kind == "intervention":
        return (kind, f.get("agent") or f.get("agent_text", "").lower())
    if kind == "metastasis":
        return (kind, f["site"], f["present"])
    if kind == "finding":
        return (kind, f.get("hpo_id") or f["label"].lower(), f["present"])
    if kind == "lab":
        keys = ("analyte", "comparator", "value", "value_high", "unit", "qualitative", "ref_low", "ref_high")
        return (kind, *(f.get(k) for k in keys))
    return (kind, *sorted((k, v) for k, v in f.items() if k not in ("timing_text", "notes")))


# A report's own account of its patient: from a heading "Case Report" / "2. Case" / "Case presentation" / "Clinical
# history" to the next "Discussion" / "Conclusion(s)" / "Comment" heading (each on a line of its own).
_HEADING = r"^[ \t]*(?:\d+\.?[ \t]*)?(?:{})[ \t]*[:.]?[ \t]*$"
CASE_HEADING = re.compile(
    _HEADING.format(
        r"case(?:\s+(?:report|presentation|description|history))?|clinical\s+(?:case|presentation|history)"
    ),
    re.I | re.M,
)
END_HEADING = re.compile(_HEADING.format(r"discussion|conclusions?|comments?"), re.I | re.M)


def case_section(text: str) -> tuple[int, int] | None:
    """[start, end) of the report's case section, or None when its headings are not found: the last case heading
    before the first closing heading that follows one (a "Case Report" label above the title comes first)."""
    starts = [m.end() for m in CASE_HEADING.finditer(text)]
    if not starts:
        return None
    end = next((m.start() for m in END_HEADING.finditer(text) if m.start() > starts[0]), len(text))
    return (max(s for s in starts if s < end), end)


def grouped(proposals: list[dict], text: str = "") -> list[dict]:
    """One proposal per fact, in the order of its first mention, with `mentions` ([start, end) of each): the
    mention that says most (its fields, quote and span; the first of equals), completed by the others' fields (a
    duration printed only once). With the report's text, a mention in its case section is preferred to one in the
    background or discussion (whose "intravenous hydration" or "increase in PTH-related protein" are not said of
    this patient), so that the quote an accepted row carries is about the patient."""
    section = case_section(text) if text else None

    def says(p: dict) -> tuple[bool, int]:
        in_case = section is not None and section[0] <= p["span"][0] < section[1]
        return (in_case, len(p["fields"]))

    facts: dict[tuple, list[dict]] = {}
    for p in proposals:
        facts.setdefault(fact_key(p), []).append(p)
    out = []
    for mentions in facts.values():
        best = max(mentions, key=says)  # max keeps the first of equals
        fields = dict(best["fields"])
        for p in mentions:
            for name, value in p["fields"].items():
                fields.setdefault(name, value)
        out.append({**best, "fields": fields, "mentions": [p["span"] for p in mentions]})
    return out
