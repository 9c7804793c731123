"""`POST /hooks/<slug>/`: third-party webhooks. A plain Django view: the signature covers the raw
body, so nothing may parse or re-encode it first, and the sender has no CSRF token."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from events.integrations import receive_call


@csrf_exempt
@require_POST
def receive_hook(request: HttpRequest, slug: str) -> JsonResponse:
    limit = settings.INTEGRATION_MAX_BODY_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    size = int(length) if length.isdigit() else 0
    body = b""
    # A body declared too large is refused without reading it into memory.
    if size <= limit:
        try:
            body = request.body
        except RequestDataTooBig:
            size = limit + 1
    answer = receive_call(slug, request.headers, body, size=max(size, len(body)))
    if answer is None:
        return JsonResponse(
            {"outcome": "not_found", "detail": "No integration at this URL."}, status=404
        )
    return JsonResponse(answer.body(), status=answer.http_status)
