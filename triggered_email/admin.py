"""Admin pages of the project's own pieces that come from libraries."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone


class LoginAttemptAdmin(AccessAttemptAdmin):
    """django-axes' login attempts, with its "Clean up expired attempts" action working.

    axes 8.3.1 measures "expired" from `request.axes_attempt_time`, which only its login
    handling sets: from the admin the action raised AttributeError (a 500). The admin's
    request is given the time of the click.
    """

    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: Any) -> None:
        request.axes_attempt_time = timezone.now()  # type: ignore[attr-defined]
        super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, LoginAttemptAdmin)


# The product's name instead of "Django administration". No "View site": the site is the API;
# the page for people is the dashboard, linked from every admin header (admin/base_site.html).
admin.site.site_header = "Triggered Email"
admin.site.site_title = "Triggered Email"
admin.site.index_title = "Streams, messages and contacts"
admin.site.site_url = None
