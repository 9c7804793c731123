"""All-time totals per stream from the daily rollups, for /metrics, computed once per refresh.

Summing the daily rows' latency buckets of every stream and day is a few hundred milliseconds
with a month of history (the JSON of thousands of day rows), far over a scrape's budget. What
they are summed from changes only when the rollup refresh runs (once a minute), so the refresh
computes the totals after it has committed and leaves them in the shared cache, stamped with the
rollup watermark; a scrape reads them. A scrape that finds none, or older ones (the cache was
cleared, the refresh has not run since a deploy), computes and stores them itself.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum

from delivery.models import RollupWatermark, StreamDayStats
from delivery.rollup_watermarks import NAME

CACHE_KEY = "rollup-totals:v1"
# Upper bounds (seconds) of the trigger → sent latency histogram: time-critical mail is expected
# within seconds, retries take minutes.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
OUTCOMES = ("sent", "failed", "skipped", "bounced_hard", "bounced_soft", "bounced_block")


def _watermark() -> str:
    checked = (
        RollupWatermark.objects.filter(name=NAME).values_list("checked_until", flat=True).first()
    )
    return checked.isoformat() if checked else ""


def compute(watermark: str | None = None) -> dict[str, Any]:
    """Per stream id: triggered, each outcome, and the latency histogram (cumulative counts at
    LATENCY_BUCKETS, total count, sum in seconds)."""
    watermark = _watermark() if watermark is None else watermark
    streams: dict[int, dict[str, Any]] = {}
    sums = (
        StreamDayStats.objects.order_by()
        .values("stream_id")
        .annotate(**{name: Sum(name) for name in ("triggered", *OUTCOMES)})
    )
    for row in sums:
        streams[row.pop("stream_id")] = {name: value or 0 for name, value in row.items()}
    latency: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    rows = StreamDayStats.objects.order_by().values_list("stream_id", "latency_ms")
    for stream_id, buckets in rows.iterator(chunk_size=2000):
        merged = latency[stream_id]
        for ms, count in buckets.items():
            merged[int(ms)] += count
    bounds = [bound * 1000 for bound in LATENCY_BUCKETS]
    for stream_id, merged in latency.items():
        cumulative = [0] * len(bounds)
        for ms, count in merged.items():
            for index, bound in enumerate(bounds):
                if ms <= bound:
                    cumulative[index] += count
        streams.setdefault(stream_id, {}).update(
            latency_buckets=cumulative,
            latency_count=sum(merged.values()),
            latency_seconds=sum(ms * count for ms, count in merged.items()) / 1000,
        )
    # JSON-friendly keys: the shared cache may be the database or Redis.
    return {"watermark": watermark, "streams": {str(k): v for k, v in streams.items()}}


def current() -> dict[str, Any]:
    """The totals as of the last refresh (computed here when the cache has none that recent)."""
    watermark = _watermark()
    totals = cache.get(CACHE_KEY)
    if totals is None or totals.get("watermark") != watermark:
        totals = compute(watermark)
        cache.set(CACHE_KEY, totals, timeout=None)
    return totals


def store_after_refresh() -> None:
    """Called by the rollup refresh once it has committed: only where /metrics is in use."""
    if settings.TRIGGERED_EMAIL_METRICS_TOKEN or settings.TRIGGERED_EMAIL_METRICS_NETWORKS:
        cache.set(CACHE_KEY, compute(), timeout=None)
