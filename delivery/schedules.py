"""The periodic work django-q2 runs for delivery."""

from typing import Any

SWEEP_FUNC = "delivery.tasks.sweep"
ROLLUP_FUNC = "delivery.rollups.refresh"
PURGE_FUNC = "delivery.retention.purge_expired"


def ensure_schedules(**kwargs: Any) -> None:
    """Create the periodic schedules once (idempotent; runs after every migrate)."""
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
    # The dashboard's hourly rollups follow new messages and events within a minute; on the bulk
    # lane, so this background work never takes a worker from a password reset.
    Schedule.objects.update_or_create(
        name="dashboard-rollups",
        defaults={
            "func": ROLLUP_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "cluster": "bulk",
        },
    )
    # Retention: each run purges for at most half the task timeout and the next goes on; on the
    # bulk lane, in small batches, so it never holds a lock a send waits for.
    Schedule.objects.update_or_create(
        name="retention-purge",
        defaults={
            "func": PURGE_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 10,
            "repeats": -1,
            "cluster": "bulk",
        },
    )
