"""Each lane's workers record that they are alive: the LaneHeartbeat row of their lane.

A thread in every worker process (started by django-q2's post_spawn, like the pacemaker) moves
the row's `seen_at` on every TRIGGERED_EMAIL_HEARTBEAT_SECONDS. A thread, not a schedule:
django-q2's scheduler looks every 30 s and a schedule "every minute" lands 60-90 s apart, so a
healthy lane would look silent to /readyz now and then. One UPDATE of one row per beat and
worker; the first beat of a lane that never beat inserts its row.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection
from django.utils import timezone

from delivery.models import LaneHeartbeat

logger = logging.getLogger(__name__)

_started = threading.Event()


def beat(lane: str, now: datetime | None = None) -> None:
    """Record that `lane` is alive now."""
    now = now or timezone.now()
    values = {"seen_at": now, "host": socket.gethostname()[:255], "pid": os.getpid()}
    if LaneHeartbeat.objects.filter(lane=lane).update(**values):
        return
    try:
        LaneHeartbeat.objects.create(lane=lane, **values)
    except IntegrityError:  # another worker of the lane inserted it first
        LaneHeartbeat.objects.filter(lane=lane).update(**values)


def last_seen() -> dict[str, datetime]:
    """When each lane last beat."""
    return dict(LaneHeartbeat.objects.values_list("lane", "seen_at"))


def silent_lanes(lanes: tuple[str, ...], now: datetime | None = None) -> dict[str, datetime | None]:
    """The lanes not seen within TRIGGERED_EMAIL_LANE_SILENT_SECONDS, with when they were."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.TRIGGERED_EMAIL_LANE_SILENT_SECONDS)
    seen = last_seen()
    return {lane: seen.get(lane) for lane in lanes if seen.get(lane) is None or seen[lane] < limit}


def start(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn (in each worker of each lane): start beating."""
    from django_q.conf import Conf

    every = settings.TRIGGERED_EMAIL_HEARTBEAT_SECONDS
    if every <= 0 or _started.is_set():
        return
    _started.set()
    lane = Conf.CLUSTER_NAME
    threading.Thread(target=_beat, args=(lane, every), name="lane-heartbeat", daemon=True).start()


def _beat(lane: str, every: float) -> None:
    while True:
        try:
            beat(lane)
        except Exception:  # the database is away: /readyz will say so; keep beating
            logger.warning("Could not record the %s lane's heartbeat", lane, exc_info=True)
            connection.close_if_unusable_or_obsolete()
        finally:
            close_old_connections()
        time.sleep(every)
