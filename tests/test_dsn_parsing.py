"""Delivery status notifications (RFC 3464) from Postfix, Exchange and Gmail read as reports;
anything else reads as None, never as an error."""

import pytest

from delivery import dsn
from tests.bounce_fixtures import dsn_bytes

ADDRESSES = {
    "return_path": "bounces+7-0123456789abcdef0123@example.com",
    "recipient": "jane@example.org",
    "message_id": "<20261203.7.abc@example.com>",
}


def test_postfix_user_unknown():
    report = dsn.parse(dsn_bytes("postfix_user_unknown.eml", **ADDRESSES))

    assert report.reporting_mta == "mx1.mail.example.net"
    assert report.original_message_id == "<20261203.7.abc@example.com>"
    [recipient] = report.recipients
    assert recipient.final_recipient == "jane@example.org"
    assert (recipient.action, recipient.status) == ("failed", "5.1.1")
    assert recipient.diagnostic.startswith("550 5.1.1 <jane@example.org>: Recipient address")
    assert recipient.remote_mta == "mx.example.org"


def test_exchange_policy_block_with_the_whole_message_returned():
    report = dsn.parse(dsn_bytes("exchange_policy_block.eml", **ADDRESSES))

    [recipient] = report.recipients
    assert (recipient.action, recipient.status) == ("failed", "5.7.1")
    assert "blocked using Spamhaus" in recipient.diagnostic
    assert report.original_message_id == "<20261203.7.abc@example.com>"


def test_gmail_delay_notice_with_last_attempt_time():
    report = dsn.parse(dsn_bytes("gmail_over_quota_delayed.eml", **ADDRESSES))

    [recipient] = report.recipients
    assert (recipient.action, recipient.status) == ("delayed", "4.2.2")
    assert recipient.last_attempt is not None
    assert recipient.last_attempt.utcoffset().total_seconds() == -8 * 3600


def test_an_auto_reply_is_not_a_report():
    assert dsn.parse(dsn_bytes("out_of_office.eml", **ADDRESSES)) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno parts",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\n\r\n--x--\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; a\r\n\r\n"
        b"Action: failed\r\n\r\n--x--\r\n",  # no Final-Recipient
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n"
        b"\r\n--x\r\nContent-Type: message/disposition-notification\r\n\r\nA: b\r\n--x--\r\n",
        # Deeply nested multiparts.
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b0\r\n\r\n"
        + b"".join(
            f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode()
            for i in range(3000)
        ),
    ],
)
def test_malformed_input_reads_as_none(raw):
    assert dsn.parse(raw) is None


def test_hostile_values_are_cut_and_cleaned():
    raw = dsn_bytes("postfix_user_unknown.eml", **ADDRESSES).replace(
        b"Action: failed", b"Action: failed\r\nX-Junk: \x00" + b"A" * 50_000
    )
    raw = raw.replace(b"Status: 5.1.1", b"Status: 5.1.1" + b" \x00" + b"9" * 10_000)

    [recipient] = dsn.parse(raw).recipients

    assert len(recipient.status) <= 32
    assert "\x00" not in recipient.status
