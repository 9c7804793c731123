"""Retention: expired messages, their events and files go in small batches; counts stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from delivery import lane_priority, retention, rollups
from delivery.models import (
    DeliveryEvent,
    Message,
    MessageAttachment,
    StreamDayStats,
    StreamHourStats,
    Suppression,
)


def _message(stream, age: timedelta, index: int, status: str = "sent", **fields) -> Message:
    received = timezone.now() - age
    return stream.messages.create(
        version=stream.current_version,
        recipient=f"r{index}@example.org",
        message_id=f"<ret{stream.pk}-{index}@example.com>",
        status=status,
        received_at=received,
        sent_at=received + timedelta(seconds=1) if status == "sent" else None,
        **fields,
    )


@pytest.fixture
def history(make_stream):
    """Two streams: one keeps 2 days, one 30; messages 5 days and 1 hour old in each."""
    short = make_stream(name="Short", retention_days=2)
    long = make_stream(name="Long", retention_days=30)
    old = [_message(short, timedelta(days=5), n) for n in range(5)]
    fresh = [_message(short, timedelta(hours=1), n) for n in range(5, 7)]
    kept_long = [_message(long, timedelta(days=5), n) for n in range(3)]
    stuck = _message(short, timedelta(days=5), 99, status="queued")
    for message in old + fresh:
        DeliveryEvent.objects.create(message=message, event_type="sent", provider="smtp")
        DeliveryEvent.objects.create(message=message, event_type="opened", provider="tracking")
    return {
        "short": short,
        "long": long,
        "old": old,
        "fresh": fresh,
        "long_msgs": kept_long,
        "stuck": stuck,
    }


def test_only_finished_messages_past_their_streams_retention_go(history):
    report = retention.purge(pause=0)
    remaining = set(Message.objects.values_list("pk", flat=True))
    assert not remaining & {m.pk for m in history["old"]}
    assert {m.pk for m in history["fresh"]} <= remaining
    assert {m.pk for m in history["long_msgs"]} <= remaining
    assert history["stuck"].pk in remaining  # still queued: never deleted under the lane
    assert report.messages == 5
    short = next(s for s in report.streams if s.stream == "Short")
    assert (short.messages, short.events) == (5, 10)
    assert DeliveryEvent.objects.filter(message__in=history["fresh"]).count() == 4
    assert DeliveryEvent.objects.count() == 4


def test_deletes_run_in_small_batches_of_primary_keys(history):
    with CaptureQueriesContext(connection) as queries:
        retention.purge(batch=2, pause=0)
    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('DELETE FROM "delivery_message"')
    ]
    assert len(deletes) == 3  # 5 expired messages, 2 per transaction
    assert all("IN" in sql for sql in deletes)
    assert Message.objects.filter(pk__in=[m.pk for m in history["old"]]).count() == 0


def test_rollup_counts_survive_the_purge_and_later_refreshes(history):
    rollups.rebuild(7)
    before_hours = sorted(
        StreamHourStats.objects.filter(stream=history["short"]).values_list(
            "hour", "triggered", "sent", "opened"
        )
    )
    before_days = StreamDayStats.objects.filter(stream=history["short"]).count()
    assert sum(row[1] for row in before_hours) == 8
    retention.purge(pause=0)

    rollups.refresh()
    rollups.rebuild(7)  # even a full rebuild of those days keeps the purged hours
    after_hours = sorted(
        StreamHourStats.objects.filter(stream=history["short"]).values_list(
            "hour", "triggered", "sent", "opened"
        )
    )
    assert after_hours == before_hours
    assert StreamDayStats.objects.filter(stream=history["short"]).count() == before_days
    history["short"].refresh_from_db()
    assert history["short"].purged_before > history["old"][0].received_at


def test_events_that_arrived_before_the_purge_are_counted(history):
    rollups.rebuild(7)
    DeliveryEvent.objects.create(message=history["old"][0], event_type="clicked")
    Message.objects.filter(pk=history["old"][0].pk).update(clicked_at=timezone.now())
    retention.purge(pause=0)
    clicked = StreamHourStats.objects.filter(stream=history["short"]).values_list(
        "clicked", flat=True
    )
    assert sum(clicked) == 1


def test_suppressions_stay_and_attachment_files_go(history):
    message = history["old"][0]
    Suppression.objects.create(email="r0@example.org", reason="hard_bounce", source_message=message)
    name = default_storage.save("message-attachments/invoice.pdf", ContentFile(b"%PDF-1.4"))
    MessageAttachment.objects.create(
        message=message, file=name, filename="invoice.pdf", content_type="application/pdf", size=8
    )
    report = retention.purge(pause=0)
    suppression = Suppression.objects.get(email="r0@example.org")
    assert suppression.source_message is None
    assert not default_storage.exists(name)
    assert MessageAttachment.objects.count() == 0
    assert sum(s.attachments for s in report.streams) == 1


def test_a_time_limit_stops_between_batches_and_the_next_run_goes_on(history):
    first = retention.purge(batch=1, pause=0, seconds=0)
    assert first.finished is False
    assert first.messages == 1
    second = retention.purge(batch=1, pause=0)
    assert second.finished is True
    assert first.messages + second.messages == 5


def test_dry_run_shows_what_would_go_and_deletes_nothing(history, capsys):
    count = Message.objects.count()
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "Short (keeps 2 days" in out
    assert "would delete 5 messages, 10 events, 0 attachments" in out
    assert "In all: would delete 5 messages." in out
    assert Message.objects.count() == count
    history["short"].refresh_from_db()
    assert history["short"].purged_before is None


def test_purge_command_deletes(history, capsys):
    call_command("purge", "--batch", "2", "--pause", "0")
    assert "In all: deleted 5 messages." in capsys.readouterr().out


def test_retention_days_default_comes_from_the_setting(settings, make_stream):
    settings.TRIGGERED_EMAIL_RETENTION_DAYS = 45
    assert make_stream(name="Defaulted").retention_days == 45


def test_a_purge_gives_way_to_triggers_and_time_critical_sending(history, monkeypatch):
    left, waited_for = [], []

    def give_way(bound=None, *, keys=()) -> float:
        # How many expired messages are left each time the purge lets a password reset go first,
        # and what it waits for: triggers arriving and the transactional lane sending.
        left.append(Message.objects.filter(pk__in=[m.pk for m in history["old"]]).count())
        waited_for.append(set(keys))
        return 0.0

    monkeypatch.setattr(retention, "give_way", give_way)
    retention.purge(batch=2, pause=0)

    assert left == [3, 1]  # after each full batch of 2, before the next one
    assert waited_for == [{lane_priority.KEY, lane_priority.SENDING_KEY}] * 2
