"""Retention: each stream keeps its messages `retention_days` days, then they go.

What goes: finished messages (sent, failed, discarded, skipped) received before the stream's
cutoff, with their delivery events and stored attachment files. What stays: suppressions (their
`source_message` becomes empty), triggers, and the dashboard's rollups, which keep every count.

The cutoff is a whole hour (UTC). Before the first row of an hour goes, the stream's
`purged_before` moves past it: from then on the rollup refresh treats those hours as final and
never recomputes them from the rows that are left (which would zero them). The rollups are
refreshed first, so every change to those messages up to now is counted.

Deletes run in small batches, each its own short transaction on a list of primary keys
(`LIMIT` on the ids, then `DELETE … WHERE id IN (…)`), with a pause between batches: no lock is
held for long and the lanes keep the database. Files are removed after their rows' transaction
commits (no I/O inside it); a file that cannot be removed is logged, its row is gone anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from delivery import rollups
from delivery.lane_priority import KEY, SENDING_KEY, give_way
from delivery.models import DeliveryEvent, Message, MessageAttachment

logger = logging.getLogger(__name__)

FINISHED = (
    Message.Status.SENT,
    Message.Status.FAILED,
    Message.Status.DISCARDED,
    Message.Status.SKIPPED,
)


@dataclass
class StreamPurge:
    stream_id: int
    stream: str
    retention_days: int
    cutoff: datetime
    messages: int = 0
    events: int = 0
    attachments: int = 0


@dataclass
class PurgeReport:
    streams: list[StreamPurge] = field(default_factory=list)
    # False when the time limit stopped it before everything expired was gone.
    finished: bool = True

    @property
    def messages(self) -> int:
        return sum(stream.messages for stream in self.streams)


def cutoff_for(retention_days: int, now: datetime) -> datetime:
    """Messages received before this hour are expired."""
    return rollups.hour_of(now - timedelta(days=retention_days))


def _expired(stream_id: int, cutoff: datetime):
    # message_stream_received_idx (stream, received_at) serves it.
    return Message.objects.filter(
        stream_id=stream_id, received_at__lt=cutoff, status__in=FINISHED
    ).order_by()


def _streams(now: datetime) -> list[StreamPurge]:
    from streams.models import MailStream

    return [
        StreamPurge(stream_id, name, days, cutoff_for(days, now))
        for stream_id, name, days in MailStream.objects.order_by("pk").values_list(
            "pk", "name", "retention_days"
        )
    ]


def preview(now: datetime | None = None) -> PurgeReport:
    """What a purge would delete now (counts only; deletes nothing)."""
    report = PurgeReport(_streams(now or timezone.now()))
    for stream in report.streams:
        expired = _expired(stream.stream_id, stream.cutoff)
        stream.messages = expired.count()
        stream.events = DeliveryEvent.objects.filter(message__in=expired).count()
        stream.attachments = MessageAttachment.objects.filter(message__in=expired).count()
    return report


def _freeze_rollups(stream_id: int, cutoff: datetime) -> None:
    from streams.models import MailStream

    # Conditional: purged_before only ever moves forward (a shorter retention later is fine, a
    # longer one cannot bring deleted rows back).
    MailStream.objects.filter(pk=stream_id).exclude(purged_before__gte=cutoff).update(
        purged_before=cutoff
    )


def _delete_batch(stream: StreamPurge, size: int) -> int:
    with transaction.atomic():
        ids = list(_expired(stream.stream_id, stream.cutoff).values_list("pk", flat=True)[:size])
        if not ids:
            return 0
        files = list(
            MessageAttachment.objects.filter(message_id__in=ids).values_list("file", flat=True)
        )
        # Events and attachment rows go with their messages (CASCADE, deleted by message id
        # through event_message_time_idx and the attachment's message index).
        _, deleted = Message.objects.filter(pk__in=ids).delete()
    stream.messages += len(ids)
    stream.events += deleted.get(DeliveryEvent._meta.label, 0)
    stream.attachments += len(files)
    for name in files:
        try:
            default_storage.delete(name)
        except Exception:
            logger.warning("Could not remove the purged attachment file %s", name, exc_info=True)
    return len(ids)


def purge(
    *,
    now: datetime | None = None,
    batch: int | None = None,
    pause: float | None = None,
    seconds: float | None = None,
    progress: Callable[[StreamPurge], None] | None = None,
) -> PurgeReport:
    """Delete what has expired, batch by batch; stop after `seconds` (None: when done)."""
    now = now or timezone.now()
    batch = batch or settings.TRIGGERED_EMAIL_PURGE_BATCH
    pause = settings.TRIGGERED_EMAIL_PURGE_PAUSE_SECONDS if pause is None else pause
    deadline = None if seconds is None else time.monotonic() + seconds
    # Count everything that happened to the expiring messages before they go.
    rollups.refresh()
    report = PurgeReport(_streams(now))
    for stream in report.streams:
        if not _expired(stream.stream_id, stream.cutoff).exists():
            continue
        _freeze_rollups(stream.stream_id, stream.cutoff)
        while _delete_batch(stream, batch) == batch:
            if progress:
                progress(stream)
            if deadline is not None and time.monotonic() >= deadline:
                report.finished = False
                break
            if pause:
                time.sleep(pause)
            # Each batch is a burst of deletes at normal priority in the database. Time-critical
            # mail goes first: the purge waits while triggers arrive or the transactional lane
            # sends (bounded per batch, lane_priority). The trigger mark alone lapses between
            # two triggers 50 ms apart, which let a batch start under a steady 20 a second
            # and raised their p99 1.8-fold (docs/monitoring.md, "Purge under load").
            give_way(keys=(KEY, SENDING_KEY))
        if not report.finished:
            break
    if report.messages:
        logger.info(
            "Retention: %d messages purged%s",
            report.messages,
            "" if report.finished else " (time is up; the next run goes on)",
        )
    return report


def purge_expired() -> dict[str, int]:
    """The periodic task (bulk lane): purge within half the task timeout, the rest next time."""
    report = purge(seconds=settings.Q_TASK_TIMEOUT / 2)
    return {"messages": report.messages, "finished": int(report.finished)}
