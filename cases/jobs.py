"""Long jobs on the task queue (RQ on REDIS_URL; bin/serve starts the worker): a bulk JSON import runs in the worker
and reports its progress and outcome, which the admin shows. Without REDIS_URL the import runs inline in the
request, as it always did."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from redis import Redis
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from .document import ImportFailed, import_cases

QUEUE = "default"  # the queue `manage.py rqworker default` works (settings.RQ_QUEUES)
KEEP_SECONDS = 7 * 24 * 3600  # how long an import's outcome stays visible
IMPORT_TIMEOUT_SECONDS = 3600


def _redis() -> Redis | None:
    return Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


def queue_available() -> bool:
    """Whether long jobs go to the worker (REDIS_URL set) rather than run in the request."""
    return bool(settings.REDIS_URL)


def enqueue(function, *args, user, progress: str) -> Job:
    """Queue `function(*args)` for the worker on behalf of `user` (who alone sees its job, with a superuser)."""
    return Queue(QUEUE, connection=_redis()).enqueue(
        function,
        *args,
        meta={"user_id": user.pk, "progress": progress},
        job_timeout=IMPORT_TIMEOUT_SECONDS,
        result_ttl=KEEP_SECONDS,
        failure_ttl=KEEP_SECONDS,
    )


def start_import(documents, *, user) -> Job | list:
    """The imported cases (inline, without REDIS_URL; ImportFailed names every problem), or the queued job."""
    if not queue_available():
        return import_cases(documents, user=user)
    count = len(documents) if isinstance(documents, list) else 1
    progress = f"waiting for the worker ({count} case document(s))"
    return enqueue(run_import, documents, user.pk, user=user, progress=progress)


def run_import(documents, user_id: int) -> dict:
    """The job: all or nothing, as inline; a refused import is an outcome (its errors), not a failed job."""
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is None:  # run inline (not by a worker): no job to report on
            return
        job.meta["progress"] = f"{done} of {total} case document(s) checked"
        job.save_meta()

    user = get_user_model().objects.get(pk=user_id)
    try:
        cases = import_cases(documents, user=user, progress=progress)
    except ImportFailed as exc:
        return {"imported": [], "errors": exc.errors}
    return {"imported": [case.registry_id for case in cases], "errors": []}


def import_status(job_id: str, user) -> dict | None:
    """What the admin shows of an import job: only to the user who started it (or a superuser)."""
    redis = _redis()
    try:
        job = Job.fetch(job_id, connection=redis) if redis else None
    except NoSuchJobError:
        job = None
    if job is None or (job.meta.get("user_id") != user.pk and not user.is_superuser):
        return None
    status = job.get_status(refresh=True)
    outcome = job.return_value() if status == "finished" else None
    latest = job.latest_result() if status == "failed" else None
    failure = latest.exc_string if latest is not None else None
    return {
        "id": job.id,
        "status": str(getattr(status, "value", status)),
        "progress": job.meta.get("progress", ""),
        "running": status in ("queued", "started", "deferred", "scheduled"),
        "imported": (outcome or {}).get("imported", []),
        "errors": (outcome or {}).get("errors", []),
        "failure": failure,
    }
