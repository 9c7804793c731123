"""Reading delivery status notifications (RFC 3464): what became of which recipient.

A DSN is a multipart/report (RFC 6522) with report-type=delivery-status: a human-readable
part, a message/delivery-status part (one block of per-message fields, then one block per
recipient: Final-Recipient, Action, Status, Diagnostic-Code, …) and usually the original
message or its headers. Python's email package parses the blocks; this module picks out the
fields and never raises: mail from the internet is whatever anyone sends, so anything that is
not a DSN, or a broken one, reads as None.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as MimeMessage
from email.utils import parsedate_to_datetime

logger = logging.getLogger(__name__)

# A DSN for one message names one or a few recipients; more is not a report we sent for.
MAX_RECIPIENT_REPORTS = 50
# Values are kept in full up to this length (a Diagnostic-Code is a line or two).
MAX_VALUE_LENGTH = 2_000
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RecipientReport:
    """One per-recipient block of a DSN."""

    final_recipient: str
    action: str  # failed, delayed, delivered, relayed or expanded (RFC 3464 2.3.3)
    status: str  # an enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote server's words, e.g. "550 5.1.1 user unknown"
    remote_mta: str = ""
    original_recipient: str = ""
    last_attempt: datetime | None = None


@dataclass(frozen=True)
class DeliveryReport:
    reporting_mta: str
    recipients: list[RecipientReport] = field(default_factory=list)
    # The Message-ID of the message the report is about, from the returned headers.
    original_message_id: str = ""


def _value(block: MimeMessage, name: str) -> str:
    raw = block.get(name)
    if raw is None:
        return ""
    # NUL is refused by PostgreSQL in text columns; hostile reports carry it.
    text = _WHITESPACE.sub(" ", str(raw)).replace("\x00", "\ufffd").strip()
    return text[:MAX_VALUE_LENGTH]


def _typed(value: str) -> str:
    """ "rfc822; jane@example.org" → "jane@example.org"; "smtp; 550 …" → "550 …"."""
    _, separator, rest = value.partition(";")
    return rest.strip() if separator else value.strip()


def _when(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else None


def _delivery_status_blocks(message: MimeMessage) -> list[MimeMessage]:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, MimeMessage)]
            return []
    return []


def _original_message_id(message: MimeMessage) -> str:
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            try:
                headers = email.message_from_string(
                    part.get_payload(decode=True).decode("utf-8", "replace"),
                    policy=email.policy.compat32,
                )
            except Exception:  # a broken part: the report still counts without it
                return ""
            return _value(headers, "Message-ID")[:255]
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], MimeMessage):
                return _value(payload[0], "Message-ID")[:255]
    return ""


def parse(raw: bytes) -> DeliveryReport | None:
    """The report in `raw` (a whole mail as received), or None if it is not a DSN."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        if message.get_content_type() != "multipart/report":
            return None
        if message.get_param("report-type", "").lower() != "delivery-status":
            return None
        blocks = _delivery_status_blocks(message)
        if not blocks:
            return None
        per_message, per_recipient = blocks[0], blocks[1:]
        reports = []
        for block in per_recipient[:MAX_RECIPIENT_REPORTS]:
            action = _value(block, "Action").lower()
            final = _typed(_value(block, "Final-Recipient"))
            if not action or not final:
                continue
            reports.append(
                RecipientReport(
                    final_recipient=final[:254],
                    action=action.split()[0][:16],
                    status=_value(block, "Status")[:32],
                    diagnostic=_typed(_value(block, "Diagnostic-Code")),
                    remote_mta=_typed(_value(block, "Remote-MTA"))[:255],
                    original_recipient=_typed(_value(block, "Original-Recipient"))[:254],
                    last_attempt=_when(_value(block, "Last-Attempt-Date")),
                )
            )
        if not reports:
            return None
        return DeliveryReport(
            reporting_mta=_typed(_value(per_message, "Reporting-MTA"))[:255],
            recipients=reports,
            original_message_id=_original_message_id(message),
        )
    except Exception:  # the email package on hostile input: not a report we can read
        logger.info("Unreadable delivery status notification", exc_info=True)
        return None
