"""The Emarsys response envelope: {"replyCode": int, "replyText": str, "data": ...}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from events.reply_codes import ReplyCode, ReplyError

logger = logging.getLogger(__name__)


def envelope(code: int, text: str, data: Any = "") -> dict[str, Any]:
    return {"replyCode": int(code), "replyText": text, "data": data}


def ok(data: Any = "", status: int = 200) -> Response:
    return Response(envelope(ReplyCode.OK, "OK", data), status=status)


def refusal(error: ReplyError) -> Response:
    return Response(envelope(error.code, error.text, error.data), status=error.http_status)


def _auth_text(exc: exceptions.APIException) -> str:
    detail = str(exc.detail)
    return (
        f"{detail} Send an X-WSSE UsernameToken header or 'Authorization: Token <token>' "
        "(python manage.py create_api_user NAME creates a credential)."
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every error of the API in the envelope, with a reply code; never an HTML page."""
    if isinstance(exc, ReplyError):
        return refusal(exc)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(envelope(ReplyCode.UNAUTHORIZED, _auth_text(exc)), status=401)
        response["WWW-Authenticate"] = 'WSSE profile="UsernameToken"'
        return response
    if isinstance(exc, exceptions.Throttled):
        wait = f" Retry in {int(exc.wait) + 1} s." if exc.wait else ""
        response = Response(
            envelope(ReplyCode.RATE_LIMITED, "Too many requests for this credential." + wait),
            status=429,
        )
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait) + 1)
        return response
    if isinstance(exc, exceptions.ParseError):
        return Response(
            envelope(ReplyCode.INVALID_DATA_JSON, f"The request body is not valid JSON: {exc}"),
            status=400,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            envelope(ReplyCode.REQUEST_TOO_LARGE, "The request body is larger than allowed."),
            status=413,
        )
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(
            envelope(
                ReplyCode.UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with 'Content-Type: application/json'.",
            ),
            status=415,
        )
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(envelope(ReplyCode.METHOD_NOT_ALLOWED, str(exc.detail)), status=405)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(envelope(ReplyCode.NOT_FOUND, "Not found."), status=404)
    if isinstance(exc, exceptions.PermissionDenied):
        return Response(envelope(ReplyCode.UNAUTHORIZED, str(exc.detail)), status=403)
    if isinstance(exc, exceptions.APIException):
        return Response(envelope(ReplyCode.INVALID_FIELD, str(exc.detail)), status=exc.status_code)
    # A bug: answered in the envelope (clients parse JSON), logged with its traceback for us.
    # The view's work ran in a transaction (ApiView.atomic), so nothing of it is left behind.
    request = context.get("request")
    where = f"{request.method} {request.path}" if request is not None else "an API call"
    logger.error("Unexpected error answering %s", where, exc_info=exc)
    return Response(
        envelope(
            ReplyCode.INTERNAL_ERROR,
            "Internal error: the call was not completed. Retry later; if it persists, report "
            "the time of the call to the operator (the error is logged).",
        ),
        status=500,
    )
