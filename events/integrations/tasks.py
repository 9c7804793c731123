"""Periodic housekeeping of integrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from events.integrations.models import IntegrationCall

PURGE_FUNC = "events.integrations.tasks.purge_calls"


def purge_calls() -> dict[str, int]:
    """The call log keeps INTEGRATION_CALL_LOG_DAYS days: anyone can post to a hook URL."""
    cutoff = timezone.now() - timedelta(days=settings.INTEGRATION_CALL_LOG_DAYS)
    deleted, _ = IntegrationCall.objects.filter(received_at__lt=cutoff).delete()
    return {"calls": deleted}


def ensure_schedules(**kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="events-integration-calls-purge",
        defaults={
            "func": PURGE_FUNC,
            "schedule_type": Schedule.HOURLY,
            "repeats": -1,
            "cluster": "transactional",
        },
    )
