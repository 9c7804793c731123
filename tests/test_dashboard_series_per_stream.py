"""The overview's small charts read every stream's series in one pass: the same buckets,
counts and latencies as each stream's own series."""

from datetime import timedelta

import pytest

from dashboard import stats
from tests.test_dashboard_numbers import H1, NOW, seeded  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def as_numbers(points):
    return [
        (bucket.start, bucket.totals.columns(), dict(bucket.totals.latency_ms)) for bucket in points
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"range": "24h"},
        {"range": "7d"},
        {"range": "30d"},
        # Starts and ends mid-day: partial days come from the hourly rows.
        {
            "start": f"{H1 - timedelta(days=3, hours=5):%Y-%m-%dT%H:%M}",
            "end": f"{H1:%Y-%m-%dT%H:%M}",
        },
    ],
)
def test_each_streams_series_equals_its_own(seeded, params):  # noqa: F811
    a, b, _ = seeded
    span = stats.parse_range(params, now=NOW)

    per_stream = stats.series_per_stream(span)

    for stream in (a, b):
        expected = stats.series(span, stream.pk)
        if not any(bucket.totals.triggered for bucket in expected):
            assert stream.pk not in per_stream
            continue
        assert as_numbers(per_stream[stream.pk]) == as_numbers(expected)
    assert as_numbers(stats.combined_series(per_stream, span)) == as_numbers(stats.series(span))
