"""Site-wide views: the health check for load balancers, and JSON error pages under /api/."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.utils.html import format_html
from django.views import defaults
from django.views.decorators.cache import never_cache

from .middleware import database_unavailable


@never_cache
def healthz(request) -> JsonResponse:
    """200 when the database answers and every migration is applied; 503 otherwise. No data, no sign-in."""
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except (OperationalError, InterfaceError):
        return database_unavailable()
    if pending:
        response = JsonResponse({"detail": f"{len(pending)} database migration(s) not applied."}, status=503)
        response["Retry-After"] = "30"
        return response
    return JsonResponse({"status": "ok"})


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error: it has been logged."}, status=500)
    return defaults.server_error(request)


def bad_request(request, exception):
    """A form over DATA_UPLOAD_MAX_MEMORY_SIZE (a whole book pasted into a source's text) is told why, in words;
    anything else, and the API (which answers 413 itself), as Django does."""
    if isinstance(exception, RequestDataTooBig) and not request.path.startswith("/api/"):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
        return HttpResponse(
            format_html(
                "<!doctype html><title>Too large</title><h1>The form is too large to save</h1><p>What you sent is "
                "larger than the registry accepts ({} MB), so nothing was saved. A source's text is the report "
                "itself (a case report is usually under 50,000 characters): go back, keep only the report's text, "
                "and save again.</p>",
                f"{limit:g}",
            ),
            status=413,
        )
    return defaults.bad_request(request, exception)
