"""An initial history entry for rows loaded without one (loaddata saves raw, so django-simple-history records
nothing): the seeded cases then show "created" in their full history like any case entered in the admin."""

from __future__ import annotations

from .models import Agent, Case, Finding, Intervention, LabResult, Mechanism, Metastasis, Source, Tumor

HISTORY_MODELS = (Source, Agent, Case, Tumor, Metastasis, Mechanism, Finding, Intervention, LabResult)
REASON = "Loaded from the registry's fixtures"


def record_initial_history(reason: str = REASON) -> int:
    """Create a "created" history record for every row that has none; returns how many were recorded."""
    count = 0
    for model in HISTORY_MODELS:
        recorded = model.history.values("id")
        missing = list(model.objects.exclude(pk__in=recorded))
        if missing:
            model.history.bulk_history_create(missing, default_change_reason=reason)
            count += len(missing)
    return count
