"""One spelling per API URL: `/api/v2/contact/` and `/api//v2/contact` are `/api/v2/contact`.

Emarsys SDKs call their paths with a trailing slash (`api/v2/contact/`), and nginx merges
repeated slashes by default, so an integration moved here must reach the same view whichever
way it spells the URL. The path is rewritten before URL resolution instead of answered with a
redirect: a client that follows a 301 re-sends a POST as a GET, and the call would be lost.
Only `/api/v2/…` is touched; `/api/schema/` and `/api/docs/` keep their own slashes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_SLASHES = re.compile(r"/{2,}")
PREFIX = "/api/v2"


def canonical_api_path(path: str) -> str | None:
    """The path as the API's URLs spell it, or None when it is not an `/api/v2` path."""
    merged = _SLASHES.sub("/", path)
    if merged != PREFIX and not merged.startswith(PREFIX + "/"):
        return None
    return merged.rstrip("/") or "/"


class ApiPathMiddleware:
    """Rewrites `/api/v2/…` paths to their one spelling before the URL is resolved."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        canonical = canonical_api_path(request.path_info)
        if canonical is not None and canonical != request.path_info:
            # path_info is what the URL resolver reads; path (with any script prefix) is what
            # the views report and the idempotency fingerprint hashes: both get the one spelling.
            script = request.path[: len(request.path) - len(request.path_info)]
            request.path_info = canonical
            request.path = script + canonical
        return self.get_response(request)
