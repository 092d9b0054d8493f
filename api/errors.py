"""Errors as analysts' tools need them: a status code, and for 400s every field path with its reason."""

from __future__ import annotations

import re

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cases.services import DocumentError, NotDeletable, VersionConflict

# SQLite names a broken check constraint in its message; PostgreSQL in the error's diagnostics.
SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")


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


def flatten(detail, prefix: str = "") -> list[dict]:
    """{"labs": [{}, {"unit": ["bad"]}]} -> [{"field": "labs[1].unit", "reason": "bad"}]."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                path = prefix
            elif isinstance(key, int) or str(key).isdigit():
                path = f"{prefix}[{key}]"
            elif prefix:
                path = f"{prefix}.{key}"
            else:
                path = str(key)
            out.extend(flatten(value, path))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [{"field": prefix or None, "reason": str(item)} for item in detail]
        out = []
        for n, item in enumerate(detail):
            if isinstance(item, str):
                out.append({"field": prefix or None, "reason": str(item)})
            elif item:
                out.extend(flatten(item, f"{prefix}[{n}]"))
        return out
    return [{"field": prefix or None, "reason": str(detail)}]


def _constraint_message(name: str | None) -> str | None:
    """The curator-readable message of the named database constraint, from the model that declares it."""
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name:
                return str(constraint.violation_error_message or "") or None
    return None


def database_refusal(exc: DataError | IntegrityError) -> exceptions.ValidationError:
    """A 400 for a value the database refused: validation should have caught it, so this is a safety net.

    The write was atomic (cases.services), so nothing of it was stored. The driver's own text is not echoed: on
    PostgreSQL it quotes the whole failing row.
    """
    if isinstance(exc, DataError):
        reason = (
            "The database refused a value: a number is too large (or too precise) for its field, or a text too "
            "long. Nothing was saved."
        )
    else:
        diag = getattr(exc.__cause__, "diag", None)
        match = SQLITE_CHECK.search(str(exc))
        name = getattr(diag, "constraint_name", None) or (match.group(1) if match else None)
        rule = _constraint_message(name)
        reason = "The database refused the change" + (f" ({name})" if name else "") + (f": {rule}" if rule else ".")
        reason += " Nothing was saved."
    return exceptions.ValidationError({"non_field_errors": [reason]})


def handle(exc, context):
    if isinstance(exc, VersionConflict):
        exc = PreconditionFailed(str(exc))
    elif isinstance(exc, NotDeletable):
        exc = Conflict(str(exc))
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
        response.data = {"detail": "Invalid input.", "errors": flatten(exc.detail)}
    elif response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        # A body that is not JSON (or nested too deeply) has no field: the error shape of every 400 all the same.
        response.data = {"detail": str(exc.detail), "errors": [{"field": None, "reason": str(exc.detail)}]}
    return response


def error_response(status_code: int, detail: str) -> Response:
    return Response({"detail": detail}, status=status_code)
