import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger("registry")

RETRY_AFTER_SECONDS = 5


def database_unavailable() -> JsonResponse:
    response = JsonResponse(
        {"detail": "The database is unavailable at the moment; try again in a few seconds."}, status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached (down, restarting, every pooled connection busy, SQLite locked) gives the
    API's clients a JSON 503 with Retry-After instead of an HTML 500; the error is logged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError) or not request.path.startswith("/api/"):
            return None
        logger.error("database unavailable: %s %s", request.method, request.path, exc_info=exception)
        return database_unavailable()
