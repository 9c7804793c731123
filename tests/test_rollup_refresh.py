"""The dashboard's rollups follow every state change of a message, and refreshing is idempotent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery import rollups
from delivery.models import DeliveryEvent, Message, StreamDayStats, StreamHourStats
from delivery.rollups import hour_of
from delivery.tasks import sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream):
    return make_stream()


def message(stream, **fields) -> Message:
    fields.setdefault("received_at", timezone.now() - timedelta(hours=3))
    return Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient="jane@example.org",
        message_id=f"<{Message.objects.count()}-refresh@example.com>",
        **fields,
    )


def row(stream, at) -> StreamHourStats:
    return StreamHourStats.objects.get(stream=stream, hour=hour_of(at))


def test_refresh_counts_new_messages_and_is_idempotent(stream):
    first = message(stream, status=Message.Status.QUEUED)

    rollups.refresh()
    rollups.refresh()

    assert row(stream, first.received_at).triggered == 1
    assert StreamHourStats.objects.count() == 1
    day = StreamDayStats.objects.get(stream=stream)
    assert (day.triggered, day.day) == (1, timezone.localtime(first.received_at).date())


def test_message_failed_by_the_sweep_is_counted_after_refresh(stream, settings):
    stuck = message(
        stream,
        status=Message.Status.SENDING,
        attempts=settings.TRIGGERED_EMAIL_MAX_ATTEMPTS,
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    rollups.refresh()
    assert row(stream, stuck.received_at).failed == 0

    sweep()
    rollups.refresh()

    stuck.refresh_from_db()
    assert stuck.status == Message.Status.FAILED
    assert stuck.events.get().event_type == DeliveryEvent.Type.FAILED
    assert row(stream, stuck.received_at).failed == 1


def test_latency_is_kept_to_two_significant_digits():
    assert rollups.latency_bucket_ms(0.0424) == 42
    assert rollups.latency_bucket_ms(1.234) == 1200
    assert rollups.latency_bucket_ms(1.25) == 1300
    assert rollups.latency_bucket_ms(47.3) == 47000
    assert rollups.latency_bucket_ms(125.0) == 130000
