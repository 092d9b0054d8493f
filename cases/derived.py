"""The `derived` block of the case document (its shape: cases.document.DerivedSerializer), computed when a case is
written and stored on Case.derived_json with the other derived columns (Case.compute_derived), so that reads
serve it as stored. Row references are positions (lab_index, intervention_index) in the case's timeline order
(sequence, id), which a read lists in the same order; the stored value is refreshed with every write.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal
from typing import TYPE_CHECKING

from cases import measures, quality

if TYPE_CHECKING:
    from cases.models import Case, Intervention, LabResult


def number(value: Decimal | None) -> float | None:
    """Decimals as JSON numbers, without the storage's trailing zeros."""
    return None if value is None else float(value)


def derived_document(
    case: Case,
    summary: measures.CalciumSummary | None = None,
    suggestions: list[quality.Suggestion] | None = None,
    completeness: quality.Completeness | None = None,
) -> dict:
    """The block from the case's rows (prefetch them for many cases); Case.compute_derived passes what it has
    already computed from the same rows."""
    labs: list[LabResult] = list(case.labs.all())
    interventions: list[Intervention] = list(case.interventions.all())
    summary = summary if summary is not None else case.calcium_summary()
    lab_index = {lab.pk: n for n, lab in enumerate(labs)}
    intervention_index = {i.pk: n for n, i in enumerate(interventions)}
    recorded = [m.code for m in case.first_episode_mechanisms() if m.is_recorded]
    suggestions = suggestions if suggestions is not None else case.mechanism_suggestions()
    completeness = completeness if completeness is not None else case.completeness()

    def extreme(e):
        return e and {
            "mg_dl": number(e.mg_dl),
            "mmol_l": number(e.mmol_l),
            "comparator": e.comparator,
            "basis": e.basis,
            "day": e.day,
            "lab_index": lab_index.get(e.measurement_id),
        }

    def grade(g):
        return g and {
            "grade": g.grade,
            "direction": g.direction,
            "basis": g.basis,
            "limit_basis": g.limit_basis,
            "note": g.note,
        }

    def point(p, high: bool):
        return p and {
            "lab_index": lab_index.get(p.measurement_id),
            "basis": p.basis,
            "mg_dl": number(measures.round_for_unit(p.high_mg_dl if high else p.low_mg_dl, "mg/dL")),
            "comparator": p.comparator,
            "day": p.day,
        }

    n = summary.normalisation

    def normalisation(n):
        return n and {
            "normalised": n.normalised,
            "days": n.days,
            "intervention_index": intervention_index.get(n.intervention_id),
            "lab_index": lab_index.get(n.measurement_id),
            "first_intervention_index": intervention_index.get(n.first_intervention_id),
            "first_intervention_normalised": n.first_normalised,
        }

    episodes = []
    for k, (episode, s, labs_in, interventions_in) in enumerate(episode_summaries(case, summary, labs, interventions)):
        episodes.append(
            {
                "position": k + 1,
                "disorder": episode.disorder,
                "sequence": episode.sequence,
                "day": episode.day,
                "lab_indexes": [lab_index[lab.pk] for lab in labs_in],
                "intervention_indexes": [intervention_index[i.pk] for i in interventions_in],
                "peak_calcium": extreme(s.peak),
                "nadir_calcium": extreme(s.nadir),
                "peak_ctcae": grade(s.peak_grade),
                "nadir_ctcae": grade(s.nadir_grade),
                "normalisation": normalisation(s.normalisation),
            }
        )
    return {
        "peak_calcium": extreme(summary.peak),
        "nadir_calcium": extreme(summary.nadir),
        "peak_ctcae": grade(summary.peak_grade),
        "nadir_ctcae": grade(summary.nadir_grade),
        "ionized_peak_calcium": extreme(summary.ionized_peak),
        "ionized_nadir_calcium": extreme(summary.ionized_nadir),
        "ionized_peak_ctcae": grade(summary.ionized_peak_grade),
        "ionized_nadir_ctcae": grade(summary.ionized_nadir_grade),
        "normalisation": normalisation(n),
        "interventions": [
            {
                "intervention_index": intervention_index[a.intervention_id],
                "calcium_before": point(a.before, True),
                "calcium_after": point(a.after, True),
                "calcium_after_word": a.after_word.qualitative if a.after_word else None,
                "calcium_normal_after": a.normal_after,
            }
            for a in summary.around
        ],
        "mechanism_check": {
            "recorded": recorded,
            "suggested": [{"code": s.code, "rule": s.rule} for s in suggestions],
            "agreement": quality.mechanism_agreement(recorded, suggestions),
        },
        "completeness": {
            "score": completeness.score,
            "of": len(quality.CARE_ITEMS),
            "present": list(completeness.present),
            "missing": list(completeness.missing),
        },
        "episodes": episodes,
    }


def episode_position(sequence: int, starts: list[int]) -> int:
    """The episode (0-based) a row at `sequence` belongs to, of episodes starting at `starts` (ascending): the last
    one started at or before it; the first also takes everything before it."""
    return max(bisect_right(starts, sequence) - 1, 0)


def episode_summaries(case: Case, summary: measures.CalciumSummary, labs: list, interventions: list) -> list[tuple]:
    """Per episode, in order: (episode, its calcium summary, its labs, its interventions). An episode's rows are those
    from its start (sequence) to the next one's start, read with the episode's disorder (which side of the range
    is normal); a case of one episode has the case's summary."""
    episodes = list(case.episodes.all())
    if len(episodes) <= 1:
        return [(e, summary, labs, interventions) for e in episodes]
    starts = [e.sequence for e in episodes]
    out = []
    for k, episode in enumerate(episodes):

        def within(row, k=k) -> bool:
            return episode_position(row.sequence, starts) == k

        out.append(
            (
                episode,
                case.calcium_summary(episode.disorder, within),
                [lab for lab in labs if within(lab)],
                [i for i in interventions if within(i)],
            )
        )
    return out
