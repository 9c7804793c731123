"""What the dashboard shows, read from the hourly rollups (delivery.StreamHourStats).

Counts are of messages triggered in the range, with everything that happened to them since
(delivered, opened, … whenever it happened), so rates compare like with like. Rates are per sent
message; unique opens and clicks are messages with at least one. Latency is trigger → sent, with
two significant digits (see delivery.rollups.latency_bucket_ms); percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from delivery.models import StreamHourStats
from delivery.rollups import COUNTED, HOUR, hour_of
from streams.models import MailStream

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# Up to two days a point per hour, beyond that a point per day.
HOURLY_UP_TO = timedelta(days=2)
MAX_RANGE = timedelta(days=400)


class RangeError(ValueError):
    """A custom range the dashboard cannot show, with what to do instead."""


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    key: str  # "24h", "7d", "30d" or "custom"

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= HOURLY_UP_TO

    @property
    def label(self) -> str:
        local_start = timezone.localtime(self.start)
        local_end = timezone.localtime(self.end - timedelta(microseconds=1))
        return f"{local_start:%Y-%m-%d %H:%M} – {local_end:%Y-%m-%d %H:%M}"


def parse_range(params: Mapping[str, str], now: datetime | None = None) -> Range:
    """`?range=24h|7d|30d` (ending with the current hour), or `?start=…&end=…` as dates
    (YYYY-MM-DD, end inclusive) or times (YYYY-MM-DDTHH:MM), in TIME_ZONE, on whole hours."""
    now = now or timezone.now()
    start_text, end_text = params.get("start", "").strip(), params.get("end", "").strip()
    if start_text or end_text:
        if not (start_text and end_text):
            raise RangeError("Give both start and end for a custom range.")
        start = _parse_moment(start_text, end=False)
        end = _parse_moment(end_text, end=True)
        start, end = hour_of(start), _ceil_hour(end)
        if end <= start:
            raise RangeError("The end of the range must come after its start.")
        if end - start > MAX_RANGE:
            raise RangeError(f"Ranges are limited to {MAX_RANGE.days} days.")
        return Range(start, end, "custom")
    key = params.get("range", "24h")
    if key not in PRESETS:
        key = "24h"
    end = hour_of(now) + HOUR
    return Range(end - PRESETS[key], end, key)


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_of(moment)
    return floor if floor == moment else floor + HOUR


def _parse_moment(text: str, *, end: bool) -> datetime:
    zone = timezone.get_current_timezone()
    try:
        if "T" in text or " " in text:
            return timezone.make_aware(datetime.fromisoformat(text.replace(" ", "T")), zone)
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise RangeError(
            f"{text!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)."
        ) from exc
    if end:
        day += timedelta(days=1)  # an end date includes its whole day
    return timezone.make_aware(datetime.combine(day, time.min), zone)


@dataclass
class Totals:
    """Counts of a set of messages, their rates and latency percentiles."""

    triggered: int = 0
    sent: int = 0
    delivered: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    bounced_block: int = 0
    opened: int = 0
    clicked: int = 0
    complained: int = 0
    failed: int = 0
    skipped: int = 0
    latency_ms: Counter = field(default_factory=Counter)

    def add(self, row: Mapping[str, Any]) -> None:
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + row[name])
        for ms, count in (row["latency_ms"] or {}).items():
            self.latency_ms[int(ms)] += count

    @classmethod
    def combined(cls, parts: Iterable[Totals]) -> Totals:
        total = cls()
        for part in parts:
            for name in COUNTED:
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.latency_ms.update(part.latency_ms)
        return total

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft + self.bounced_block

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None

    @property
    def bounce_rate(self) -> float | None:
        return self.rate(self.bounced)

    @property
    def complaint_rate(self) -> float | None:
        return self.rate(self.complained)

    def percentile_ms(self, fraction: float) -> int | None:
        """Nearest-rank percentile of the latency, in milliseconds; None without sends."""
        total = sum(self.latency_ms.values())
        if not total:
            return None
        rank = max(1, math.ceil(fraction * total))
        seen = 0
        for ms in sorted(self.latency_ms):
            seen += self.latency_ms[ms]
            if seen >= rank:
                return ms
        return None  # unreachable: the ranks add up to total

    @property
    def p50_ms(self) -> int | None:
        return self.percentile_ms(0.50)

    @property
    def p95_ms(self) -> int | None:
        return self.percentile_ms(0.95)

    def columns(self) -> list[tuple[str, int, float | None]]:
        """(name, count, rate) in the order the dashboard's tables show them."""
        return [
            ("triggered", self.triggered, None),
            ("sent", self.sent, None),
            ("delivered", self.delivered, self.rate(self.delivered)),
            ("bounced", self.bounced, self.bounce_rate),
            ("hard", self.bounced_hard, self.rate(self.bounced_hard)),
            ("soft", self.bounced_soft, self.rate(self.bounced_soft)),
            ("block", self.bounced_block, self.rate(self.bounced_block)),
            ("opened", self.opened, self.rate(self.opened)),
            ("clicked", self.clicked, self.rate(self.clicked)),
            ("complained", self.complained, self.complaint_rate),
            ("failed", self.failed, None),
            ("skipped", self.skipped, None),
        ]

    @property
    def flags(self) -> list[str]:
        """Why this set of messages needs attention (bounce or complaint rate over threshold)."""
        flags = []
        if self.sent and self.bounce_rate > settings.DASHBOARD_BOUNCE_RATE_THRESHOLD:
            flags.append("bounce rate")
        if self.sent and self.complaint_rate > settings.DASHBOARD_COMPLAINT_RATE_THRESHOLD:
            flags.append("complaint rate")
        return flags


_FIELDS = (*COUNTED, "latency_ms")


def _rows(span: Range, stream_id: int | None = None) -> Iterable[dict[str, Any]]:
    rows = StreamHourStats.objects.filter(hour__gte=span.start, hour__lt=span.end).order_by()
    if stream_id is not None:
        rows = rows.filter(stream_id=stream_id)
    return rows.values("stream_id", "hour", *_FIELDS).iterator(chunk_size=5000)


@dataclass
class StreamTotals:
    stream: MailStream
    totals: Totals


@dataclass
class Overview:
    span: Range
    total: Totals
    streams: list[StreamTotals]


def overview(span: Range) -> Overview:
    """Totals over the range, per stream (streams with messages in it) and for all of them."""
    per_stream: dict[int, Totals] = {}
    total = Totals()
    for row in _rows(span):
        per_stream.setdefault(row["stream_id"], Totals()).add(row)
        total.add(row)
    streams = MailStream.objects.in_bulk(list(per_stream))
    listed = sorted(
        (StreamTotals(streams[pk], totals) for pk, totals in per_stream.items()),
        key=lambda entry: (-entry.totals.triggered, entry.stream.name),
    )
    return Overview(span, total, listed)


@dataclass
class Bucket:
    start: datetime
    totals: Totals

    def label(self, hourly: bool) -> str:
        local = timezone.localtime(self.start)
        return f"{local:%m-%d %H:00}" if hourly else f"{local:%Y-%m-%d}"


def buckets(span: Range) -> list[datetime]:
    """Bucket starts over the range: every hour, or every day (in TIME_ZONE)."""
    if span.hourly:
        count = int((span.end - span.start) / HOUR)
        return [span.start + i * HOUR for i in range(count)]
    zone = timezone.get_current_timezone()
    day = timezone.localtime(span.start, zone).date()
    last = timezone.localtime(span.end - timedelta(microseconds=1), zone).date()
    starts = []
    while day <= last:
        starts.append(max(span.start, timezone.make_aware(datetime.combine(day, time.min), zone)))
        day += timedelta(days=1)
    return starts


def series(span: Range, stream_id: int | None = None) -> list[Bucket]:
    """Totals per bucket over the range (empty buckets included, so charts show the gaps)."""
    starts = buckets(span)
    by_start = {start: Bucket(start, Totals()) for start in starts}
    zone = timezone.get_current_timezone()
    for row in _rows(span, stream_id):
        if span.hourly:
            key = row["hour"]
        else:
            local_day = timezone.localtime(row["hour"], zone).date()
            key = max(span.start, timezone.make_aware(datetime.combine(local_day, time.min), zone))
        by_start[key].totals.add(row)
    return [by_start[start] for start in starts]


def stream_totals(span: Range, stream_id: int) -> Totals:
    total = Totals()
    for row in _rows(span, stream_id):
        total.add(row)
    return total
