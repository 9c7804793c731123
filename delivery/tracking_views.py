"""The open pixel and click redirects of our own tracking (SMTP path; see tracking_links).

A token that we did not sign, or that names a message that no longer exists, gets a 404 and
records nothing. HEAD requests (link scanners checking a URL) are answered but not recorded.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_safe

from delivery.models import Message
from delivery.tracking import first_open_recorded, record_click
from delivery.tracking_links import PIXEL_GIF, read_click_token, read_open_token


def _message(message_id: int | None) -> Message:
    message = (
        Message.objects.filter(pk=message_id).only("pk", "recipient", "stream_id").first()
        if message_id is not None
        else None
    )
    if message is None:
        raise Http404("unknown tracking link")
    return message


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:1000]


@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message = _message(read_open_token(token))
    if request.method == "GET":
        first_open_recorded(message, _user_agent(request))
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = "no-store, max-age=0"
    return response


@require_safe
def click(request: HttpRequest, token: str) -> HttpResponse:
    found = read_click_token(token)
    if found is None:
        raise Http404("unknown tracking link")
    message_id, url = found
    message = _message(message_id)
    if request.method == "GET":
        record_click(message, url, _user_agent(request))
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store, max-age=0"
    response["Referrer-Policy"] = "no-referrer"
    return response
