"""django-q2 tasks of automation programs. Idempotent: the run rows decide, claims serialise."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from events.programs.runs import (
    advance_run,
    due_run_ids,
    hand_over,
    recover_stalled_runs,
    start_queued_runs,
)

logger = logging.getLogger(__name__)

PICKUP_FUNC = "events.programs.tasks.advance_due_runs"


def advance_runs(run_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Advance each run this worker can claim (others are not due or belong to another)."""
    advanced = 0
    for run_id in run_ids:
        if advance_run(run_id, now=now) is not None:
            advanced += 1
    return {"advanced": advanced, "handed": len(run_ids)}


def advance_due_runs(now: datetime | None = None) -> dict[str, int]:
    """Periodic: recover runs of dead workers, start entries of resumed programs, and hand
    every run whose wait has ended to the workers."""
    now = now or timezone.now()
    recovered = recover_stalled_runs(now)
    started = start_queued_runs(now)
    due = due_run_ids(now, settings.PROGRAM_PICKUP_LIMIT)
    hand_over(due, now)
    if recovered["revived"] or recovered["gave_up"] or started or due:
        logger.info(
            "Programs: %d runs revived from dead workers, %d failed, %d queued entries started, "
            "%d due runs handed over",
            recovered["revived"],
            recovered["gave_up"],
            started,
            len(due),
        )
    return {**recovered, "started": started, "handed": len(due)}


def ensure_schedules(**kwargs: Any) -> None:
    """The pick-up runs every minute (django-q2's scheduler granularity) on the transactional
    lane. Waits therefore end up to a minute late; steps that follow one another without a
    wait run at once."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="events-program-runs",
        defaults={
            "func": PICKUP_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "cluster": "transactional",
        },
    )
