from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


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
