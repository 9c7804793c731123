"""Bounce kinds: the ESP's own word where it has one, else the SMTP codes, else hard."""

import pytest
from anymail.signals import AnymailTrackingEvent

from delivery.webhooks import bounce_kind


def bounced(raw=None, mta_response=None, reject_reason=None, description=None):
    return AnymailTrackingEvent(
        event_type="bounced",
        esp_event=raw or {},
        mta_response=mta_response,
        reject_reason=reject_reason,
        description=description,
    )


@pytest.mark.parametrize(
    ("esp", "raw", "expected"),
    [
        ("Postmark", {"Type": "HardBounce"}, "hard"),
        ("Postmark", {"Type": "SoftBounce"}, "soft"),
        ("Brevo", {"event": "soft_bounce"}, "soft"),
        ("Brevo", {"event": "hard_bounce"}, "hard"),
        ("Amazon SES", {"bounce": {"bounceType": "Transient"}}, "soft"),
        ("Amazon SES", {"bounce": {"bounceType": "Permanent"}}, "hard"),
        ("SendGrid", {"type": "blocked"}, "block"),
        ("SparkPost", {"msys": {"message_event": {"bounce_class": "51"}}}, "block"),
        ("SparkPost", {"msys": {"message_event": {"bounce_class": "21"}}}, "soft"),
        ("Mailjet", {"blocked": False, "hard_bounce": False}, "soft"),
    ],
)
def test_esp_words_decide_the_kind(esp, raw, expected):
    assert bounce_kind(esp, bounced(raw)) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("550 5.1.1 <x@example.com>: Recipient address rejected", "hard"),
        ("554 5.7.1 Service unavailable; client host blocked using Spamhaus", "block"),
        ("452 4.2.2 The email account that you tried to reach is over quota", "soft"),
        ("421 Try again later", "soft"),
        ("550 Requested action not taken", "hard"),
        ("", "hard"),
    ],
)
def test_smtp_codes_decide_when_the_esp_says_nothing(response, expected):
    assert bounce_kind("Mailgun", bounced(mta_response=response)) == expected


def test_reject_reason_blocked_is_a_block():
    assert bounce_kind("Mailgun", bounced(reject_reason="blocked")) == "block"
