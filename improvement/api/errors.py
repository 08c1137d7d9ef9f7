"""One error shape for the whole API: {"code", "message", "errors"}.

Domain errors map to their HTTP status (TransitionBlocked/Conflict 409, Forbidden 403,
InvalidInput 400); DRF's own errors keep their status and field errors. A body larger than
the API reads is a 413. Whatever a message quotes of the client's input is made encodable
first: a lone surrogate in a value or a field name must not turn a 400 into a 500.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import CIRError


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`.")
    message = serializers.CharField(help_text="What went wrong, in words.")
    errors = serializers.JSONField(
        help_text="Field errors ({field: [messages]}), per-row errors ({rows: {index: "
        "{field: [messages]}}}) or the unmet conditions of a move ({conditions: [...]})."
    )


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(
            f"The request body is larger than the API reads ({limit} bytes); send the "
            "measurements in several requests."
        )


def exception_handler(exc, context):
    """Render every error of the API in the one shape, as text that can be encoded."""
    response = _error_response(exc, context)
    if response is not None:
        response.data = encodable(response.data)
    return response


def encodable(data):
    """`data` with every string (keys too) made encodable as UTF-8: a lone surrogate is
    written as its escape, `\\ud800`."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return data.encode("utf-8", "backslashreplace").decode("utf-8")
        return data
    if isinstance(data, dict):
        return {encodable(k): encodable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [encodable(v) for v in data]
    return data


def _error_response(exc, context):
    if isinstance(exc, CIRError):
        return Response(
            {"code": exc.code, "message": exc.message, "errors": exc.errors}, status=exc.status
        )
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        first = _first_message(errors)
        response.data = {"code": "invalid", "message": first or "Invalid input.", "errors": errors}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.APIException) and hasattr(exc.detail, "code"):
            code = exc.detail.code or code
        response.data = {"code": code, "message": str(detail), "errors": {}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["code"] = "not_authenticated"
    return response


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for value in errors.values():
            found = _first_message(value)
            if found:
                return found
    elif isinstance(errors, list):
        for value in errors:
            found = _first_message(value)
            if found:
                return found
    elif errors:
        return str(errors)
    return ""


@csrf_exempt  # a 404 is the answer to every method, with or without a session
def endpoint_not_found(request, *args, **kwargs):
    """Unknown paths under /api/v1/: a 404 in the one error shape."""
    message = "There is no such API endpoint."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return JsonResponse({"code": "not_found", "message": message, "errors": {}}, status=404)
