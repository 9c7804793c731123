"""Trigger → outbox → send through a real SMTP server, and what arrives there."""

import pytest

from delivery.models import DeliveryEvent, Message
from delivery.return_paths import return_path

pytestmark = pytest.mark.django_db

ORDER = {
    "order_id": "A-17",
    "items": [{"name": "Espresso beans"}, {"name": "Milk <frother> & co"}],
}


def trigger(api, stream, email="jane@example.org", data=ORDER, **extra):
    return api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": data, **extra},
    )


def test_triggered_email_arrives_personalised(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org", first_name="Jane")

    response = trigger(api, stream)

    assert response.status_code == 200, response.content
    assert response.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["jane@example.org"]
    message = Message.objects.get()
    # The envelope sender is the message's signed VERP return path; the From header is not.
    assert mail.mail_from == return_path(message.pk, "orders@example.com")
    assert mail.message["From"] == "Example Shop <orders@example.com>"
    assert mail.message["Subject"] == "Your order #A-17"
    assert mail.message["Message-ID"] == message.message_id
    assert message.message_id.endswith("@example.com>")
    html = mail.part("text/html")
    assert "Hi Jane," in html
    assert "<td" in html and "Espresso beans" in html
    # Event data is HTML-escaped in the HTML part.
    assert "Milk &lt;frother&gt; &amp; co" in html
    # CSS was inlined at publish time.
    assert 'style="color:#0f766e"' in html
    text = mail.part("text/plain")
    assert text.strip() == "Hi Jane, order #A-17: Espresso beans Milk <frother> & co"


def test_missing_first_name_uses_fallback(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("anon@example.org", first_name="")

    trigger(api, stream, email="anon@example.org")

    [mail] = smtp_server.wait_for(1)
    assert "Hi there," in mail.part("text/html")


def test_sent_message_records_status_and_event(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact()

    trigger(api, stream)

    smtp_server.wait_for(1)
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    assert message.sent_at is not None
    assert message.attempts == 1
    assert message.version_id == stream.current_version_id
    assert list(message.events.values_list("event_type", flat=True)) == [DeliveryEvent.Type.SENT]
