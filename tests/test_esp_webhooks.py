"""ESP tracking webhooks (Anymail) → DeliveryEvents linked to their messages.

Payloads are the shapes ESPs really send, as recorded in django-anymail's own test suite
(Postmark, Mailgun's signed JSON webhooks, Brevo).
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from delivery.models import DeliveryEvent, Message, Suppression

pytestmark = pytest.mark.django_db

SECRET = "hook-user:hook-password-123"
MAILGUN_KEY = "mailgun-signing-key-for-tests"


@pytest.fixture(autouse=True)
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def sent_message(make_stream):
    stream = make_stream()

    def make(esp_message_id="", recipient="jane@example.org") -> Message:
        return Message.objects.create(
            stream=stream,
            version=stream.current_version,
            recipient=recipient,
            status=Message.Status.SENT,
            message_id=f"<{Message.objects.count() + 1}-{recipient}@example.com>",
            esp_message_id=esp_message_id,
            sent_at=timezone.now(),
        )

    return make


def auth_header(secret=SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post(esp: str, payload, secret=SECRET):
    return Client().post(
        f"/anymail/{esp}/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        **auth_header(secret),
    )


def mailgun_signed(event_data: dict, token: str) -> dict:
    timestamp = "1534108637"
    signature = hmac.new(
        MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event_data,
    }


# --- Postmark -----------------------------------------------------------------------------------

POSTMARK_ID = "883953f4-6105-42a2-a16a-77a8eac79483"


def test_postmark_delivery_open_click_map_to_events(sent_message):
    message = sent_message(esp_message_id=POSTMARK_ID)

    delivered = post(
        "postmark",
        {
            "RecordType": "Delivery",
            "ServerId": 23,
            "MessageID": POSTMARK_ID,
            "Recipient": "jane@example.org",
            "Tag": "stream-1",
            "Metadata": {"message_id": str(message.pk), "stream_id": str(message.stream_id)},
            "DeliveredAt": "2026-08-01T13:28:10.2735393-04:00",
            "Details": "smtp;250 2.0.0 OK",
        },
    )
    opened = post(
        "postmark",
        {
            "RecordType": "Open",
            "FirstOpen": True,
            "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
            "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
            "Platform": "Unknown",
            "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
            "ReadSeconds": 0,
            "Geo": {},
            "MessageID": POSTMARK_ID,
            "ReceivedAt": "2026-08-01T16:21:41.2493688-04:00",
            "Recipient": "jane@example.org",
        },
    )
    clicked = post(
        "postmark",
        {
            "RecordType": "Click",
            "ClickLocation": "HTML",
            "Platform": "Desktop",
            "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.",
            "OriginalLink": "https://example.com/click/me",
            "MessageID": POSTMARK_ID,
            "ReceivedAt": "2026-08-01T21:21:11.9065619Z",
            "Tag": "welcome-email",
            "Recipient": "jane@example.org",
        },
    )

    assert [delivered.status_code, opened.status_code, clicked.status_code] == [200, 200, 200]
    events = list(message.events.order_by("occurred_at"))
    assert [e.event_type for e in events] == ["delivered", "opened", "clicked"]
    assert {e.provider for e in events} == {"postmark"}
    assert events[0].mta_response == "smtp;250 2.0.0 OK"
    assert events[0].occurred_at == datetime(2026, 8, 1, 17, 28, 10, 273539, tzinfo=UTC)
    assert events[1].user_agent == "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
    assert events[2].url == "https://example.com/click/me"
    assert events[2].raw["OriginalLink"] == "https://example.com/click/me"
    message.refresh_from_db()
    assert message.outcome == Message.Outcome.CLICKED
    assert message.delivered_at == events[0].occurred_at
    assert message.opened_at == events[1].occurred_at
    assert message.clicked_at == events[2].occurred_at


def test_postmark_hard_bounce_records_kind_and_suppresses(sent_message):
    message = sent_message(esp_message_id="2706ee8a-737c-4285-b032-ccd317af53ed")

    response = post(
        "postmark",
        {
            "RecordType": "Bounce",
            "ID": 901542550,
            "Type": "HardBounce",
            "TypeCode": 1,
            "ServerID": 23,
            "Name": "Hard bounce",
            "MessageID": "2706ee8a-737c-4285-b032-ccd317af53ed",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": "jane@example.org",
            "From": "orders@example.com",
            "BouncedAt": "2026-04-27T16:28:50.3963933-04:00",
            "DumpAvailable": True,
            "Inactive": True,
            "CanActivate": True,
            "Subject": "Postmark event test",
        },
    )

    assert response.status_code == 200
    event = message.events.get()
    assert event.event_type == DeliveryEvent.Type.BOUNCED
    assert event.bounce_kind == DeliveryEvent.BounceKind.HARD
    assert event.provider_event_id == "901542550"
    assert event.description.startswith("The server was unable to deliver")
    assert event.mta_response.startswith("smtp;550 5.1.1")
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("jane@example.org", "hard_bounce")
    assert suppression.stream is None
    assert suppression.source_message == message


def test_postmark_soft_bounce_is_soft_and_does_not_suppress(sent_message):
    message = sent_message(esp_message_id="5c1c6f0e-8f0a-4f57-a0a5-6dc3d2a1c001")

    post(
        "postmark",
        {
            "RecordType": "Bounce",
            "ID": 901542551,
            "Type": "SoftBounce",
            "TypeCode": 4096,
            "MessageID": "5c1c6f0e-8f0a-4f57-a0a5-6dc3d2a1c001",
            "Description": "The server could not temporarily deliver your message.",
            "Details": "smtp;452 4.2.2 Mailbox full",
            "Email": "jane@example.org",
            "BouncedAt": "2026-04-27T16:28:50Z",
        },
    )

    event = message.events.get()
    assert (event.event_type, event.bounce_kind) == ("bounced", "soft")
    message.refresh_from_db()
    assert message.bounce_kind == "soft"
    assert not Suppression.objects.exists()


def test_postmark_spam_complaint_suppresses(sent_message):
    message = sent_message(esp_message_id="2706ee8a-737c-4285-b032-ccd317af53ee")

    post(
        "postmark",
        {
            "RecordType": "SpamComplaint",
            "ID": 901542552,
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "Name": "Spam complaint",
            "MessageID": "2706ee8a-737c-4285-b032-ccd317af53ee",
            "Details": "Test spam complaint details",
            "Email": "jane@example.org",
            "BouncedAt": "2026-04-27T16:28:50.3963933-04:00",
        },
    )

    assert message.events.get().event_type == DeliveryEvent.Type.COMPLAINED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    message.refresh_from_db()
    assert message.outcome == "complained"
    assert message.complained_at is not None


# --- Mailgun (signed JSON webhooks) -------------------------------------------------------------

MAILGUN_ID = "20180812211713.1.DF5966851B4BAA99@example.org"


def test_mailgun_events_map_and_link_by_message_id(sent_message):
    message = sent_message(esp_message_id=f"<{MAILGUN_ID}>")
    headers = {"to": "jane@example.org", "message-id": MAILGUN_ID, "from": "orders@example.com"}
    base = {"recipient": "jane@example.org", "message": {"headers": headers}}

    responses = [
        post(
            "mailgun",
            mailgun_signed(
                {
                    **base,
                    "event": "delivered",
                    "timestamp": 1534108637.153125,
                    "id": "hTWCTD81RtiDN-1",
                    "delivery-status": {"code": 250, "message": "OK", "description": ""},
                },
                token="651869375b9df3c98fc15c4889b102119add1235c38fc92824",
            ),
        ),
        post(
            "mailgun",
            mailgun_signed(
                {
                    **base,
                    "event": "opened",
                    "timestamp": 1534109600.089676,
                    "id": "hTWCTD81RtiDN-2",
                    "client-info": {"user-agent": "Mozilla/5.0 (Android) Mobile"},
                },
                token="b1ee6d8e7e4d4ac3a1f00b7c5fba4f7be4a2f1e0d8c7b6a5f4",
            ),
        ),
        post(
            "mailgun",
            mailgun_signed(
                {
                    **base,
                    "event": "clicked",
                    "timestamp": 1534109700.089676,
                    "id": "hTWCTD81RtiDN-3",
                    "url": "https://example.com/orders/A-17",
                    "client-info": {"user-agent": "Mozilla/5.0 (Android) Mobile"},
                },
                token="c2ff7e9f8f5e5bd4b2011c8d6acb5f8cf5b3f2f1e9d8c7b6a5",
            ),
        ),
        post(
            "mailgun",
            mailgun_signed(
                {
                    **base,
                    "event": "complained",
                    "timestamp": 1534109800.0,
                    "id": "ncV2XwymRUKbPek_MIM-Gw",
                },
                token="d3008fa09a6f6ce5c3122d9e7bdc6a9da6c4a3a2fad9d8c7b6",
            ),
        ),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    events = list(message.events.order_by("occurred_at"))
    assert [e.event_type for e in events] == ["delivered", "opened", "clicked", "complained"]
    assert events[0].mta_response == "OK"
    assert events[1].user_agent == "Mozilla/5.0 (Android) Mobile"
    assert events[2].url == "https://example.com/orders/A-17"
    assert events[0].provider_event_id == "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


def test_mailgun_permanent_failure_is_a_hard_bounce(sent_message):
    message = sent_message(esp_message_id="<20180812214658.1.0DF563D0B3597700@example.org>")

    post(
        "mailgun",
        mailgun_signed(
            {
                "event": "failed",
                "severity": "permanent",
                "reason": "bounce",
                "recipient": "jane@example.org",
                "timestamp": 1534110422.389832,
                "log-level": "error",
                "message": {
                    "headers": {
                        "to": "jane@example.org",
                        "message-id": "20180812214658.1.0DF563D0B3597700@example.org",
                    }
                },
                "delivery-status": {
                    "attempt-no": 1,
                    "description": "",
                    "code": 550,
                    "message": "5.1.1 The email account that you tried to reach does not exist.",
                },
            },
            token="e4119fb1ab7f7df6d4233eaf8ced7badb7d5b4b3fbeae9d8c7",
        ),
    )

    event = message.events.get()
    assert (event.event_type, event.bounce_kind) == ("bounced", "hard")
    assert Suppression.objects.filter(email="jane@example.org").exists()


def test_mailgun_temporary_failure_is_deferred_and_does_not_suppress(sent_message):
    message = sent_message(esp_message_id="<20180812214638.1.4A7D468E9BC18C5D@example.org>")

    post(
        "mailgun",
        mailgun_signed(
            {
                "event": "failed",
                "severity": "temporary",
                "reason": "generic",
                "timestamp": 1534111899.659519,
                "recipient": "jane@example.org",
                "message": {
                    "headers": {"message-id": "20180812214638.1.4A7D468E9BC18C5D@example.org"}
                },
                "delivery-status": {
                    "attempt-no": 3,
                    "description": "No MX for nomx.example.com",
                    "code": 498,
                    "message": "No MX for nomx.example.com",
                },
            },
            token="f522a0c2bc808e07e5344fb09dfecbeec8e6c5c40cfbfae9d8",
        ),
    )

    assert message.events.get().event_type == DeliveryEvent.Type.DEFERRED
    assert not Suppression.objects.exists()


def test_mailgun_wrong_signature_is_refused(sent_message):
    message = sent_message(esp_message_id=f"<{MAILGUN_ID}>")
    payload = mailgun_signed(
        {"event": "delivered", "timestamp": 1534108637.1, "message": {"headers": {}}},
        token="0123456789abcdef0123456789abcdef0123456789abcdef01",
    )
    payload["signature"]["signature"] = "0" * 64

    response = post("mailgun", payload)

    assert response.status_code == 400
    assert not DeliveryEvent.objects.exists()
    assert message.events.count() == 0


# --- Brevo --------------------------------------------------------------------------------------

BREVO_ID = "<202603011158.9876543210@smtp-relay.mailin.fr>"


def brevo(event: str, **fields) -> dict:
    return {
        "event": event,
        "email": "jane@example.org",
        "ts_epoch": 1772366300000,
        "message-id": BREVO_ID,
        **fields,
    }


def test_brevo_events_map_to_delivery_events(sent_message):
    message = sent_message(esp_message_id=BREVO_ID)

    for payload in (
        brevo("delivered"),
        brevo("unique_opened", ts_epoch=1772366400000),
        brevo("click", ts_epoch=1772366500000, link="https://example.com/track/order"),
        brevo(
            "soft_bounce",
            ts_epoch=1772366600000,
            reason="undefined Unable to find MX of domain no-mx.example.com",
        ),
    ):
        assert post("brevo", payload).status_code == 200

    events = list(message.events.order_by("occurred_at"))
    assert [e.event_type for e in events] == ["delivered", "opened", "clicked", "bounced"]
    assert events[2].url == "https://example.com/track/order"
    assert events[3].bounce_kind == "soft"
    assert events[3].mta_response.startswith("undefined Unable to find MX")
    assert not Suppression.objects.exists()
    message.refresh_from_db()
    # The soft bounce came last, but an open and a click had already proved the mail arrived.
    assert message.outcome == "clicked"


def test_brevo_hard_bounce_suppresses(sent_message):
    message = sent_message(esp_message_id=BREVO_ID)

    post(
        "brevo",
        brevo(
            "hard_bounce",
            reason=" RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.",
        ),
    )

    assert message.events.get().bounce_kind == "hard"
    assert Suppression.objects.get().email == "jane@example.org"


def test_brevo_complaint_links_by_metadata_when_esp_id_unknown(sent_message):
    message = sent_message(esp_message_id="")

    post(
        "brevo",
        {
            "event": "complaint",
            "email": "jane@example.org",
            "id": "xxxxx",
            "date": "2026-10-09 00:00:00",
            "ts": 1604933619,
            "message-id": "201798300811.5787683@relay.domain.com",
            "ts_event": 1604933654,
            "X-Mailin-custom": json.dumps({"message_id": str(message.pk), "stream_id": "1"}),
            "tags": ["stream-1"],
        },
    )

    assert message.events.get().event_type == DeliveryEvent.Type.COMPLAINED
    assert Suppression.objects.get().reason == "complaint"


# --- Security, replays, unknown messages, order -------------------------------------------------


@pytest.mark.parametrize("esp", ["postmark", "brevo", "mailgun", "sparkpost", "mailjet"])
def test_wrong_basic_auth_is_refused(esp, sent_message):
    sent_message(esp_message_id=POSTMARK_ID)

    response = post(esp, {"RecordType": "Delivery", "MessageID": POSTMARK_ID}, secret="a:wrong")

    assert response.status_code == 400
    assert not DeliveryEvent.objects.exists()


def test_missing_basic_auth_is_refused(sent_message):
    sent_message(esp_message_id=POSTMARK_ID)

    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps({"RecordType": "Delivery", "MessageID": POSTMARK_ID}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert not DeliveryEvent.objects.exists()


def test_webhooks_refuse_everything_while_no_secret_is_configured(settings, sent_message):
    settings.ANYMAIL = {}
    sent_message(esp_message_id=POSTMARK_ID)

    response = post("postmark", {"RecordType": "Delivery", "MessageID": POSTMARK_ID})

    assert response.status_code == 503
    assert b"ANYMAIL_WEBHOOK_SECRET" in response.content
    assert not DeliveryEvent.objects.exists()


def test_replayed_event_is_stored_once(sent_message):
    message = sent_message(esp_message_id=POSTMARK_ID)
    bounce = {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": "HardBounce",
        "MessageID": POSTMARK_ID,
        "Email": "jane@example.org",
        "BouncedAt": "2026-04-27T16:28:50Z",
        "Details": "smtp;550 5.1.1 unknown user",
    }
    # Postmark sends no id with opens: the payload's fingerprint identifies a replay.
    opened = {
        "RecordType": "Open",
        "MessageID": POSTMARK_ID,
        "Recipient": "jane@example.org",
        "ReceivedAt": "2026-04-27T16:21:41Z",
        "UserAgent": "Mail/1.0",
    }

    for payload in (bounce, bounce, opened, opened):
        assert post("postmark", payload).status_code == 200

    assert sorted(message.events.values_list("event_type", flat=True)) == ["bounced", "opened"]
    assert Suppression.objects.count() == 1


def test_event_for_unknown_message_is_kept_unlinked(sent_message):
    sent_message(esp_message_id=POSTMARK_ID)

    response = post(
        "postmark",
        {
            "RecordType": "Delivery",
            "MessageID": "00000000-0000-0000-0000-000000000000",
            "Recipient": "someone@example.net",
            "DeliveredAt": "2026-08-01T13:28:10Z",
        },
    )

    assert response.status_code == 200
    event = DeliveryEvent.objects.get()
    assert event.message is None
    assert event.event_type == "delivered"
    assert event.raw["MessageID"] == "00000000-0000-0000-0000-000000000000"


def test_payload_we_do_not_understand_is_stored_as_unknown(sent_message):
    response = post("postmark", {"RecordType": "SomethingNew", "Surprise": [1, 2, 3]})

    assert response.status_code == 200
    event = DeliveryEvent.objects.get()
    assert (event.event_type, event.message) == ("unknown", None)
    assert event.raw == {"RecordType": "SomethingNew", "Surprise": [1, 2, 3]}


def test_late_delivered_does_not_hide_a_click(sent_message):
    message = sent_message(esp_message_id=POSTMARK_ID)
    click_time = "2026-08-01T12:00:00Z"

    post(
        "postmark",
        {
            "RecordType": "Click",
            "MessageID": POSTMARK_ID,
            "OriginalLink": "https://example.com/",
            "ReceivedAt": click_time,
            "Recipient": "jane@example.org",
        },
    )
    post(
        "postmark",
        {
            "RecordType": "Delivery",
            "MessageID": POSTMARK_ID,
            "Recipient": "jane@example.org",
            "DeliveredAt": "2026-08-01T11:59:00Z",
        },
    )

    message.refresh_from_db()
    assert message.outcome == Message.Outcome.CLICKED
    assert message.outcome_at == datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
    assert message.delivered_at == datetime(2026, 8, 1, 11, 59, tzinfo=UTC)
