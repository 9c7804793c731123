"""`POST /hooks/<slug>/`: third-party webhooks. A plain Django view: the signature covers the raw
body, so nothing may parse or re-encode it first, and the sender has no CSRF token."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from events.integrations.receiving import receive_call
from events.json_bodies import BodyFramingError, declared_length


def _refused(status: int, outcome: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"outcome": outcome, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt
def receive_hook(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "POST":
        return _refused(
            405,
            "method_not_allowed",
            f"{request.method} is not accepted here: senders POST their webhook calls.",
            Allow="POST",
        )
    limit = settings.INTEGRATION_MAX_BODY_BYTES
    try:
        size = declared_length(request.META) or 0
    except BodyFramingError as exc:
        outcome = "length_required" if exc.http_status == 411 else "invalid_body"
        return _refused(exc.http_status, outcome, exc.text)
    body = b""
    # A body declared too large is refused without reading it into memory.
    if size <= limit:
        try:
            body = request.body
        except RequestDataTooBig:
            size = limit + 1
    answer = receive_call(slug, request.headers, body, size=max(size, len(body)))
    if answer is None:
        return _refused(404, "not_found", "No integration at this URL: check the slug.")
    return JsonResponse(answer.body(), status=answer.http_status)


def unknown_hook(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything under /hooks/ that is not /hooks/<slug>/ (slugs are ASCII letters, digits, -, _)."""
    return _refused(
        404,
        "not_found",
        "No integration at this URL: hook URLs look like /hooks/<slug>/ (with the trailing "
        "slash), where <slug> is the integration's slug (letters, digits, - and _).",
    )
