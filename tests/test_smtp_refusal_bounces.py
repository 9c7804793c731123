"""A permanent refusal of the recipient by the dedicated MTA is a bounce: hard ones suppress
the address as an ESP's hard-bounce webhook does, policy refusals (5.7.x) are blocks."""

import smtplib

import pytest

from delivery.failures import classify
from delivery.models import DeliveryEvent, Message, Suppression

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream, make_contact):
    make_contact("jane@example.org")
    make_contact("bob@example.org")
    return make_stream()


def trigger(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": "7"}},
    )
    assert response.json()["replyCode"] == 0, response.content
    return response.json()["data"]["messages"][0]


def test_user_unknown_at_rcpt_fails_as_hard_bounce_and_suppresses(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 <jane@example.org>: user unknown"

    trigger(api, stream)

    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert (message.outcome, message.bounce_kind) == ("bounced", "hard")
    event = message.events.get()
    assert event.event_type == DeliveryEvent.Type.BOUNCED
    assert event.provider == "smtp"
    suppression = Suppression.objects.get()
    assert suppression.email == "jane@example.org"
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    assert suppression.source_message == message
    assert "5.1.1" in suppression.note


def test_next_trigger_to_a_refused_address_is_skipped_not_sent(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 user unknown"
    trigger(api, stream)
    del smtp_server.rcpt_replies["jane@example.org"]

    again = trigger(api, stream)

    assert (again["status"], again["reason"]) == ("skipped", "suppressed")
    assert smtp_server.received == []


def test_policy_refusal_is_a_block_and_does_not_suppress(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = (
        "554 5.7.1 Service unavailable; client host blocked using Spamhaus"
    )

    trigger(api, stream)

    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.bounce_kind == "block"
    assert message.events.get().bounce_kind == "block"
    assert not Suppression.objects.exists()


def test_full_mailbox_refused_for_good_is_soft_and_does_not_suppress(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "552 5.2.2 Mailbox full"

    trigger(api, stream)

    message = Message.objects.get()
    assert (message.status, message.bounce_kind) == (Message.Status.FAILED, "soft")
    assert not Suppression.objects.exists()


def test_temporary_refusal_is_retried_not_bounced(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "450 4.2.1 Mailbox busy, try later"

    trigger(api, stream)

    message = Message.objects.get()
    assert message.status == Message.Status.QUEUED
    assert message.bounce_kind == ""
    assert list(message.events.values_list("event_type", flat=True)) == ["deferred"]
    assert not Suppression.objects.exists()


def test_refused_recipient_in_a_batch_bounces_alone(api, smtp_server, stream):
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 user unknown"

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {
            "key_id": "3",
            "contacts": [{"external_id": "jane@example.org"}, {"external_id": "bob@example.org"}],
        },
    )

    assert response.json()["replyCode"] == 0
    outcomes = dict(Message.objects.values_list("recipient", "bounce_kind"))
    assert outcomes == {"jane@example.org": "hard", "bob@example.org": ""}
    assert list(Suppression.objects.values_list("email", flat=True)) == ["jane@example.org"]
    assert [m.rcpt_tos for m in smtp_server.received] == [["bob@example.org"]]


def test_recipient_refused_after_data_is_a_bounce(api, smtp_server, stream):
    # Some MTAs check the recipient only once they have the message.
    smtp_server.data_replies.append("550 5.1.1 Recipient address rejected: user unknown")

    trigger(api, stream)

    message = Message.objects.get()
    assert (message.status, message.bounce_kind) == (Message.Status.FAILED, "hard")
    assert Suppression.objects.filter(email="jane@example.org").exists()


def test_content_refused_after_data_is_a_failure_not_a_bounce(api, smtp_server, stream):
    smtp_server.data_replies.append("554 5.6.0 Message content rejected")

    trigger(api, stream)

    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.bounce_kind == ""
    assert list(message.events.values_list("event_type", flat=True)) == ["failed"]
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ((550, b"5.1.1 user unknown"), "hard"),
        ((550, b"Requested action not taken: mailbox unavailable"), "hard"),
        ((554, b"5.7.1 Relay access denied"), "block"),
        ((552, b"5.2.2 over quota"), "soft"),
        ((450, b"4.2.1 busy"), ""),
    ],
)
def test_classify_names_the_bounce_kind_of_a_recipient_refusal(reply, kind):
    failure = classify(smtplib.SMTPRecipientsRefused({"jane@example.org": reply}))

    assert failure.bounce_kind == kind
    assert failure.permanent == (reply[0] >= 500)
