"""Errors as analysts' tools need them: a status code, and for 400s every field path with its reason."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cases.citations import LikelySourceDuplicate
from cases.document import flatten
from cases.duplicates import DUPLICATE
from cases.services import DocumentError, NeedsConfirmation, NotDeletable, VersionConflict, database_refusal_reason


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "This request must carry an If-Match header with the case's ETag (read the case first)."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The case has changed since you read it: reload it and apply your change again."
    default_code = "precondition_failed"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class LikelyDuplicate(exceptions.ValidationError):
    """A create or import that looks like a record already in the registry: 409 with the error shape of a 400
    (every unconfirmed warning, the "duplicate" one naming the existing record), until "duplicate" is confirmed."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "duplicate"


def needs_confirmation(errors: dict[str, str]) -> exceptions.ValidationError:
    """Unconfirmed warnings: 400, or 409 when one of them is a likely duplicate."""
    return (LikelyDuplicate if DUPLICATE in errors else exceptions.ValidationError)(errors)


def database_refusal(exc: DataError | IntegrityError) -> exceptions.ValidationError:
    """A 400 for a value the database refused (cases.services.database_refusal_reason): a safety net."""
    return exceptions.ValidationError({"non_field_errors": [database_refusal_reason(exc)]})


def handle(exc, context):
    if isinstance(exc, VersionConflict):
        exc = PreconditionFailed(str(exc))
    elif isinstance(exc, NotDeletable):
        exc = Conflict(str(exc))
    elif isinstance(exc, LikelySourceDuplicate):
        exc = LikelyDuplicate({DUPLICATE: str(exc)})
    elif isinstance(exc, NeedsConfirmation):
        exc = needs_confirmation(exc.errors)
    elif isinstance(exc, DocumentError):
        exc = exceptions.ValidationError(exc.errors)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DataError | IntegrityError):
        # Validation should have caught it; if a rule only the database knows is broken, say which.
        exc = database_refusal(exc)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        # A 409's detail is the duplicate warning itself: it names the existing record.
        duplicate = exc.detail.get(DUPLICATE) if isinstance(exc, LikelyDuplicate) else None
        detail = str(duplicate[0] if isinstance(duplicate, list) else duplicate or "Invalid input.")
        response.data = {"detail": detail, "errors": flatten(exc.detail)}
    elif response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        # A body that is not JSON (or nested too deeply) has no field: the error shape of every 400 all the same.
        response.data = {"detail": str(exc.detail), "errors": [{"field": None, "reason": str(exc.detail)}]}
    return response


def error_response(status_code: int, detail: str) -> Response:
    return Response({"detail": detail}, status=status_code)
