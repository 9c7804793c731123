"""Handing program runs to django-q2 workers.

Tasks carry run ids only; the run rows decide what happens (a worker advances a run only after
claiming it). A lost task loses nothing: the periodic pick-up hands due runs over again.

Imports go one way, tasks → runs → queue: this module imports nothing of the programs. So
advancing runs in the process instead of handing them over (TRIGGERED_EMAIL_RUN_TASKS_INLINE,
the tests) is `runs.hand_over`'s business, next to the code it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
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


def enqueue(run_ids: Iterable[int]) -> None:
    """Give due runs to the workers now, a task per chunk. Never raises."""
    ids = list(run_ids)
    size = settings.PROGRAM_RUNS_PER_TASK
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        try:
            async_task(ADVANCE_FUNC, chunk, cluster=LANE, broker=_broker())
        except Exception:
            logger.exception(
                "Could not hand %d program runs to the workers; the periodic pick-up will",
                len(chunk),
            )
            _brokers.pop(LANE, None)
