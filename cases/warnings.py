"""Warnings: things a curator may well mean (an implausible value for its unit, a likely duplicate case) but should
say so. The edit service (cases.services.case_edit) runs every registered check on the case as it would be saved;
a warning not in the edit's confirmations stops the edit (NeedsConfirmation) and nothing is saved.

A check is a function of the case (with its rows prefetched: case.labs.all(), ...) returning CaseWarnings, each
keyed by the field path it concerns ("labs[2].value", the position in the case document) or by a name for the
whole case ("duplicate"). A client confirms a warning by sending its key: `"confirm": ["labs[2].value"]` in a case
document, the warning's checkbox in the admin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Case


@dataclass(frozen=True)
class CaseWarning:
    key: str  # "labs[2].value" or "duplicate": what a client sends in "confirm"
    message: str  # for a curator: what looks wrong


WarningCheck = Callable[["Case"], Iterable[CaseWarning]]

_CHECKS: list[WarningCheck] = []
_CREATE_CHECKS: list[WarningCheck] = []  # run only when a case is created (a likely duplicate: cases.duplicates)


def warning_check(check: WarningCheck) -> WarningCheck:
    """Register a check (usable as a decorator); the edit service runs it before every write commits."""
    if check not in _CHECKS:
        _CHECKS.append(check)
    return check


def create_warning_check(check: WarningCheck) -> WarningCheck:
    """Register a check the edit service runs only on a case it creates (create, import), before it commits."""
    if check not in _CREATE_CHECKS:
        _CREATE_CHECKS.append(check)
    return check


@contextmanager
def registered(check: WarningCheck) -> Iterator[WarningCheck]:
    """Register a check for the duration of a block (tests)."""
    warning_check(check)
    try:
        yield check
    finally:
        _CHECKS.remove(check)


def any_registered(creating: bool = False) -> bool:
    return bool(_CHECKS or (creating and _CREATE_CHECKS))


def case_warnings(case: Case, creating: bool = False, answered: Mapping | None = None) -> list[CaseWarning]:
    """Every registered check's warnings about the case, in registration order (with the create-only checks' when
    the case is being created); `answered`: {check: its warnings about this case}, for a check already asked of
    many cases at once (a bulk import's duplicates)."""
    answered = answered or {}
    checks = [*_CHECKS, *(_CREATE_CHECKS if creating else ())]
    return [warning for check in checks for warning in (answered[check] if check in answered else check(case))]


def unconfirmed(
    case: Case,
    confirm: Iterable[str],
    already: Iterable[CaseWarning] = (),
    creating: bool = False,
    answered: Mapping | None = None,
) -> list[CaseWarning]:
    """The case's warnings that are neither confirmed nor `already` there before the edit (a warning the case had
    when it was read was confirmed by an earlier edit, or predates its check: it is not asked again)."""
    confirmed = set(confirm)
    old = set(already)
    return [
        warning
        for warning in case_warnings(case, creating, answered)
        if warning.key not in confirmed and warning not in old
    ]
