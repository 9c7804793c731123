"""POST /api/v2/email/{stream_id}/broadcast: addresses outside the contact database."""

import pytest

from delivery.models import Message
from events.models import Contact, Trigger
from streams.models import MailStream

pytestmark = pytest.mark.django_db

HTML = "<p>Hello {{ contact.email }}, code {{ event.code }}</p>"


@pytest.fixture
def broadcast_stream(make_stream):
    return make_stream(
        name="Voucher",
        kind=MailStream.Kind.BROADCAST,
        subject="Your code {{ event.code }}",
        html=HTML,
        text="Code {{ event.code }}",
    )


def test_single_recipient_in_the_emarsys_shape_is_sent_on_the_bulk_lane(
    api, smtp_server, broadcast_stream
):
    response = api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast",
        {"email": "guest@example.net", "data": {"code": "X1"}},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["replyCode"] == 0
    [message] = body["data"]["messages"]
    assert message["recipient"] == "guest@example.net"
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Your code X1"
    assert "Hello guest@example.net, code X1" in mail.part("text/html")
    stored = Message.objects.get()
    assert stored.lane == "bulk"
    assert stored.contact is None
    assert stored.trigger.source == Trigger.Source.BROADCAST
    assert not Contact.objects.exists()


def test_batch_sends_valid_recipients_and_reports_invalid_ones(api, smtp_server, broadcast_stream):
    response = api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast",
        {
            "data": {"code": "SHARED"},
            "recipients": [
                {"email": "a@example.net", "data": {"code": "A"}},
                "b@example.net",
                {"email": "not-an-address"},
                {"email": "c@example.net", "data": "[1, 2]"},
                {"data": {"code": "no address"}},
            ],
        },
    )

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert sorted(m["recipient"] for m in data["messages"]) == ["a@example.net", "b@example.net"]
    assert set(data["errors"]) == {"not-an-address", "c@example.net", "#4"}
    assert "6002" in data["errors"]["not-an-address"]
    assert "5011" in data["errors"]["c@example.net"]
    assert "6002" in data["errors"]["#4"]
    mails = {m.rcpt_tos[0]: m.message["Subject"] for m in smtp_server.wait_for(2)}
    assert mails == {"a@example.net": "Your code A", "b@example.net": "Your code SHARED"}
    trigger = Trigger.objects.get()
    assert (trigger.recipient_count, trigger.message_count, trigger.error_count) == (5, 2, 3)


def test_single_invalid_address_refuses_the_call(api, smtp_server, broadcast_stream):
    response = api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast", {"email": "nope", "data": {}}
    )

    assert response.status_code == 400
    assert response.json()["replyCode"] == 6002
    assert not Message.objects.exists()


def test_more_than_1000_recipients_is_refused(api, broadcast_stream):
    recipients = [f"r{i}@example.net" for i in range(1001)]

    response = api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast", {"recipients": recipients}
    )

    assert response.json()["replyCode"] == 1000
    assert not Message.objects.exists()


def test_broadcast_to_a_contact_stream_or_unknown_stream_is_refused(api, make_stream):
    contact_stream = make_stream()

    wrong_kind = api.post(
        f"/api/v2/email/{contact_stream.pk}/broadcast", {"email": "a@example.net"}
    )
    unknown = api.post("/api/v2/email/999999/broadcast", {"email": "a@example.net"})

    assert wrong_kind.json()["replyCode"] == 6001
    assert "not a broadcast stream" in wrong_kind.json()["replyText"]
    assert unknown.status_code == 404
    assert unknown.json()["replyCode"] == 6001


def test_broadcast_to_a_paused_stream_is_held(api, smtp_server, broadcast_stream):
    MailStream.objects.filter(pk=broadcast_stream.pk).update(status=MailStream.Status.PAUSED)

    response = api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast", {"email": "a@example.net"}
    )

    assert response.json()["data"]["messages"][0]["status"] == "held"
    assert smtp_server.received == []


def test_broadcast_needs_authentication(anonymous_api, broadcast_stream):
    response = anonymous_api.post(
        f"/api/v2/email/{broadcast_stream.pk}/broadcast", {"email": "a@example.net"}
    )

    assert response.status_code == 401
