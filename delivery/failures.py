"""Classifying sending failures: transient ones are retried, permanent ones fail at once."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import BadHeaderError


@dataclass(frozen=True)
class Failure:
    permanent: bool
    reason: str
    # The server's own words, e.g. "550 5.1.1 <x@example.com>: user unknown".
    mta_response: str = ""

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
        return Failure(permanent, "recipient refused by the MTA", response)
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
        return Failure(permanent, what, _smtp_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPException):
        # Disconnects and protocol errors (SMTPException is an OSError, so this comes first).
        return Failure(False, f"SMTP error: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return Failure(False, f"connection to the MTA failed: {exc}")
    if isinstance(exc, AnymailRecipientsRefused):
        return Failure(True, f"ESP refused the recipient: {exc}")
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


def backoff_seconds(attempts: int, base: int, maximum: int) -> int:
    """Exponential backoff after `attempts` tries: base, 2×base, 4×base … capped at maximum."""
    return min(maximum, base * 2 ** max(0, attempts - 1))
