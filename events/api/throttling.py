from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# Counts kept in this process while the shared cache (Redis) is unreachable: each web process
# then limits on its own, which lets through at most (processes x the limit), instead of
# answering every call with a 500 (issue 25: a Redis restart made 21 requests fail).
_local = LocMemCache("api-throttle-fallback", {})
_WARN_EVERY_SECONDS = 60.0
_warned_at = -_WARN_EVERY_SECONDS


class CredentialRateThrottle(SimpleRateThrottle):
    """API_RATE_LIMIT per credential (read per request, so it can be changed in tests)."""

    scope = "credential"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        credential = request.auth
        if credential is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": credential.pk}

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's own errors (redis.ConnectionError, …)
            _warn(exc)
        self.cache = _local
        return super().allow_request(request, view)


def _warn(exc: Exception) -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= _WARN_EVERY_SECONDS:
        _warned_at = now
        logger.warning(
            "The rate limiter's cache is unreachable (%s): limiting per process until it is back",
            exc,
        )
