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
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from delivery.models import StreamDayStats, StreamHourStats
from delivery.rollups import COUNTED, HOUR, hour_of
from streams.models import MailStream
from triggered_email.database_dialect import has_postgresql_statements

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# Up to two days a point per hour, beyond that a point per day.
HOURLY_UP_TO = timedelta(days=2)
MAX_RANGE = timedelta(days=400)
# Buckets and labels step past a range's end: keep well away from datetime's last day.
LATEST_END = datetime(9999, 1, 1, tzinfo=UTC)


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
        try:
            start = _parse_moment(start_text, end=False)
            end = _parse_moment(end_text, end=True)
            start, end = hour_of(start), _ceil_hour(end)
        except OverflowError:
            # The last day of year 9999 has no "next hour" or "next day" to end on.
            end = LATEST_END
        if end >= LATEST_END:
            raise RangeError("The range must end before the year 9999.")
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

    def add_counts(self, row: Mapping[str, Any]) -> None:
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + (row[name] or 0))

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


# Whole days come from the daily rollups, the partial first and last day from the hourly ones;
# both are summed by the database (merging half a million latency histogram entries in Python
# costs seconds). Groups come back as epoch seconds: parsing timestamps costs more than summing.
@dataclass(frozen=True)
class _Dialect:
    latency_sql: str  # (group, latency ms, count) rows of the histograms, summed
    epoch: str  # a {column}'s time as epoch seconds
    # Hours grouped into local days (two parameters: the zone); "" where the database has no
    # time zones (SQLite): merged here instead.
    hours_by_day: str


_POSTGRESQL = _Dialect(
    latency_sql=(
        "SELECT {group}, (e.key)::integer, SUM((e.value)::integer) "
        "FROM {table} s CROSS JOIN LATERAL jsonb_each_text(s.latency_ms) e "
        "WHERE {within} {stream} GROUP BY 1, 2"
    ),
    epoch="EXTRACT(EPOCH FROM {column})::bigint",
    hours_by_day=(
        "EXTRACT(EPOCH FROM date_trunc('day', s.hour AT TIME ZONE %s) AT TIME ZONE %s)::bigint"
    ),
)
_SQLITE = _Dialect(
    latency_sql=(
        "SELECT {group}, CAST(e.key AS INTEGER), SUM(CAST(e.value AS INTEGER)) "
        "FROM {table} s, json_each(s.latency_ms) e "
        "WHERE {within} {stream} GROUP BY 1, 2"
    ),
    epoch="CAST(strftime('%%s', {column}) AS INTEGER)",
    hours_by_day="",
)


@dataclass(frozen=True)
class _Source:
    model: type
    within: str  # SQL condition on the range, two parameters
    lookups: tuple[str, str]  # the same for the ORM

    def rows(self, start: datetime, end: datetime, stream_id: int | None) -> Any:
        rows = self.model.objects.filter(
            **{self.lookups[0]: start, self.lookups[1]: end}
        ).order_by()
        return rows.filter(stream_id=stream_id) if stream_id is not None else rows


_HOURS = _Source(StreamHourStats, "s.hour >= %s AND s.hour < %s", ("hour__gte", "hour__lt"))
_DAYS = _Source(
    StreamDayStats, "s.starts_at >= %s AND s.ends_at <= %s", ("starts_at__gte", "ends_at__lte")
)


def _whole_days(span: Range) -> tuple[datetime, datetime] | None:
    """The first and last local midnight inside the range, if whole days lie between them."""
    zone = timezone.get_current_timezone()
    first_day = timezone.localtime(span.start, zone).date()
    first = timezone.make_aware(datetime.combine(first_day, time.min), zone)
    if first < span.start:
        first = timezone.make_aware(datetime.combine(first_day + timedelta(days=1), time.min), zone)
    last_day = timezone.localtime(span.end, zone).date()
    last = timezone.make_aware(datetime.combine(last_day, time.min), zone)
    return (first, last) if first < last else None


def _aggregate(span: Range, group: str, stream_id: int | None = None) -> dict[Any, Totals]:
    """Totals per `group` ("stream_id", "hour" or "day": local day start) over the range."""
    parts = []
    days = None if group == "hour" else _whole_days(span)
    if days is None:
        parts.append((_HOURS, span.start, span.end))
    else:
        parts.append((_DAYS, *days))
        parts.extend(
            (_HOURS, start, end)
            for start, end in ((span.start, days[0]), (days[1], span.end))
            if start < end
        )
    totals: dict[Any, Totals] = {}
    for source, start, end in parts:
        for key, part in _sum(source, start, end, group, stream_id).items():
            totals[key] = Totals.combined([totals[key], part]) if key in totals else part
    return totals


def _sum(
    source: _Source, start: datetime, end: datetime, group: str, stream_id: int | None
) -> dict[Any, Totals]:
    zone = timezone.get_current_timezone()
    dialect = _POSTGRESQL if has_postgresql_statements(connection) else _SQLITE
    rows = source.rows(start, end, stream_id)
    column = group
    if group == "day":
        column = "day_start"
        if source is _DAYS:
            rows = rows.annotate(day_start=F("starts_at"))
            group_sql = dialect.epoch.format(column="s.starts_at")
        else:
            rows = rows.annotate(day_start=TruncDay("hour", tzinfo=zone))
            group_sql = dialect.hours_by_day
    elif group == "hour":
        group_sql = dialect.epoch.format(column="s.hour")
    else:
        group_sql = "s.stream_id"
    totals: dict[Any, Totals] = {}
    for row in rows.values(column).annotate(**{n: Sum(n) for n in COUNTED}):
        totals.setdefault(row[column], Totals()).add_counts(row)
    if not group_sql:  # merge the histograms here (small data: SQLite)
        for row in rows.values(column, "latency_ms"):
            for ms, count in (row["latency_ms"] or {}).items():
                totals.setdefault(row[column], Totals()).latency_ms[int(ms)] += count
        return totals
    query = dialect.latency_sql.format(
        group=group_sql,
        table=source.model._meta.db_table,
        within=source.within,
        stream="AND s.stream_id = %s" if stream_id is not None else "",
    )
    by_local_day = group_sql == dialect.hours_by_day
    params: list[Any] = [str(zone), str(zone)] if by_local_day else []
    # As the ORM stores them: SQLite compares datetimes as text, and an aware datetime's text
    # ("…00:00:00+00:00") sorts after the stored one ("…00:00:00"), which dropped a whole day's
    # latencies when the range began exactly at its midnight.
    adapt = connection.ops.adapt_datetimefield_value
    params += [adapt(start), adapt(end)] + ([stream_id] if stream_id is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for key, ms, count in cursor.fetchall():
            if group != "stream_id":
                key = datetime.fromtimestamp(key, UTC)
            totals.setdefault(key, Totals()).latency_ms[ms] += count
    return totals


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
    per_stream = _aggregate(span, "stream_id")
    total = Totals.combined(per_stream.values())
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
    for moment, totals in _aggregate(span, "hour" if span.hourly else "day", stream_id).items():
        if span.hourly:
            key = moment
        else:
            local_day = timezone.localtime(moment, zone).date()
            key = max(span.start, timezone.make_aware(datetime.combine(local_day, time.min), zone))
        bucket = by_start[key]
        bucket.totals = (
            Totals.combined([bucket.totals, totals]) if bucket.totals.triggered else totals
        )
    return [by_start[start] for start in starts]


def stream_totals(span: Range, stream_id: int) -> Totals:
    return _aggregate(span, "stream_id", stream_id).get(stream_id, Totals())


def _bucket_key(span: Range, moment: datetime) -> datetime:
    """The start of the bucket (as `buckets` gives them) that a rollup row's time falls in."""
    if span.hourly:
        return hour_of(moment)
    zone = timezone.get_current_timezone()
    local_day = timezone.localtime(moment, zone).date()
    return max(span.start, timezone.make_aware(datetime.combine(local_day, time.min), zone))


def series_per_stream(span: Range) -> dict[int, list[Bucket]]:
    """`series` of every stream with rollups in the range, from one read of the rollup rows
    (whole days from the daily rows, the rest from the hourly ones) merged here: the overview's
    small charts for a dozen streams cost one pass instead of a dozen series."""
    starts = buckets(span)
    days = None if span.hourly else _whole_days(span)
    if days is None:
        parts = [(_HOURS, "hour", span.start, span.end)]
    else:
        parts = [(_DAYS, "starts_at", *days)] + [
            (_HOURS, "hour", start, end)
            for start, end in ((span.start, days[0]), (days[1], span.end))
            if start < end
        ]
    per_stream: dict[int, dict[datetime, Totals]] = {}
    for source, moment, start, end in parts:
        rows = source.rows(start, end, None).values("stream_id", moment, *COUNTED, "latency_ms")
        for row in rows.iterator(chunk_size=2000):
            by_start = per_stream.get(row["stream_id"])
            if by_start is None:
                by_start = per_stream[row["stream_id"]] = {s: Totals() for s in starts}
            totals = by_start[_bucket_key(span, row[moment])]
            totals.add_counts(row)
            for ms, count in (row["latency_ms"] or {}).items():
                totals.latency_ms[int(ms)] += count
    return {
        stream_id: [Bucket(start, by_start[start]) for start in starts]
        for stream_id, by_start in per_stream.items()
    }


def combined_series(per_stream: Mapping[int, list[Bucket]], span: Range) -> list[Bucket]:
    """All streams' series added up, bucket by bucket."""
    return [
        Bucket(start, Totals.combined(series[index].totals for series in per_stream.values()))
        for index, start in enumerate(buckets(span))
    ]
