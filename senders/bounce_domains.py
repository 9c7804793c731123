"""Where a sender domain's bounces go: the return-path domain its DNS records point at the
bounce listener (`dns_records` prints its MX), so the signed VERP address uses it."""

from __future__ import annotations

import time

from django.conf import settings

_bounce_domains: dict[str, tuple[float, str]] = {}


def forget() -> None:
    """Drop what is cached (between tests; a change reaches the lanes within the refresh)."""
    _bounce_domains.clear()


def bounce_domain_of(sender_domain: str) -> str:
    """The SenderDomain's return-path domain (bounces.<domain> unless set), re-read at most every
    TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS; a domain that is no SenderDomain bounces to itself."""
    now = time.monotonic()
    cached = _bounce_domains.get(sender_domain)
    if cached is not None and cached[0] > now:
        return cached[1]
    from senders.models import SenderDomain

    domain = SenderDomain.objects.filter(name=sender_domain).first()
    found = domain.bounce_domain if domain is not None else sender_domain
    refresh = settings.TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS
    _bounce_domains[sender_domain] = (now + refresh, found)
    return found
