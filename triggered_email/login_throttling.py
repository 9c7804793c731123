"""Admin login throttling with django-axes: who the client is, and what a locked-out user sees.

Axes counts failed admin logins in the database (shared by every web host) per username and per
client address; settings.py holds the limits (ADMIN_LOGIN_FAILURE_LIMIT,
ADMIN_LOGIN_COOLOFF_MINUTES) and TRUSTED_PROXY_COUNT.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone


class LoginThrottlingBackend(AxesStandaloneBackend):
    """Axes' lock check, for logins that come over HTTP.

    A login without a request (the test client's `login()`, `authenticate()` in a shell) has no
    client address and cannot be brute-forced from outside: axes would refuse it with an error,
    so it is left to the next backend instead.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the
    outermost trusted proxy saw, counted from the right of X-Forwarded-For.

    Entries left of that are whatever the client sent and are never trusted: a client choosing
    its own address would escape the per-address lock.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [
        part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if len(forwarded) < proxies:
        # The request did not pass through all the proxies (or one did not append): the nearest
        # hop is the only address known to be real.
        return remote
    return _valid_ip(forwarded[-proxies]) or remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The admin's login page saying the login is locked, why, and when to try again (429)."""
    cool_off = get_cool_off(request)
    retry_at = timezone.now() + cool_off if cool_off else None
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
        "retry_at": retry_at,
    }
    response = TemplateResponse(
        request, "admin/login_throttling/locked_out.html", context, status=429
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response.render()
