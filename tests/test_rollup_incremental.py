"""The per-minute refresh is incremental: it recomputes only the minutes that changed and sums
their hours from minute rows; older changes still recompute their whole hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery import rollups
from delivery.models import DeliveryEvent, Message, StreamHourStats, StreamMinuteStats
from delivery.rollups import hour_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream):
    return make_stream()


def _message(stream, received_at, index: int, **fields) -> Message:
    return Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient=f"r{index}@example.org",
        message_id=f"<inc-{index}@example.com>",
        status=Message.Status.SENT,
        received_at=received_at,
        sent_at=received_at + timedelta(milliseconds=400),
        **fields,
    )


def _hour_counts(stream, at) -> tuple:
    row = StreamHourStats.objects.get(stream=stream, hour=hour_of(at))
    return row.triggered, row.sent, row.opened, row.clicked, row.latency_ms


def _minute_start(hours_ago: int):
    return hour_of(timezone.now()) - timedelta(hours=hours_ago)


def test_a_refresh_recomputes_only_the_minutes_that_changed(stream):
    hour = _minute_start(3)
    early = _message(stream, hour + timedelta(minutes=2), 1)
    late = _message(stream, hour + timedelta(minutes=40), 2)
    rollups.rebuild(3)  # minute rows for the last two days
    assert StreamMinuteStats.objects.filter(stream=stream).count() == 2

    # A change recorded the way every state change is (with an event) in minute 40 …
    Message.objects.filter(pk=late.pk).update(opened_at=timezone.now())
    DeliveryEvent.objects.create(message=late, event_type="opened", provider="tracking")
    # … and one made behind the rollups' back in minute 2, which only a full recompute sees.
    Message.objects.filter(pk=early.pk).update(clicked_at=timezone.now())

    result = rollups.refresh()
    assert result["minutes"] == 1
    assert _hour_counts(stream, hour)[:4] == (2, 2, 1, 0)  # minute 2 was not read again

    rollups.recompute(hour, hour + timedelta(hours=1))
    assert _hour_counts(stream, hour)[:4] == (2, 2, 1, 1)


def test_incremental_hours_equal_a_full_recompute(stream, make_stream):
    other = make_stream(name="Other")
    now = timezone.now()
    earlier = _message(stream, now - timedelta(hours=30), 99)  # inside the minute rows' days
    rollups.rebuild(3)
    for index in range(12):  # new messages of the last four minutes, as the API writes them
        target = stream if index % 3 else other
        _message(target, now - timedelta(seconds=index * 20), index, opened_at=now)
    Message.objects.filter(pk=earlier.pk).update(clicked_at=now)
    DeliveryEvent.objects.create(message=earlier, event_type="clicked", provider="tracking")
    result = rollups.refresh()
    assert 2 <= result["minutes"] <= 6
    incremental = sorted(
        StreamHourStats.objects.values_list(
            "stream_id", "hour", "triggered", "sent", "opened", "latency_ms"
        )
    )
    rollups.recompute(now - timedelta(hours=31), now + timedelta(minutes=1))
    full = sorted(
        StreamHourStats.objects.values_list(
            "stream_id", "hour", "triggered", "sent", "opened", "latency_ms"
        )
    )
    assert incremental == full
    assert sum(row[2] for row in full) == 13


def test_changes_older_than_the_minute_rows_recompute_their_hour(stream):
    old = timezone.now() - timedelta(days=3)
    first = _message(stream, old, 1)
    _message(stream, old + timedelta(seconds=1), 2)
    rollups.rebuild(5)
    assert _hour_counts(stream, old)[:2] == (2, 2)
    assert not StreamMinuteStats.objects.filter(
        minute__lt=rollups.minutes_kept_from(timezone.now())
    )

    Message.objects.filter(pk=first.pk).update(opened_at=timezone.now())
    DeliveryEvent.objects.create(message=first, event_type="opened", provider="tracking")
    rollups.refresh()
    assert _hour_counts(stream, old)[:3] == (2, 2, 1)


def test_minute_rows_older_than_two_days_are_pruned(stream):
    rollups.refresh()
    stale = StreamMinuteStats.objects.create(
        stream=stream, minute=timezone.now() - timedelta(days=2, hours=2)
    )
    rollups.refresh()
    assert not StreamMinuteStats.objects.filter(pk=stale.pk).exists()
