"""Rollups of what became of each stream's messages, per hour and per day, kept current.

The dashboard reads these rows instead of aggregating millions of messages per page view. A
StreamHourStats row counts the messages *triggered* in its hour (by stream) by what happened to
them since: sent, delivered, bounced, opened, … so rates compare like with like, and a late event
(an open three days after the send) updates the hour its message was triggered in.
StreamDayStats rows are the same per day in TIME_ZONE, summed from the hours (after changing
TIME_ZONE, rebuild them with `refresh_stats`).

Each refresh recomputes whole hours from the messages, so it is idempotent and safe to run twice.
Which hours: those of messages written since the last refresh and of messages that got a
DeliveryEvent since then (every state change after the outbox write records one: send outcomes,
retries, webhooks, own tracking, sweeps, send-time suppressions), plus the current hour.
`python manage.py refresh_stats --days N` rebuilds any span from scratch.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models.functions import TruncMinute
from django.utils import timezone

from delivery import rollup_totals
from delivery.models import (
    DeliveryEvent,
    Message,
    RollupWatermark,
    StreamDayStats,
    StreamHourStats,
    StreamMinuteStats,
)
from delivery.rollup_watermarks import MINUTES_NAME, NAME

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
MINUTES_KEPT = timedelta(days=2)
# Rows committed a little after their timestamps (long transactions) are still seen next time.
OVERLAP = timedelta(minutes=5)
COUNTED = (
    "triggered",
    "sent",
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "bounced_block",
    "opened",
    "clicked",
    "complained",
    "failed",
    "skipped",
)
NOT_SENT = {Message.Status.SKIPPED, Message.Status.DISCARDED}


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def latency_bucket_ms(seconds: float) -> int:
    """Milliseconds kept to two significant digits (1234 ms → 1200 ms, 47.3 s → 47 s): exact
    enough for p50/p95 and a few dozen distinct values per hour to store."""
    ms = max(0, int(seconds * 1000 + 0.5))
    if ms < 100:
        return ms
    scale = 10 ** (len(str(ms)) - 2)
    return int(ms / scale + 0.5) * scale


def _new_row() -> dict[str, Any]:
    return {**dict.fromkeys(COUNTED, 0), "latency": Counter()}


def _count(row: dict[str, Any], fields: tuple) -> None:
    _, status, received_at, sent_at, delivered_at, bounce_kind, opened, clicked, complained = fields
    row["triggered"] += 1
    if sent_at is not None:
        row["sent"] += 1
        row["latency"][latency_bucket_ms((sent_at - received_at).total_seconds())] += 1
    if status == Message.Status.FAILED:
        row["failed"] += 1
    elif status in NOT_SENT:
        row["skipped"] += 1
    if delivered_at is not None:
        row["delivered"] += 1
    if bounce_kind:
        row[f"bounced_{bounce_kind}"] += 1
    if opened is not None:
        row["opened"] += 1
    if clicked is not None:
        row["clicked"] += 1
    if complained is not None:
        row["complained"] += 1


def purged_before(start: datetime) -> dict[int, datetime]:
    """Per stream, the hour before which its messages were purged (delivery.retention), for the
    streams whose purge reaches into [start, …): those hours are final."""
    from streams.models import MailStream

    return dict(
        MailStream.objects.filter(purged_before__gt=start)
        .order_by()
        .values_list("pk", "purged_before")
    )


def _tally(
    start: datetime, end: datetime, final: dict[int, datetime], slot
) -> dict[tuple[int, datetime], dict[str, Any]]:
    """Count the messages received in [start, end) per stream and `slot` (hour or minute)."""
    rows: dict[tuple[int, datetime], dict[str, Any]] = defaultdict(_new_row)
    messages = (
        Message.objects.filter(received_at__gte=start, received_at__lt=end, is_test=False)
        .order_by()
        .values_list(
            "stream_id",
            "status",
            "received_at",
            "sent_at",
            "delivered_at",
            "bounce_kind",
            "opened_at",
            "clicked_at",
            "complained_at",
        )
    )
    for fields in messages.iterator(chunk_size=20_000):
        if fields[0] in final and hour_of(fields[2]) < final[fields[0]]:
            continue  # a message the purge spared (still unfinished): its hour is final
        _count(rows[(fields[0], slot(fields[2]))], fields)
    return rows


def _merge(into: dict[str, Any], row: dict[str, Any]) -> None:
    for name in COUNTED:
        into[name] += row[name]
    into["latency"].update(row["latency"])


def _stats(model, slot_field: str, rows: dict, now: datetime) -> list:
    return [
        model(
            stream_id=stream_id,
            refreshed_at=now,
            latency_ms={str(ms): n for ms, n in sorted(row["latency"].items())},
            **{slot_field: slot},
            **{name: row[name] for name in COUNTED},
        )
        for (stream_id, slot), row in rows.items()
    ]


def _without_final(queryset, final: dict[int, datetime], slot_field: str):
    for stream_id, before in final.items():
        queryset = queryset.exclude(stream_id=stream_id, **{f"{slot_field}__lt": before})
    return queryset


def recompute(start: datetime, end: datetime) -> int:
    """Rebuild the rows of every hour in [start, end) from the messages; returns rows written.

    Hours whose messages were purged keep their rows: they are counted once and for all. Hours
    of the last two days get their minute rows rebuilt too (the incremental refresh sums them)."""
    start, end = hour_of(start), hour_of(end - timedelta(microseconds=1)) + HOUR
    final = purged_before(start)
    now = timezone.now()
    minutes_from = max(start, minutes_kept_from(now))
    minute_rows: dict = {}
    if minutes_from < end:
        minute_rows = _tally(start, end, final, minute_of)
        rows: dict[tuple[int, datetime], dict[str, Any]] = defaultdict(_new_row)
        for (stream_id, minute), row in minute_rows.items():
            _merge(rows[(stream_id, hour_of(minute))], row)
        minute_rows = {key: row for key, row in minute_rows.items() if key[1] >= minutes_from}
    else:
        rows = _tally(start, end, final, hour_of)
    stale = _without_final(
        StreamHourStats.objects.filter(hour__gte=start, hour__lt=end), final, "hour"
    )
    with transaction.atomic():
        stale.delete()
        StreamHourStats.objects.bulk_create(
            _stats(StreamHourStats, "hour", rows, now), batch_size=2000
        )
        if minutes_from < end:
            StreamMinuteStats.objects.filter(minute__gte=minutes_from, minute__lt=end).delete()
            StreamMinuteStats.objects.bulk_create(
                _stats(StreamMinuteStats, "minute", minute_rows, now), batch_size=2000
            )
        recompute_days(local_days(start, end))
    return len(rows)


def recompute_minutes(start: datetime, end: datetime, final: dict[int, datetime]) -> None:
    """Rebuild the minute rows of [start, end) (whole minutes) from the messages."""
    rows = _tally(start, end, final, minute_of)
    stale = StreamMinuteStats.objects.filter(minute__gte=start, minute__lt=end)
    stale.delete()
    StreamMinuteStats.objects.bulk_create(
        _stats(StreamMinuteStats, "minute", rows, timezone.now()), batch_size=2000
    )


def sum_hours(hours: set[datetime], final: dict[int, datetime]) -> int:
    """Rebuild the rows of `hours` as the sums of their minute rows; returns rows written."""
    rows: dict[tuple[int, datetime], dict[str, Any]] = defaultdict(_new_row)
    for start, end in _spans(hours, HOUR):
        minutes = StreamMinuteStats.objects.filter(minute__gte=start, minute__lt=end).order_by()
        for minute in minutes.values("stream_id", "minute", *COUNTED, "latency_ms"):
            row = {name: minute[name] for name in COUNTED}
            row["latency"] = Counter({int(ms): n for ms, n in minute["latency_ms"].items()})
            _merge(rows[(minute["stream_id"], hour_of(minute["minute"]))], row)
    rows = {
        key: row for key, row in rows.items() if not (key[0] in final and key[1] < final[key[0]])
    }
    for start, end in _spans(hours, HOUR):
        stale = StreamHourStats.objects.filter(hour__gte=start, hour__lt=end)
        _without_final(stale, final, "hour").delete()
    StreamHourStats.objects.bulk_create(
        _stats(StreamHourStats, "hour", rows, timezone.now()), batch_size=2000
    )
    return len(rows)


def local_days(start: datetime, end: datetime) -> list[date]:
    """The days (in TIME_ZONE) that [start, end) touches."""
    first = timezone.localtime(start).date()
    last = timezone.localtime(end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(day, time.min), zone),
        timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone),
    )


def recompute_days(days: list[date]) -> int:
    """Rebuild the daily rows of `days` from their hourly rows."""
    now = timezone.now()
    stats = []
    for day in days:
        starts_at, ends_at = day_bounds(day)
        per_stream: dict[int, dict[str, Any]] = defaultdict(_new_row)
        hours = StreamHourStats.objects.filter(hour__gte=starts_at, hour__lt=ends_at).order_by()
        for hour in hours.values("stream_id", *COUNTED, "latency_ms"):
            row = per_stream[hour["stream_id"]]
            for name in COUNTED:
                row[name] += hour[name]
            row["latency"].update({int(ms): n for ms, n in hour["latency_ms"].items()})
        stats.extend(
            StreamDayStats(
                stream_id=stream_id,
                day=day,
                starts_at=starts_at,
                ends_at=ends_at,
                refreshed_at=now,
                latency_ms={str(ms): n for ms, n in sorted(row.pop("latency").items())},
                **row,
            )
            for stream_id, row in per_stream.items()
        )
    with transaction.atomic():
        StreamDayStats.objects.filter(day__in=days).delete()
        StreamDayStats.objects.bulk_create(stats, batch_size=2000)
    return len(stats)


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def minutes_kept_from(now: datetime) -> datetime:
    """Minute rows are kept from this hour on (older changes recompute their whole hour)."""
    return hour_of(now) - MINUTES_KEPT


def _touched_minutes(since: datetime) -> set[datetime]:
    triggered = (
        Message.objects.filter(received_at__gt=since)
        .annotate(minute=TruncMinute("received_at", tzinfo=UTC))
        .order_by()
        .values_list("minute", flat=True)
        .distinct()
    )
    changed = (
        DeliveryEvent.objects.filter(received_at__gt=since, message__isnull=False)
        .annotate(minute=TruncMinute("message__received_at", tzinfo=UTC))
        .order_by()
        .values_list("minute", flat=True)
        .distinct()
    )
    return {minute_of(m) for m in (*triggered, *changed)}


def _spans(slots: Iterable[datetime], step: timedelta = HOUR) -> list[tuple[datetime, datetime]]:
    """Consecutive slots merged into spans: one query per span, not per slot."""
    spans: list[tuple[datetime, datetime]] = []
    for slot in sorted(slots):
        if spans and spans[-1][1] == slot:
            spans[-1] = (spans[-1][0], slot + step)
        else:
            spans.append((slot, slot + step))
    return spans


def refresh() -> dict[str, int]:
    """Bring the rollups up to date with what changed since the last refresh (django-q2 runs
    this every minute).

    Incremental: the minutes that changed are recomputed from their messages and their hours
    summed from the minute rows (StreamMinuteStats). Changes to messages older than the minute
    rows (two days) recompute their whole hour, as does the first refresh (it starts the minute
    rows with the current hour).
    """
    started = timezone.now()
    with transaction.atomic():
        watermark, _ = RollupWatermark.objects.select_for_update().get_or_create(
            name=NAME, defaults={"checked_until": started - timedelta(days=1)}
        )
        minutes = _touched_minutes(watermark.checked_until - OVERLAP)
        # Minute rows are complete for every hour from `complete.checked_until` on.
        complete = RollupWatermark.objects.filter(name=MINUTES_NAME).first()
        if complete is None:
            hours = {hour_of(m) for m in minutes} | {hour_of(started)}
            written = sum(recompute(start, end) for start, end in _spans(hours))
            complete = RollupWatermark.objects.create(
                name=MINUTES_NAME, checked_until=hour_of(started)
            )
            fresh: set[datetime] = set()
        else:
            fresh = {m for m in minutes if m >= complete.checked_until}
            hours = {hour_of(m) for m in minutes - fresh}
            written = sum(recompute(start, end) for start, end in _spans(hours))
        if fresh:
            final = purged_before(min(fresh) - timedelta(days=1))
            for start, end in _spans(fresh, MINUTE):
                recompute_minutes(start, end, final)
            summed = {hour_of(m) for m in fresh}
            written += sum_hours(summed, final)
            recompute_days(sorted({d for h in summed for d in local_days(h, h + HOUR)}))
            hours |= summed
        kept_from = minutes_kept_from(started)
        StreamMinuteStats.objects.filter(minute__lt=kept_from).delete()
        if complete.checked_until < kept_from:
            complete.checked_until = kept_from
            complete.save(update_fields=["checked_until"])
        watermark.checked_until = started
        watermark.save(update_fields=["checked_until"])
    if len(hours) > 1:
        logger.info("Dashboard rollups: %d hours recomputed, %d rows", len(hours), written)
    rollup_totals.store_after_refresh()
    return {"hours": len(hours), "minutes": len(fresh), "rows": written}


def rebuild(days: int) -> dict[str, int]:
    """Recompute the last `days` days whole (after an import, or to repair anything)."""
    started = timezone.now()
    end = hour_of(started) + HOUR
    start = end - timedelta(days=days)
    written = 0
    day = start
    while day < end:  # a day at a time: memory stays flat with millions of messages
        written += recompute(day, min(day + timedelta(days=1), end))
        day += timedelta(days=1)
    # Changes made while the rebuild ran are picked up by the next refresh.
    RollupWatermark.objects.update_or_create(name=NAME, defaults={"checked_until": started})
    kept_from = minutes_kept_from(started)
    if start <= kept_from:  # every hour with minute rows was rebuilt: they are complete
        RollupWatermark.objects.update_or_create(
            name=MINUTES_NAME, defaults={"checked_until": kept_from}
        )
    return {"hours": int((end - start) / HOUR), "rows": written}
