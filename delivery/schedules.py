"""The periodic work django-q2 runs for delivery."""

from typing import Any

SWEEP_FUNC = "delivery.tasks.sweep"


def ensure_schedules(**kwargs: Any) -> None:
    """Create the sweep schedule once (idempotent; runs after every migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="delivery-sweep",
        defaults={
            "func": SWEEP_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            # Only the transactional lane's cluster runs it, so it runs once per minute in all.
            "cluster": "transactional",
        },
    )
