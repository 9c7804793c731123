"""A worker keeps its SMTP connection across tasks, and a connection the server closed
meanwhile costs nothing but a reconnect: no failure, no retry delay."""

import pytest

from delivery import sending
from delivery.models import DeliveryEvent, Message
from delivery.tasks import send_messages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_connection_from_other_tests():
    sending.close_kept_connection()
    yield
    sending.close_kept_connection()


@pytest.fixture
def queued(make_stream, make_contact):
    """A stream with two contacts; each test triggers and then sends task by task."""
    for email in ("jane@example.org", "bob@example.org"):
        make_contact(email)
    return make_stream()


def trigger_without_sending(api, stream, email, settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    try:
        reply = api.client.post(
            f"/api/v2/event/{stream.event_id}/trigger",
            {"key_id": "3", "external_id": email},
            format="json",
        )
    finally:
        settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True
    assert reply.json()["replyCode"] == 0
    return Message.objects.get(recipient=email)


def test_two_tasks_share_one_smtp_connection(api, smtp_server, queued, settings):
    first = trigger_without_sending(api, queued, "jane@example.org", settings)
    second = trigger_without_sending(api, queued, "bob@example.org", settings)

    send_messages([first.pk])
    connection = sending._kept.connection.connection
    send_messages([second.pk])

    assert sending._kept.connection.connection is connection
    assert len(smtp_server.wait_for(2)) == 2


def test_connection_closed_by_the_server_is_reopened_without_a_failure(
    api, smtp_server, queued, settings
):
    first = trigger_without_sending(api, queued, "jane@example.org", settings)
    second = trigger_without_sending(api, queued, "bob@example.org", settings)
    send_messages([first.pk])
    stale = sending._kept.connection.connection
    smtp_server.stop()  # drops the kept connection, as an MTA closing idle sessions does
    smtp_server.start()

    result = send_messages([second.pk])

    second.refresh_from_db()
    assert result["sent"] == 1
    assert second.status == Message.Status.SENT and second.attempts == 1
    assert list(second.events.values_list("event_type", flat=True)) == [DeliveryEvent.Type.SENT]
    assert sending._kept.connection.connection is not stale
    assert [m.rcpt_tos for m in smtp_server.wait_for(2)] == [
        ["jane@example.org"],
        ["bob@example.org"],
    ]


def test_keep_open_zero_uses_a_connection_per_task(api, smtp_server, queued, settings):
    settings.TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS = 0
    message = trigger_without_sending(api, queued, "jane@example.org", settings)

    send_messages([message.pk])

    assert sending._kept is None
    assert len(smtp_server.wait_for(1)) == 1
