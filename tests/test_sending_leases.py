"""Claims are leases; outcomes land as soon as the MTA answered; a task's time is bounded."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from delivery import tasks
from delivery.models import DeliveryEvent, Message
from delivery.tasks import send_messages, sweep

pytestmark = pytest.mark.django_db


def test_sweep_leaves_a_long_running_claim_alone_while_its_lease_is_renewed(
    make_stream, make_queued_messages
):
    stream = make_stream()
    [message] = make_queued_messages(stream, 1)
    # Claimed long ago, but its worker renewed the lease a moment ago.
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING,
        claimed_at=timezone.now() - timedelta(hours=1),
        lease_until=timezone.now() + timedelta(seconds=20),
        attempts=1,
    )

    assert sweep()["revived"] == 0
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENDING


def test_sweep_revives_a_lapsed_lease_and_says_the_outcome_is_unknown(
    settings, make_stream, make_queued_messages
):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False  # handed to the broker, not sent here
    stream = make_stream()
    [message] = make_queued_messages(stream, 1)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING,
        claimed_at=timezone.now() - timedelta(seconds=5),
        lease_until=timezone.now() - timedelta(seconds=1),
        attempts=1,
    )

    assert sweep()["revived"] == 1

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    [event] = message.events.filter(event_type=DeliveryEvent.Type.UNKNOWN)
    assert event.description.startswith("attempt 1: ")
    assert "may have been sent" in event.description


def test_outcomes_are_recorded_window_by_window_as_the_mta_answers(
    settings, smtp_server, make_stream, make_queued_messages, monkeypatch
):
    settings.TRIGGERED_EMAIL_RECORD_EVERY = 4
    stream = make_stream()
    messages = make_queued_messages(stream, 10)
    recorded: list[int] = []
    # What the MTA had accepted each time outcomes were recorded.
    accepted_then: list[int] = []
    record = tasks.record_outcomes

    def spying(batch, outcomes, provider):
        recorded.append(len(outcomes))
        accepted_then.append(len(smtp_server.received))
        return record(batch, outcomes, provider)

    monkeypatch.setattr(tasks, "record_outcomes", spying)

    result = send_messages([m.pk for m in messages])

    assert result["sent"] == 10
    assert recorded == [4, 4, 2]
    assert accepted_then == [4, 8, 10]


def test_a_failed_record_write_is_retried_until_it_lands(
    smtp_server, make_stream, make_queued_messages, monkeypatch
):
    stream = make_stream()
    messages = make_queued_messages(stream, 3)
    failures = iter([OperationalError("server closed the connection unexpectedly")] * 2)
    record = tasks.record_outcomes

    def flaky(batch, outcomes, provider):
        error = next(failures, None)
        if error is not None:
            raise error
        return record(batch, outcomes, provider)

    monkeypatch.setattr(tasks, "record_outcomes", flaky)
    monkeypatch.setattr(tasks.time, "sleep", lambda seconds: None)

    result = send_messages([m.pk for m in messages])

    assert result["sent"] == 3
    assert len(smtp_server.wait_for(3)) == 3
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}


def test_a_task_whose_time_is_up_hands_unstarted_messages_back_unattempted(
    settings, smtp_server, make_stream, make_queued_messages, monkeypatch
):
    settings.TRIGGERED_EMAIL_RECORD_EVERY = 1
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    stream = make_stream()
    messages = make_queued_messages(stream, 5)
    handed: list[dict] = []
    monkeypatch.setattr(tasks, "enqueue", lambda ids_by_lane: handed.append(dict(ids_by_lane)))
    settings.TRIGGERED_EMAIL_TASK_SECONDS = 1

    class Clock:
        """The task's clock: its time is up once the MTA has taken two messages."""

        sleep = staticmethod(time.sleep)

        @staticmethod
        def monotonic() -> float:
            return 0.0 if len(smtp_server.received) < 2 else 10_000.0

    monkeypatch.setattr(tasks, "time", Clock)

    result = send_messages([m.pk for m in messages])

    sent = Message.objects.filter(status=Message.Status.SENT)
    back = Message.objects.filter(status=Message.Status.QUEUED)
    assert result["sent"] == sent.count() == 2
    assert result["handed_back"] == back.count() == 3
    assert len(smtp_server.received) == sent.count()
    assert set(back.values_list("attempts", flat=True)) == {0}
    assert handed == [{"transactional": sorted(back.values_list("pk", flat=True))}]
