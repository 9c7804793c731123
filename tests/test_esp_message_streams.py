"""Anymail path: broadcast streams go out on the ESP's broadcast message stream (Postmark's
MessageStream), configurable per stream; an ESP's "inactive recipient" refusal suppresses the
address like a hard bounce."""

import pytest
from django.core import mail

from delivery.models import Message, Suppression
from streams.models import MailStream
from tests.test_delivery_esp import INACTIVE_RECIPIENT, serve_fake_postmark

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(settings):
    yield from serve_fake_postmark(settings)


def trigger(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": "E-1"}},
    )
    assert response.json()["replyCode"] == 0, response.content
    return response.json()["data"]["messages"][0]


def broadcast(api, stream, email="jane@example.org"):
    response = api.post(f"/api/v2/email/{stream.pk}/broadcast", {"email": email, "data": {}})
    assert response.json()["replyCode"] == 0, response.content


@pytest.fixture
def broadcast_stream(make_stream):
    return make_stream(name="Newsletter", kind=MailStream.Kind.BROADCAST)


def test_broadcast_stream_goes_out_on_postmarks_broadcast_stream(api, postmark, broadcast_stream):
    broadcast(api, broadcast_stream)

    [request] = postmark.requests
    assert request["MessageStream"] == "broadcast"
    assert Message.objects.get().status == Message.Status.SENT


def test_contact_stream_uses_the_esps_default_stream(api, postmark, make_stream, make_contact):
    make_contact("jane@example.org")

    trigger(api, make_stream())

    [request] = postmark.requests
    assert "MessageStream" not in request


def test_a_streams_own_message_stream_wins(api, postmark, make_stream, make_contact):
    make_contact("jane@example.org")
    stream = make_stream(esp_message_stream="password-resets")

    trigger(api, stream)

    [request] = postmark.requests
    assert request["MessageStream"] == "password-resets"


def test_broadcast_stream_setting_can_be_emptied(api, postmark, broadcast_stream, settings):
    settings.TRIGGERED_EMAIL_ESP_BROADCAST_STREAM = ""

    broadcast(api, broadcast_stream)

    [request] = postmark.requests
    assert "MessageStream" not in request


def test_esps_without_message_streams_get_no_esp_extra(api, broadcast_stream, settings):
    settings.TRIGGERED_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    mail.outbox = []

    broadcast(api, broadcast_stream)

    [sent] = mail.outbox
    assert "esp_extra" not in sent.anymail_test_params


def test_message_stream_id_with_odd_characters_is_refused(make_stream):
    from django.core.exceptions import ValidationError

    stream = make_stream()
    stream.esp_message_stream = 'x", "Bcc": "spy@evil.example'

    with pytest.raises(ValidationError) as raised:
        stream.full_clean()

    assert "esp_message_stream" in raised.value.message_dict


def test_inactive_recipient_suppresses_like_a_hard_bounce(api, postmark, make_stream, make_contact):
    make_contact("jane@example.org")
    stream = make_stream()
    postmark.replies.append(INACTIVE_RECIPIENT)

    trigger(api, stream)

    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert (message.outcome, message.bounce_kind) == ("bounced", "hard")
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("jane@example.org", "hard_bounce")
    again = trigger(api, stream)
    assert (again["status"], again["reason"]) == ("skipped", "suppressed")
    assert len(postmark.requests) == 1


def test_inactive_recipient_reported_without_error_suppresses_too(
    api, postmark, make_stream, make_contact, settings
):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    make_contact("jane@example.org")
    postmark.replies.append(INACTIVE_RECIPIENT)

    trigger(api, make_stream())

    assert Suppression.objects.filter(email="jane@example.org").exists()


def test_invalid_address_fails_without_suppression(api, postmark, make_stream, make_contact):
    make_contact("jane@example.org")
    postmark.replies.append(
        (422, {"ErrorCode": 300, "Message": "Invalid 'To' address: 'jane@example.org'."})
    )

    trigger(api, make_stream())

    assert Message.objects.get().status == Message.Status.FAILED
    assert not Suppression.objects.exists()
