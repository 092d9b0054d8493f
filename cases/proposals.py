"""The registry's vocabularies for the extractor (cases/extraction.py), read from the database, and the one
entry point the API, the admin and the management commands call: `propose(text)`."""

from __future__ import annotations

from django.db.models import Count, Max

from . import extraction, hpo, measures
from .models import Agent, HpoRelease, HpoTerm

# Usual names and abbreviations of the registry's analytes, as case reports print them (domain.md's analyte
# list). To move into the analyte table when analytes become admin-editable.
ANALYTE_NAMES: dict[str, tuple[str, ...]] = {
    "calcium_total": ("calcium", "total calcium", "serum calcium", "Ca"),
    "calcium_ionized": ("ionized calcium", "ionised calcium", "iCa", "free calcium"),
    "calcium_corrected": ("corrected calcium", "albumin-corrected calcium", "adjusted calcium"),
    "albumin": ("albumin",),
    "pth_intact": ("PTH", "intact PTH", "iPTH", "parathyroid hormone", "intact parathyroid hormone"),
    "pthrp": ("PTHrP", "PTH-related protein", "PTH-related peptide", "parathyroid hormone-related protein",
              "parathyroid hormone-related peptide", "PTH-rP"),
    "vitamin_d_25oh": ("25-hydroxyvitamin D", "25-OH vitamin D", "25(OH)D", "25-(OH) D", "25-OH D",
                       "25-hydroxy vitamin D", "calcidiol"),
    "vitamin_d_125oh2": ("1,25-dihydroxyvitamin D", "1,25-(OH)2 D", "1,25(OH)2D", "1,25-(OH)2 vitamin D",
                         "1,25-dihydroxy vitamin D", "1,25(OH)2 vitamin D"),
    "phosphate": ("phosphate", "phosphorus", "inorganic phosphate"),
    "magnesium": ("magnesium", "Mg"),
    "creatinine": ("creatinine",),
    "alkaline_phosphatase": ("alkaline phosphatase", "ALP"),
}  # fmt: skip


def analyte_terms() -> tuple[extraction.AnalyteTerm, ...]:
    return tuple(
        extraction.AnalyteTerm(code, (a.label, *ANALYTE_NAMES.get(code, ())), a.units)
        for code, a in measures.ANALYTES.items()
    )


def agent_terms() -> tuple[extraction.AgentTerm, ...]:
    return tuple(
        extraction.AgentTerm(a.code, a.name, a.category, tuple(a.synonym_list)) for a in Agent.objects.order_by("code")
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
    """The compiled extractor, rebuilt only when the agents or the HPO table change (4 queries)."""
    agents = (Agent.objects.count(), Agent.history.aggregate(n=Count("history_id"), last=Max("history_date")))
    hpo = (HpoRelease.objects.values_list("version", "loaded_at").first(), HpoTerm.objects.count())
    fingerprint = repr((agents, hpo))
    if _cache.get("fingerprint") != fingerprint:
        vocabulary = extraction.Vocabulary(analyte_terms(), agent_terms(), phenotype_terms())
        _cache.update(fingerprint=fingerprint, extractor=extraction.Extractor(vocabulary))
    return _cache["extractor"]


def propose(text: str) -> list[dict]:
    return [p.as_dict() for p in extractor().extract(text)]
