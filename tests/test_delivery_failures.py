"""Transient failures are retried with backoff and a limit; permanent ones fail at once;
the sweep recovers what a dead worker or a lost task left behind."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import DeliveryEvent, Message
from delivery.tasks import send_messages, sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream):
    return make_stream()


@pytest.fixture(autouse=True)
def _contacts(make_contact):
    make_contact("jane@example.org")
    make_contact("bob@example.org")


def trigger(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": "7"}},
    )
    assert response.json()["replyCode"] == 0
    return Message.objects.get(recipient=email)


def make_due(message):
    """Move the clock past the retry time instead of sleeping."""
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_smtp_4xx_is_retried_and_sent_once(api, smtp_server, stream):
    smtp_server.data_replies.append("451 4.3.0 Temporary local problem")

    message = trigger(api, stream)

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert "451" in message.last_error
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=30)
    assert smtp_server.received == []

    make_due(message)
    assert sweep()["requeued"] == 1

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert len(smtp_server.received) == 1
    assert list(message.events.values_list("event_type", flat=True)) == ["deferred", "sent"]


def test_retry_is_not_sent_before_its_time(api, smtp_server, stream):
    smtp_server.data_replies.append("421 4.7.0 Try again later")
    message = trigger(api, stream)

    # A duplicate task for the same id arrives early: the row says "not yet".
    assert send_messages([message.pk]) == {"claimed": 0}
    assert sweep()["requeued"] == 0
    assert smtp_server.received == []


def test_smtp_5xx_for_recipient_fails_at_once(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 <jane@example.org>: user unknown"

    message = trigger(api, stream)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert message.last_error == (
        "recipient refused by the MTA: 550 5.1.1 <jane@example.org>: user unknown"
    )
    # A recipient refused for good is a hard bounce (tests/test_smtp_refusal_bounces.py).
    event = message.events.get()
    assert (event.event_type, event.bounce_kind) == (DeliveryEvent.Type.BOUNCED, "hard")
    assert event.mta_response == "550 5.1.1 <jane@example.org>: user unknown"
    make_due(message)
    assert sweep()["requeued"] == 0


def test_one_refused_recipient_does_not_stop_the_batch(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 user unknown"

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {
            "key_id": "3",
            "contacts": [{"external_id": "jane@example.org"}, {"external_id": "bob@example.org"}],
        },
    )

    assert response.json()["replyCode"] == 0
    statuses = dict(Message.objects.values_list("recipient", "status"))
    assert statuses == {"jane@example.org": "failed", "bob@example.org": "sent"}
    assert [m.rcpt_tos for m in smtp_server.received] == [["bob@example.org"]]


def trigger_three(api, stream, make_contact) -> None:
    """One call for three contacts: their messages go out in one task, over one connection."""
    make_contact("ann@example.org")
    addresses = ["jane@example.org", "bob@example.org", "ann@example.org"]
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "contacts": [{"external_id": email} for email in addresses]},
    )
    assert response.json()["replyCode"] == 0


def test_refused_message_in_a_batch_does_not_stop_the_rest(api, smtp_server, stream, make_contact):
    # The reply to the first message's data arrives after the second message's commands left.
    smtp_server.data_replies.append("451 4.3.0 Temporary local problem")

    trigger_three(api, stream, make_contact)

    deferred = Message.objects.get(status=Message.Status.QUEUED)
    assert "451" in deferred.last_error
    sent = Message.objects.filter(status=Message.Status.SENT)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(2)) == sorted(
        sent.values_list("recipient", flat=True)
    )
    assert sent.count() == 2


def test_server_closing_in_a_batch_sends_the_rest_over_a_new_connection(
    api, smtp_server, stream, make_contact
):
    # 421: the server is going away. The next message's commands were already on the old
    # connection; its data never went out, so it goes over a new one without a failure.
    smtp_server.data_replies.append("421 4.3.2 Service shutting down")

    trigger_three(api, stream, make_contact)

    deferred = Message.objects.get(status=Message.Status.QUEUED)
    assert "421" in deferred.last_error
    sent = Message.objects.filter(status=Message.Status.SENT)
    assert sorted(sent.values_list("attempts", flat=True)) == [1, 1]
    assert not DeliveryEvent.objects.filter(message__in=sent).exclude(event_type="sent").exists()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(2)) == sorted(
        sent.values_list("recipient", flat=True)
    )


def test_smtp_server_down_then_back_loses_nothing(api, smtp_server, stream):
    smtp_server.stop()

    messages = [trigger(api, stream, email) for email in ("jane@example.org", "bob@example.org")]

    for message in messages:
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert "connection" in message.last_error
        make_due(message)

    smtp_server.start()
    sweep()

    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(2)) == [
        "bob@example.org",
        "jane@example.org",
    ]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert len(smtp_server.received) == 2


def test_transient_failures_stop_after_max_attempts(api, smtp_server, stream, settings):
    settings.TRIGGERED_EMAIL_MAX_ATTEMPTS = 3
    smtp_server.data_replies.extend(["451 4.3.0 busy"] * 3)

    message = trigger(api, stream)
    for _ in range(2):
        make_due(message)
        sweep()

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 3
    assert message.last_error.startswith("gave up after 3 attempts")
    make_due(message)
    assert sweep()["requeued"] == 0
    assert smtp_server.received == []


def test_backoff_grows_exponentially_up_to_the_cap(settings):
    from delivery.failures import backoff_seconds

    assert [backoff_seconds(n, 60, 600) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


def test_message_left_sending_by_dead_worker_is_sent_once(api, smtp_server, stream, settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    message = trigger(api, stream)
    # A worker claimed it and died before sending.
    claimed_at = timezone.now() - timedelta(
        seconds=settings.TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS + 1
    )
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=claimed_at, attempts=1
    )
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True

    result = sweep()
    sweep()

    assert result["revived"] == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert len(smtp_server.received) == 1


def test_message_still_being_sent_is_left_alone(api, smtp_server, stream, settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    message = trigger(api, stream)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now()
    )
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True

    result = sweep()
    assert (result["revived"], result["gave_up"], result["requeued"]) == (0, 0, 0)
    assert smtp_server.received == []


def test_message_whose_task_was_lost_is_handed_over_again(api, smtp_server, stream, settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    message = trigger(api, stream)  # handed to a broker that nobody serves: the task is lost
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True
    assert sweep()["requeued"] == 0  # recently handed over: give the broker time

    Message.objects.filter(pk=message.pk).update(
        queued_at=timezone.now()
        - timedelta(seconds=settings.TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS + 1)
    )
    assert sweep()["requeued"] == 1

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(smtp_server.received) == 1


def test_same_task_delivered_twice_sends_once(api, smtp_server, stream, settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    message = trigger(api, stream)

    send_messages([message.pk])
    send_messages([message.pk])

    assert len(smtp_server.received) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.SENT, 1)
