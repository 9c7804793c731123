"""The periodic DNS check of every sender domain (django-q2)."""

from typing import Any

from django.conf import settings

CHECK_FUNC = "senders.dns_checks.check_all"


def ensure_schedules(**kwargs: Any) -> None:
    """Create or update the schedule (idempotent; runs after every migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="sender-dns-checks",
        defaults={
            "func": CHECK_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.TRIGGERED_EMAIL_DNS_CHECK_EVERY_MINUTES,
            "repeats": -1,
            # The transactional lane is never held up for long by a broadcast, so a vanished DKIM
            # record is noticed on time; a lookup is bounded (senders.dns_lookup.LIFETIME).
            "cluster": "transactional",
        },
    )
