"""The bounce listener takes in DSNs over SMTP for messages' VERP return paths and records
them on the right message; forged, unknown, malformed and huge mail never crashes it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from delivery.bounce_listener import BounceListener
from delivery.models import DeliveryEvent, Message, Suppression
from delivery.return_paths import return_path
from tests.bounce_fixtures import dsn_bytes
from tests.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bounce_listener(settings) -> Iterator[tuple[str, int]]:
    settings.TRIGGERED_EMAIL_BOUNCE_MAX_BYTES = 200_000
    port = free_port()
    controller = BounceListener("127.0.0.1", port)
    controller.start()
    yield "127.0.0.1", port
    controller.stop()


@pytest.fixture
def sent_message(api, smtp_server, make_stream, make_contact) -> tuple[Message, str]:
    """A message sent over SMTP, and the return path it went out with."""
    stream = make_stream()
    make_contact("jane@example.org")
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "A-17"}},
    )
    assert response.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    return Message.objects.get(), mail.mail_from


def deliver(listener_address, rcpt: str | list[str], raw: bytes) -> tuple[int, bytes]:
    """Hand `raw` to the listener as a reporting MTA does (null sender); the reply to DATA."""
    host, port = listener_address
    recipients = [rcpt] if isinstance(rcpt, str) else rcpt
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.ehlo("mx1.mail.example.net")
        client.mail("")
        for address in recipients:
            code, reply = client.rcpt(address)
            if code >= 400:
                return code, reply
        return client.data(raw)


def dsn_for(message: Message, address: str, fixture: str) -> bytes:
    return dsn_bytes(
        fixture, return_path=address, recipient=message.recipient, message_id=message.message_id
    )


def test_postfix_hard_bounce_is_recorded_and_suppresses(bounce_listener, sent_message):
    message, address = sent_message

    code, reply = deliver(
        bounce_listener, address, dsn_for(message, address, "postfix_user_unknown.eml")
    )

    assert code == 250, reply
    message.refresh_from_db()
    assert (message.outcome, message.bounce_kind) == ("bounced", "hard")
    bounce = message.events.get(event_type=DeliveryEvent.Type.BOUNCED)
    assert bounce.provider == "dsn"
    assert bounce.mta_response.startswith("5.1.1 550 5.1.1")
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("jane@example.org", "hard_bounce")
    assert suppression.source_message_id == message.pk


def test_exchange_policy_block_is_a_block_without_suppression(bounce_listener, sent_message):
    message, address = sent_message

    code, _ = deliver(
        bounce_listener, address, dsn_for(message, address, "exchange_policy_block.eml")
    )

    assert code == 250
    message.refresh_from_db()
    assert message.bounce_kind == "block"
    assert not Suppression.objects.exists()


def test_gmail_delay_is_a_deferral(bounce_listener, sent_message):
    message, address = sent_message

    code, _ = deliver(
        bounce_listener, address, dsn_for(message, address, "gmail_over_quota_delayed.eml")
    )

    assert code == 250
    message.refresh_from_db()
    assert message.bounce_kind == ""
    deferred = message.events.get(event_type=DeliveryEvent.Type.DEFERRED)
    assert deferred.mta_response.startswith("4.2.2")
    assert not Suppression.objects.exists()


def test_same_dsn_delivered_twice_counts_once(bounce_listener, sent_message):
    message, address = sent_message
    raw = dsn_for(message, address, "postfix_user_unknown.eml")

    deliver(bounce_listener, address, raw)
    code, reply = deliver(bounce_listener, address, raw)

    assert code == 250, reply
    assert message.events.filter(event_type=DeliveryEvent.Type.BOUNCED).count() == 1


def test_forged_return_path_is_accepted_and_ignored(bounce_listener, sent_message):
    message, _ = sent_message
    other = f"bounces+{message.pk}-{'0' * 20}@example.com"

    code, reply = deliver(
        bounce_listener, other, dsn_for(message, other, "postfix_user_unknown.eml")
    )

    assert code == 250
    assert b"ignored" in reply
    message.refresh_from_db()
    assert message.bounce_kind == ""
    assert not Suppression.objects.exists()


def test_address_not_of_the_bounce_form_is_refused_at_rcpt(bounce_listener, sent_message):
    code, _ = deliver(bounce_listener, "postmaster@example.com", b"Subject: hi\r\n\r\nhello\r\n")

    assert code == 550


def test_dsn_for_a_message_that_no_longer_exists_is_ignored(bounce_listener, sent_message):
    message, _ = sent_message
    gone = return_path(message.pk + 1000, "orders@example.com")

    code, reply = deliver(bounce_listener, gone, dsn_for(message, gone, "postfix_user_unknown.eml"))

    assert code == 250
    assert b"ignored" in reply
    assert not DeliveryEvent.objects.filter(provider="dsn").exists()


def test_auto_reply_to_the_return_path_is_ignored(bounce_listener, sent_message):
    message, address = sent_message

    code, reply = deliver(bounce_listener, address, dsn_for(message, address, "out_of_office.eml"))

    assert code == 250
    assert b"not a delivery status notification" in reply
    assert not DeliveryEvent.objects.filter(provider="dsn").exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x02 not mail at all\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\r\n\r\n--\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; a\r\n\r\n"
        b"Final-Recipient: rfc822; \x00\xff@x\r\nAction: failed\r\nStatus: 5.1.1\x00\r\n--x--\r\n",
    ],
)
def test_malformed_mail_does_not_break_the_listener(bounce_listener, sent_message, raw):
    message, address = sent_message

    code, _ = deliver(bounce_listener, address, raw)
    # The listener still serves the next, real notification.
    real = dsn_for(message, address, "postfix_user_unknown.eml")
    next_code, reply = deliver(bounce_listener, address, real)

    assert code == 250
    assert next_code == 250, reply
    message.refresh_from_db()
    assert message.bounce_kind == "hard"


def test_hostile_final_recipient_is_stored_harmlessly(bounce_listener, sent_message):
    message, address = sent_message
    raw = dsn_for(message, address, "postfix_user_unknown.eml").replace(
        b"Final-Recipient: rfc822; jane@example.org",
        b"Final-Recipient: rfc822; <script>alert(1)</script>\x00@x" + b"A" * 900,
    )

    code, reply = deliver(bounce_listener, address, raw)

    assert code == 250, reply
    bounce = message.events.get(event_type=DeliveryEvent.Type.BOUNCED)
    assert "\x00" not in bounce.description
    # The suppression is of the address we sent to, not of what the report claims.
    assert list(Suppression.objects.values_list("email", flat=True)) == ["jane@example.org"]


def test_huge_mail_is_refused_and_the_listener_goes_on(bounce_listener, sent_message):
    message, address = sent_message
    huge = dsn_for(message, address, "postfix_user_unknown.eml") + (b"X" * 70 + b"\r\n") * 4000

    code, _ = deliver(bounce_listener, address, huge)
    next_code, _ = deliver(
        bounce_listener, address, dsn_for(message, address, "postfix_user_unknown.eml")
    )

    assert code == 552
    assert next_code == 250


def test_too_many_recipients_are_refused(bounce_listener, sent_message):
    message, _ = sent_message
    many = [return_path(message.pk + n, "orders@example.com") for n in range(25)]

    code, _ = deliver(bounce_listener, many, b"Subject: x\r\n\r\nx\r\n")

    assert code == 452
