"""The webhook lane: its own django-q2 cluster (`Q_CLUSTER_NAME=webhooks python manage.py
qcluster`), so an endpoint that is slow or never answers holds only these workers.

A thread in each of the lane's worker processes beats every WEBHOOKS_BEAT_SECONDS: it turns new
delivery events into deliveries (status_webhooks.dispatching), puts back deliveries whose worker
died mid-attempt, and hands due deliveries to the lane's workers, one task per delivery, at most
WEBHOOKS_IN_FLIGHT at a time. The rows are the truth: a task lost with the broker is handed over
again after a while, and a task run twice claims nothing the second time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from delivery.lane_priority import KEY, SENDING_KEY, give_way
from status_webhooks.dispatching import dispatch
from status_webhooks.models import WebhookDelivery
from triggered_email.process_priority import run_in_background

logger = logging.getLogger(__name__)

LANE = "webhooks"
DELIVER_FUNC = "status_webhooks.sending.deliver"
Status = WebhookDelivery.Status
_started = threading.Event()


def handed_again_after() -> timedelta:
    # Longer than a task can wait in the queue behind a full lane of endpoints that time out.
    return timedelta(
        seconds=settings.Q_WEBHOOK_TASK_TIMEOUT + 4 * settings.WEBHOOKS_TIMEOUT_SECONDS
    )


def recover_dead_attempts(now: datetime) -> int:
    """sending → pending for deliveries whose worker's lease ran out (it died mid-attempt)."""
    return WebhookDelivery.objects.filter(status=Status.SENDING, lease_until__lt=now).update(
        status=Status.PENDING, lease_until=None, handed_at=None, next_attempt_at=now
    )


def due_for_handover(now: datetime) -> list[int]:
    """Mark due deliveries handed over (up to the in-flight limit) and return their ids."""
    stale = now - handed_again_after()
    with transaction.atomic():
        in_flight = (
            WebhookDelivery.objects.filter(status=Status.PENDING, handed_at__gte=stale).count()
            + WebhookDelivery.objects.filter(status=Status.SENDING).count()
        )
        room = settings.WEBHOOKS_IN_FLIGHT - in_flight
        if room <= 0:
            return []
        # Rows another beat is handing over are skipped (PostgreSQL; Django's SQLite backend
        # leaves FOR UPDATE out: one writer at a time there).
        due = (
            WebhookDelivery.objects.filter(
                status=Status.PENDING, next_attempt_at__lte=now, subscription__enabled=True
            )
            .exclude(handed_at__gte=stale)
            .select_for_update(skip_locked=True, of=("self",))
        )
        ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:room])
        WebhookDelivery.objects.filter(pk__in=ids).update(handed_at=now)
    return ids


def hand_over(ids: list[int]) -> None:
    from django_q.tasks import async_task

    from status_webhooks.sending import deliver

    for pk in ids:
        if settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE:
            deliver(pk)
        else:
            async_task(DELIVER_FUNC, pk, cluster=LANE)


def beat(now: datetime | None = None) -> dict[str, int]:
    """One beat of the lane: dispatch, recover, hand over. Also the command `webhook_beat`."""
    # Turning events into deliveries writes rows at normal priority in the database: arriving
    # and outgoing time-critical mail goes first, for at most WEBHOOKS_YIELD_MAX_SECONDS
    # (delivery.lane_priority), so webhooks lag during a burst but never stop.
    give_way(settings.WEBHOOKS_YIELD_MAX_SECONDS, keys=(KEY, SENDING_KEY))
    now = now or timezone.now()
    created = dispatch(now)
    recovered = recover_dead_attempts(now)
    ids = due_for_handover(now)
    hand_over(ids)
    return {"created": created, "recovered": recovered, "handed_over": len(ids)}


def start(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn (in each worker): on the webhook lane, lower the priority (its
    work never takes CPU the send lanes need) and start the beat."""
    from django_q.conf import Conf

    if Conf.CLUSTER_NAME != LANE or _started.is_set():
        return
    _started.set()
    run_in_background(sched_idle=settings.Q_WEBHOOK_SCHED_IDLE, nice=settings.Q_WEBHOOK_NICE)
    threading.Thread(
        target=_beat_forever,
        args=(settings.WEBHOOKS_BEAT_SECONDS,),
        name="webhook-beat",
        daemon=True,
    ).start()


def _beat_forever(every: float) -> None:
    while True:
        time.sleep(every)
        try:
            beat()
        except Exception:  # the next beat tries again; the lane must not lose its thread
            logger.exception("The webhook beat failed; trying again in %g s", every)
            connection.close_if_unusable_or_obsolete()
        finally:
            close_old_connections()
