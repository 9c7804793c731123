"""Handing outbox rows to the django-q2 lanes.

Tasks carry message ids only, one task per chunk of messages. The rows are the truth: a task that
is lost (Redis restarted) or delivered twice changes nothing, because the sweep re-hands queued
rows to the broker and a worker only sends rows it claimed itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

from delivery import handover
from delivery.models import Message

logger = logging.getLogger(__name__)

SEND_FUNC = "delivery.tasks.send_messages"
SEND_WAITING_FUNC = "delivery.tasks.send_waiting"
LANES = ("transactional", "bulk")
_brokers: dict[str, Broker] = {}


def lane_broker(lane: str) -> Broker:
    # One broker (and connection) per lane and process instead of one per enqueue.
    if lane not in _brokers:
        _brokers[lane] = get_broker(lane)
    return _brokers[lane]


def forget_broker(lane: str) -> None:
    """Drop the lane's broker after a failure: the next use connects anew."""
    _brokers.pop(lane, None)


def chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def enqueue(ids_by_lane: Mapping[str, list[int]]) -> None:
    """Hand message ids to their lanes now, a task per chunk. Never raises.

    With the Redis broker a hand-over smaller than a chunk joins the lane's waiting messages
    and shares a task with them (delivery.handover). If the broker is unreachable the messages
    stay `queued` with no hand-over time, and the next sweep hands them over again.
    """
    size = settings.TRIGGERED_EMAIL_CHUNK_SIZE
    for lane, ids in ids_by_lane.items():
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}; expected one of {', '.join(LANES)}")
        for chunk in chunks(list(ids), size):
            if settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE:
                _run_here(SEND_FUNC, chunk)
                continue
            try:
                broker = lane_broker(lane)
                if len(chunk) < size and handover.supported(broker):
                    if handover.push(broker, chunk):
                        _queue_waiting_task(lane, broker)
                else:
                    async_task(SEND_FUNC, chunk, cluster=lane, broker=broker)
            except Exception:
                logger.exception(
                    "Could not hand %d messages to the %s lane; the sweep will retry",
                    len(chunk),
                    lane,
                )
                _brokers.pop(lane, None)
                Message.objects.filter(pk__in=chunk, status=Message.Status.QUEUED).update(
                    queued_at=None
                )


def _run_here(func: str, *args: object) -> None:
    """Run a task in this process instead of handing it to a lane (inline mode), found by its
    name as a worker finds it.

    By name and not by an import: delivery.tasks imports this module (a send task hands
    messages back to their lane, the sweep hands due ones over), and every hand-over to a lane
    names the task the same way (SEND_FUNC).
    """
    import_string(func)(*args)


def queue_waiting_task(lane: str) -> None:
    """Queue a task for the lane's waiting messages unless one is queued already."""
    broker = lane_broker(lane)
    if handover.flag(broker):
        _queue_waiting_task(lane, broker)


def _queue_waiting_task(lane: str, broker: Broker) -> None:
    try:
        async_task(SEND_WAITING_FUNC, lane, cluster=lane, broker=broker)
    except Exception:
        # Let the next hand-over queue one instead of waiting for the flag to expire.
        with contextlib.suppress(Exception):
            handover.unflag(broker)
        raise


def enqueue_on_commit(ids_by_lane: Mapping[str, list[int]]) -> None:
    """Enqueue once the surrounding transaction has committed (never for rolled-back rows)."""
    frozen = {lane: list(ids) for lane, ids in ids_by_lane.items() if ids}
    if frozen:
        transaction.on_commit(lambda: enqueue(frozen))
