"""Timing relative to another row (issue 13): a row may give its time as an anchor intervention + an offset in days
+ the phrase as printed ("one month after denosumab"). Its day is resolved from the anchor's day when that is known
(an anchor may itself be anchored: resolved along the chain); the anchor and offset are kept. Pure functions: the
edit service and the document validation call them with what they have."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    key: object  # the row's identity for the caller (an id, or a position in a document)
    day: int | None
    day_is_approximate: bool
    anchor: object = None  # the key of the intervention it is timed from
    offset: int | None = None
    offset_is_approximate: bool = False


class AnchorCycle(ValueError):
    def __init__(self, keys: list) -> None:
        self.keys = keys
        super().__init__(f"Anchors form a cycle: {keys}")


def intervention_days(interventions: list[Timing]) -> dict[object, tuple[int | None, bool]]:
    """Each intervention's (day, approximate): its own, or resolved from its anchor (along chains). An anchor whose
    day is unknown leaves the day unknown. AnchorCycle names the interventions of a cycle."""
    by_key = {t.key: t for t in interventions}
    resolved: dict[object, tuple[int | None, bool]] = {}

    def resolve(key, path: list) -> tuple[int | None, bool]:
        if key in resolved:
            return resolved[key]
        t = by_key[key]
        if t.anchor is None or t.anchor not in by_key:
            resolved[key] = (t.day, t.day_is_approximate)
            return resolved[key]
        if key in path:
            raise AnchorCycle(path[path.index(key) :])
        anchor_day, anchor_approximate = resolve(t.anchor, [*path, key])
        resolved[key] = relative_day(anchor_day, anchor_approximate, t)
        return resolved[key]

    for t in interventions:
        resolve(t.key, [])
    return resolved


def relative_day(anchor_day: int | None, anchor_approximate: bool, t: Timing) -> tuple[int | None, bool]:
    """The day of a row timed from an anchor: the anchor's day + the offset, approximate when either is; unknown
    (None, False) when the anchor's day is."""
    if anchor_day is None or t.offset is None:
        return (None, False)
    return (anchor_day + t.offset, anchor_approximate or t.offset_is_approximate)
