"""What every view of the trigger API shares: body limits, JSON parsing, idempotency."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events.api.envelope import ok
from events.json_bodies import (
    BodyFramingError,
    JsonBodyError,
    declared_length,
    load_json,
    unstorable_character,
)
from events.models import IdempotentRequest
from events.reply_codes import ReplyCode, ReplyError

_CONTROL = re.compile("[\x00-\x1f\x7f]")
JSON_TYPES = ("application/json",)


def is_json_type(content_type: str) -> bool:
    """application/json, with or without parameters, or a +json type (application/ld+json)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


class ApiView(APIView):
    """Thin base: parse and check input here, call one service function, shape the output."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and throttling first
        try:
            length = declared_length(request.META)
        except BodyFramingError as exc:
            code = ReplyCode.LENGTH_REQUIRED if exc.http_status == 411 else ReplyCode.INVALID_FIELD
            raise ReplyError(code, exc.text, http_status=exc.http_status) from exc
        limit = settings.API_MAX_REQUEST_BYTES
        if length is not None and length > limit:
            raise ReplyError(
                ReplyCode.REQUEST_TOO_LARGE,
                f"The request body is {length} bytes; the limit is {limit} bytes. "
                "Split the batch into smaller requests.",
                http_status=413,
            )

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # DRF's default describes the view in its own shape; clients of this API read envelopes.
        response = ok({"methods": self.allowed_methods})
        response["Allow"] = ", ".join(self.allowed_methods)
        return response

    def json_object(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object, with errors that say what is wrong.

        NaN/Infinity may remain inside it: callers check what they store (`non_finite_path`),
        per entry in batches.
        """
        try:
            raw = request.body
        except RequestDataTooBig as exc:
            raise ReplyError(
                ReplyCode.REQUEST_TOO_LARGE,
                f"The request body is larger than {settings.API_MAX_REQUEST_BYTES} bytes.",
                http_status=413,
            ) from exc
        if not raw.strip():
            raise ReplyError(
                ReplyCode.INVALID_DATA_JSON,
                "The request body is empty: send JSON with 'Content-Type: application/json'.",
            )
        content_type = request.META.get("CONTENT_TYPE", "")
        if not is_json_type(content_type):
            raise ReplyError(
                ReplyCode.UNSUPPORTED_MEDIA_TYPE,
                f"The body is sent as {content_type[:100] or 'no Content-Type'!r}: send JSON "
                "with 'Content-Type: application/json'.",
                http_status=415,
            )
        try:
            body = load_json(raw)
        except JsonBodyError as exc:
            raise ReplyError(ReplyCode.INVALID_DATA_JSON, f"The request body is {exc}") from exc
        if not isinstance(body, dict):
            raise ReplyError(
                ReplyCode.DATA_NOT_OBJECT,
                f"The request body must be a JSON object, not {type(body).__name__}.",
            )
        unstorable = unstorable_character(raw, body)
        if unstorable:
            raise ReplyError(
                ReplyCode.INVALID_FIELD,
                f"The request contains {unstorable}, which cannot be stored: "
                "remove it from the data.",
            )
        return body

    def idempotent(self, request: Request, handle: Callable[[], Response]) -> Response:
        """Run `handle` once per Idempotency-Key; a retried request gets the first response."""
        key = request.META.get("HTTP_IDEMPOTENCY_KEY", "").strip()
        if not key:
            return self.atomic(handle)
        if len(key) > 255:
            raise ReplyError(
                ReplyCode.INVALID_FIELD, "Idempotency-Key is longer than 255 characters."
            )
        if _CONTROL.search(key):
            raise ReplyError(
                ReplyCode.INVALID_FIELD,
                "Idempotency-Key has control characters: use letters, digits and dashes.",
            )
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request.body
        ).hexdigest()
        try:
            # Committed on its own before the work starts: a concurrent retry finds it and waits
            # for the answer instead of sending a second time.
            with transaction.atomic():
                record = IdempotentRequest.objects.create(
                    credential=request.auth,
                    key=key,
                    request_hash=fingerprint,
                    status_code=0,
                    response={},
                )
        except IntegrityError:
            return self._replay(request, key, fingerprint)
        try:
            response = self.atomic(handle)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500:
            record.delete()
        else:
            record.status_code = response.status_code
            record.response = response.data
            record.save(update_fields=["status_code", "response"])
        return response

    @staticmethod
    def atomic(handle: Callable[[], Response]) -> Response:
        """Run `handle` in one transaction: a refusal or a crash half-way leaves no rows."""
        with transaction.atomic():
            return handle()

    def _replay(self, request: Request, key: str, fingerprint: str) -> Response:
        record = IdempotentRequest.objects.get(credential=request.auth, key=key)
        if record.request_hash != fingerprint:
            raise ReplyError(
                ReplyCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was used for a different request; use a new key for a "
                "new request.",
                http_status=422,
            )
        if record.status_code == 0:
            raise ReplyError(
                ReplyCode.IDEMPOTENCY_KEY_IN_PROGRESS,
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                http_status=409,
            )
        response = Response(record.response, status=record.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
