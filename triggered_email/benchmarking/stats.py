"""Latency summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99/max in milliseconds (nearest rank, so p50 ≤ p95 ≤ p99 ≤ max always)."""
    values = sorted(seconds)
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.50) * 1000, 2),
        "p95": round(percentile(values, 0.95) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
        "max": round(values[-1] * 1000, 2),
        "mean": round(sum(values) / len(values) * 1000, 2),
    }
