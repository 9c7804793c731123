"""Handing program runs to django-q2 workers.

Tasks carry run ids only; the run rows decide what happens (a worker advances a run only after
claiming it). A lost task loses nothing: the periodic pick-up hands due runs over again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

logger = logging.getLogger(__name__)

ADVANCE_FUNC = "events.programs.tasks.advance_runs"
# Runs are cheap bookkeeping that writes outbox rows; the messages then go to their stream's lane.
LANE = "transactional"
_brokers: dict[str, Broker] = {}


def _broker() -> Broker:
    if LANE not in _brokers:
        _brokers[LANE] = get_broker(LANE)
    return _brokers[LANE]


def hand_over(run_ids: Iterable[int], now: datetime | None = None) -> None:
    """Give due runs to the workers now, a task per chunk. Never raises.

    `now` is only honoured when tasks run inline (tests moving the clock); a worker reads its
    own clock.
    """
    ids = list(run_ids)
    size = settings.PROGRAM_RUNS_PER_TASK
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        if settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE:
            from events.programs.tasks import advance_runs

            advance_runs(chunk, now=now)
            continue
        try:
            async_task(ADVANCE_FUNC, chunk, cluster=LANE, broker=_broker())
        except Exception:
            logger.exception(
                "Could not hand %d program runs to the workers; the periodic pick-up will",
                len(chunk),
            )
            _brokers.pop(LANE, None)


def hand_over_on_commit(run_ids: Iterable[int], now: datetime | None = None) -> None:
    """Hand over once the surrounding transaction has committed (never rolled-back runs)."""
    ids = list(run_ids)
    if ids:
        transaction.on_commit(lambda: hand_over(ids, now))
