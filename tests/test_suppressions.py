"""Hard bounces and complaints suppress an address; later triggers to it are skipped, not sent."""

import base64
import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client
from django.utils import timezone

from delivery.models import DeliveryEvent, Message, Suppression
from delivery.tasks import send_messages

pytestmark = pytest.mark.django_db

SECRET = "hooks:secret-for-suppression-tests"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def trigger(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": "A-1"}},
    )
    assert response.json()["replyCode"] == 0, response.content
    return response.json()["data"]["messages"][0]


def postmark_bounce(message: Message, bounce_type: str, details: str) -> None:
    """Postmark reports a bounce for a message we sent (the ESP id is our Message-ID here)."""
    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(
            {
                "RecordType": "Bounce",
                "ID": 1000 + message.pk,
                "Type": bounce_type,
                "MessageID": "pm-" + str(message.pk),
                "Email": message.recipient,
                "BouncedAt": "2026-04-27T16:28:50Z",
                "Details": details,
                "Metadata": {"message_id": str(message.pk)},
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode(),
    )
    assert response.status_code == 200


def test_hard_bounce_suppresses_and_next_trigger_is_skipped(
    api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    other_stream = make_stream(name="Shipping", event=stream.event)
    make_contact("jane@example.org")
    trigger(api, stream)
    first = Message.objects.filter(stream=stream).get()
    assert first.status == Message.Status.SENT

    postmark_bounce(first, "HardBounce", "smtp;550 5.1.1 user unknown")
    smtp_server.received.clear()
    again = trigger(api, stream)

    assert again["status"] == "skipped"
    assert again["reason"] == "suppressed"
    skipped = Message.objects.filter(status=Message.Status.SKIPPED)
    # Every stream of the event: the suppression covers all streams.
    assert set(skipped.values_list("stream", flat=True)) == {stream.pk, other_stream.pk}
    assert set(skipped.values_list("skip_reason", flat=True)) == {"suppressed"}
    assert smtp_server.received == []


def test_soft_bounce_does_not_suppress(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")
    trigger(api, stream)
    first = Message.objects.get()

    postmark_bounce(first, "SoftBounce", "smtp;452 4.2.2 mailbox full")
    again = trigger(api, stream)

    assert again["status"] == "queued"
    assert not Suppression.objects.exists()
    assert len(smtp_server.wait_for(2)) == 2


def test_message_suppressed_while_it_waited_is_skipped_at_send_time(
    smtp_server, make_stream, settings
):
    stream = make_stream()
    waiting = Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient="Jane@Example.org",
        status=Message.Status.QUEUED,
        message_id="<waiting@example.com>",
        # Triggered ten minutes ago (held, or stuck behind a backlog), suppressed since.
        received_at=timezone.now() - timedelta(minutes=10),
        next_attempt_at=timezone.now(),
    )
    Suppression.objects.create(email="jane@example.org", reason=Suppression.Reason.COMPLAINT)

    send_messages([waiting.pk])

    waiting.refresh_from_db()
    assert (waiting.status, waiting.skip_reason) == ("skipped", "suppressed")
    assert waiting.events.get().event_type == DeliveryEvent.Type.REJECTED
    assert smtp_server.received == []


@pytest.fixture
def suppressed(make_stream):
    stream = make_stream()
    source = Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient="gone@example.org",
        status=Message.Status.SENT,
        message_id="<gone@example.com>",
    )
    return Suppression.objects.create(
        email="gone@example.org",
        reason=Suppression.Reason.HARD_BOUNCE,
        source_message=source,
        note="smtp;550 5.1.1 user unknown",
    )


def test_admin_lists_reason_and_source_message(admin_client, suppressed):
    response = admin_client.get("/admin/delivery/suppression/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "gone@example.org" in page
    assert "hard bounce" in page
    assert f"/admin/delivery/message/{suppressed.source_message_id}/change/" in page
    assert "all streams" in page


def test_admin_removal_asks_for_confirmation_and_keeps_an_audit_note(admin_client, suppressed):
    url = f"/admin/delivery/suppression/{suppressed.pk}/remove/"

    confirmation = admin_client.get(url)
    without_note = admin_client.post(url, {"note": "  "})
    removed = admin_client.post(url, {"note": "Mailbox restored, confirmed by phone"})

    assert confirmation.status_code == 200
    assert "Remove the suppression of gone@example.org?" in confirmation.content.decode()
    assert without_note.status_code == 200  # the form again, nothing removed
    assert removed.status_code == 302
    assert not Suppression.objects.exists()
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.object_id == str(suppressed.pk)
    assert "Mailbox restored, confirmed by phone" in entry.change_message
    assert "hard bounce" in entry.change_message


def test_plain_delete_is_switched_off(admin_client, suppressed):
    response = admin_client.post(
        f"/admin/delivery/suppression/{suppressed.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert Suppression.objects.filter(pk=suppressed.pk).exists()
