"""The bulk lane gives way to time-critical mail.

The bulk lane's own processes run only on CPU time nothing else wants (SCHED_IDLE), but the work
they cause elsewhere does not: the database statements that claim and record each chunk and the MTA
receiving each message run at normal priority, on the same cores as a password reset's request, task
and statements (docs/performance.md, *What limits each figure now*: isolation). So a trigger of a
transactional stream sets a short-lived mark in Redis, and a bulk worker holds back before each step
that would cause such work (claiming a chunk, sending the next few messages, recording the outcome)
while the mark lives: TRIGGERED_EMAIL_BULK_YIELD_MS after the last time-critical trigger. While it
finds the mark, a bulk task also keeps those steps small: it claims and records CHECK_EVERY messages
at a time instead of its whole chunk (delivery.tasks.send_messages).

The wait is bounded (TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS per step), so a steady stream of
time-critical mail slows a broadcast but never stops it. The mark lives in the Redis the lanes
use as their broker (REDIS_URL), which every web and lane process shares, and Redis expires it,
so no two hosts' clocks are compared. Without REDIS_URL (the ORM broker on a laptop) nothing is
marked and nothing waits.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY = "triggered_email:lanes:time-critical"
# Set by the transactional lane while it sends (for SENDING_MARK_MS after each step). Only the
# status webhook lane waits for it: turning delivery events into webhook deliveries writes rows
# at normal priority in the database, which a burst of sending needs (docs/webhooks.md).
SENDING_KEY = "triggered_email:lanes:sending"
SENDING_MARK_MS = 1000
_sleep = time.sleep
# How often a bulk worker sending a chunk looks again: before every this many messages; also
# how many it claims at a time while time-critical mail arrives.
CHECK_EVERY = 10


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Short timeouts: the mark is worth less than the trigger or the chunk that sets or reads it.
    return redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)


def _redis() -> redis.Redis | None:
    if not settings.REDIS_URL or not settings.TRIGGERED_EMAIL_BULK_YIELD_MS:
        return None
    return _client(settings.REDIS_URL)


def note_time_critical_work() -> None:
    """Time-critical mail is on its way: the bulk lane holds back for the yield window.

    Never raises: Redis being away must not fail a trigger.
    """
    client = _redis()
    if client is None:
        return
    try:
        client.set(KEY, b"1", px=settings.TRIGGERED_EMAIL_BULK_YIELD_MS)
    except redis.RedisError:  # costs isolation, not mail
        logger.debug("Could not mark time-critical work", exc_info=True)


_sending_marked_at = -SENDING_MARK_MS / 1000


def note_sending() -> None:
    """The transactional lane is sending: background work that writes to the database waits.

    A process renews the mark at most every half of its life (one Redis write per half second
    however many tasks it runs). Never raises.
    """
    global _sending_marked_at
    now = time.monotonic()
    if now - _sending_marked_at < SENDING_MARK_MS / 2000:
        return
    client = _redis()
    if client is None:
        return
    try:
        client.set(SENDING_KEY, b"1", px=SENDING_MARK_MS)
    except redis.RedisError:  # costs isolation, not mail
        logger.debug("Could not mark sending", exc_info=True)
        return
    _sending_marked_at = now


def give_way(bound: float | None = None, *, keys: tuple[str, ...] = (KEY,)) -> float:
    """Wait while one of the marks `keys` lives, for at most `bound` seconds (default
    TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS); returns seconds waited.

    Never raises.
    """
    client = _redis()
    if client is None:
        return 0.0
    if bound is None:
        bound = settings.TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS
    waited = 0.0
    while waited < bound:
        try:
            remaining_ms = max(client.pttl(key) for key in keys)
        except redis.RedisError:
            logger.debug("Could not read the time-critical mark", exc_info=True)
            break
        if remaining_ms <= 0:  # -2: no mark; -1 cannot happen (always set with an expiry)
            break
        pause = min(remaining_ms / 1000, bound - waited)
        _sleep(pause)
        waited += pause
    return waited


def paced(index: int) -> None:
    """For the bulk lane's send loop: give way before every CHECK_EVERY-th message."""
    if index and index % CHECK_EVERY == 0:
        give_way()
