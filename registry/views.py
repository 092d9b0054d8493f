"""Site-wide views: the health check for load balancers, and JSON error pages under /api/."""

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
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
