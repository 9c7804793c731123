"""Classifying sending failures: transient ones are retried, permanent ones fail at once."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import BadHeaderError

from delivery.bounce_codes import ENHANCED_CODE, kind_from_enhanced, kind_from_text
from delivery.models import Message

BounceKind = Message.BounceKind


@dataclass(frozen=True)
class Failure:
    permanent: bool
    reason: str
    # The server's own words, e.g. "550 5.1.1 <x@example.com>: user unknown".
    mta_response: str = ""
    # Set when the refusal was about the recipient: hard, soft or block (Message.BounceKind).
    # The message is then recorded as bounced; a hard bounce suppresses the address.
    bounce_kind: str = ""

    def describe(self) -> str:
        return f"{self.reason}: {self.mta_response}" if self.mta_response else self.reason


def _smtp_reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def classify(exc: BaseException) -> Failure:
    """Decide whether `exc`, raised while sending one message, is worth retrying."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        permanent = all(code >= 500 for code, _ in replies)
        response = "; ".join(_smtp_reply(code, msg) for code, msg in replies)
        # A permanent refusal at RCPT is the recipient's: the same as a bounce reported later.
        kind = kind_from_text(response) if permanent else ""
        return Failure(permanent, "recipient refused by the MTA", response, kind)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # A configuration problem, not the message's: retry while an operator fixes it.
        return Failure(
            False, "SMTP authentication failed", _smtp_reply(exc.smtp_code, exc.smtp_error)
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        permanent = 500 <= exc.smtp_code < 600
        what = {
            smtplib.SMTPSenderRefused: "sender refused by the MTA",
            smtplib.SMTPDataError: "message refused by the MTA",
        }.get(type(exc), "MTA error")
        response = _smtp_reply(exc.smtp_code, exc.smtp_error)
        kind = ""
        if permanent and isinstance(exc, smtplib.SMTPDataError):
            kind = _recipient_refusal_after_data(response)
        return Failure(permanent, what, response, kind)
    if isinstance(exc, smtplib.SMTPException):
        # Disconnects and protocol errors (SMTPException is an OSError, so this comes first).
        return Failure(False, f"SMTP error: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return Failure(False, f"connection to the MTA failed: {exc}")
    if isinstance(exc, AnymailRecipientsRefused):
        return Failure(True, f"ESP refused the recipient: {exc}", bounce_kind=esp_refusal_kind(exc))
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        transient = status is None or status == 429 or status >= 500
        return Failure(not transient, f"ESP API error ({status or 'no response'}): {exc}")
    if isinstance(exc, AnymailError):
        return Failure(True, f"ESP refused the message: {exc}")
    if isinstance(exc, BadHeaderError):
        # Django refuses a header with a line break when it builds the message; the same
        # stream and data build the same header on every retry.
        return Failure(True, f"the message cannot be built: {exc}")
    if isinstance(exc, ValueError):
        # An address Django cannot encode, a header it refuses: building the MIME message
        # failed and would fail again the same way.
        return Failure(True, f"the message cannot be built: {type(exc).__name__}: {exc}")
    # Anything else is a defect or an outage we do not know; retrying is bounded by attempts.
    return Failure(False, f"{type(exc).__name__}: {exc}")


def _recipient_refusal_after_data(response: str) -> str:
    """Some MTAs check the recipient only once they have the message and refuse it after DATA
    (we send one recipient per message). Only the codes about the address or policy say so
    (RFC 3463 X.1.x address, X.2.x mailbox, X.7.x policy); a refusal of the content
    (5.3.4 too big, 5.6.x media) is the message's failure, not a bounce."""
    match = ENHANCED_CODE.search(response)
    if match is None or match.group(2) not in ("1", "2", "7"):
        return ""
    return kind_from_enhanced(match.group(0))


def esp_refusal_kind(exc: BaseException | None = None, statuses: set[str] | None = None) -> str:
    """An ESP's refusal of the recipient: "rejected" (Postmark's error 406 "inactive
    recipient", an address on the ESP's own suppression list after a hard bounce or a
    complaint) suppresses like a hard bounce; "invalid" (malformed) is a plain failure."""
    if statuses is None:
        email = getattr(exc, "email_message", None)
        status = getattr(email, "anymail_status", None)
        statuses = set(getattr(status, "status", None) or ())
    return BounceKind.HARD if "rejected" in statuses else ""


def backoff_seconds(attempts: int, base: int, maximum: int) -> int:
    """Exponential backoff after `attempts` tries: base, 2×base, 4×base … capped at maximum."""
    return min(maximum, base * 2 ** max(0, attempts - 1))
