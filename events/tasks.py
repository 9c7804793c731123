"""Periodic housekeeping of the trigger API."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from events.credentials import purge_nonces
from events.models import IdempotentRequest


def purge() -> dict[str, int]:
    """Drop used WSSE nonces past the replay window and idempotency keys past their TTL."""
    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    keys, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return {"nonces": purge_nonces(), "idempotency_keys": keys}


def ensure_schedules(**kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="events-purge",
        defaults={
            "func": "events.tasks.purge",
            "schedule_type": Schedule.MINUTES,
            "minutes": 10,
            "repeats": -1,
            "cluster": "transactional",
        },
    )
