"""The sweep every few seconds, from inside the transactional lane.

django-q2's scheduler looks at its schedules every 30 s, so a schedule "every minute" ran the
sweep 60-90 s apart: every retry backoff under a minute became a minute or more, and a lost
task waited for it too (issue 25). A thread in each transactional worker process runs the sweep
every TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS instead; with the Redis broker the workers of all the
transactional lanes take turns (one sweep per interval in all), with the ORM broker (a laptop)
each sweeps. A thread in the worker, not in the process that forks workers: a fork copies only
the forking thread, and a thread caught holding a lock there would leave it held in the child.
The once-a-minute schedule stays as a fallback.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from triggered_email.log_format import delivery_context

logger = logging.getLogger(__name__)

_started = threading.Event()


def start(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn (in each worker): start the beat on the transactional lane."""
    from django_q.conf import Conf

    every = settings.TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS
    if Conf.CLUSTER_NAME != "transactional" or every <= 0 or _started.is_set():
        return
    _started.set()
    threading.Thread(target=_beat, args=(every,), name="sweep-pacemaker", daemon=True).start()


def _beat(every: float) -> None:
    from delivery.tasks import sweep

    while True:
        time.sleep(every)
        try:
            if _my_turn(every):
                with delivery_context(lane="transactional"):
                    sweep()
        except Exception:  # the next beat tries again; the lane must not lose its thread
            logger.exception("The sweep failed; trying again in %g s", every)
            connection.close_if_unusable_or_obsolete()
        finally:
            close_old_connections()


def _my_turn(every: float) -> bool:
    """With the Redis broker: one sweep per interval among all transactional workers."""
    from delivery import handover
    from delivery.queue import lane_broker

    broker = lane_broker("transactional")
    if not handover.supported(broker):
        return True
    key = f"{broker.list_key}:sweep-turn"
    try:
        return bool(broker.connection.set(key, b"1", nx=True, px=max(int(every * 900), 100)))
    except Exception:  # Redis is away: sweep anyway; the rows are the truth
        return True
