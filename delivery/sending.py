"""Sending over the dedicated path: one connection per batch, one outcome per message.

The dedicated backend is TRIGGERED_EMAIL_BACKEND (SMTP to the dedicated MTA, or an Anymail ESP
backend), never Django's EMAIL_BACKEND, which stays for the site's own mail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from delivery.failures import Failure, classify

logger = logging.getLogger(__name__)

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@dataclass(frozen=True)
class SendOutcome:
    key: int
    esp_message_id: str = ""
    failure: Failure | None = None

    @property
    def sent(self) -> bool:
        return self.failure is None


def dedicated_connection() -> BaseEmailBackend:
    """A connection to the dedicated backend, configured from settings."""
    options = {}
    if settings.TRIGGERED_EMAIL_BACKEND == SMTP_BACKEND:
        options = dict(settings.TRIGGERED_EMAIL_SMTP)
    return get_connection(settings.TRIGGERED_EMAIL_BACKEND, fail_silently=False, **options)


def _esp_message_id(email: EmailMessage) -> str:
    status = getattr(email, "anymail_status", None)
    if status is None or status.message_id is None:
        return ""
    # Anymail gives a set when recipients got different ids; we send one recipient per message.
    message_id = status.message_id
    if isinstance(message_id, set):
        message_id = next(iter(message_id), None)
    return "" if message_id is None else str(message_id)


def _esp_refusal(email: EmailMessage) -> Failure | None:
    """An ESP that answered without raising can still have refused our one recipient
    (Anymail's IGNORE_RECIPIENT_STATUS)."""
    status = getattr(email, "anymail_status", None)
    if status is not None and status.status and status.status <= {"rejected", "invalid"}:
        return Failure(True, f"ESP refused the recipient ({', '.join(sorted(status.status))})")
    return None


def send_batch(
    emails: Iterable[tuple[int, EmailMessage]], connection: BaseEmailBackend
) -> list[SendOutcome]:
    """Send each email over `connection`, reconnecting once after a broken connection.

    Never raises for a message's failure: every email gets an outcome.
    """
    outcomes: list[SendOutcome] = []
    pending = list(emails)
    try:
        connection.open()
    except Exception as exc:
        failure = classify(exc)
        logger.warning("Dedicated connection failed to open: %s", failure.reason)
        return [SendOutcome(key, failure=failure) for key, _ in pending]
    try:
        for index, (key, email) in enumerate(pending):
            try:
                # The connection is already open, so send_messages keeps it open afterwards.
                connection.send_messages([email])
            except Exception as exc:
                failure = classify(exc)
                outcomes.append(SendOutcome(key, failure=failure))
                if not failure.permanent and not _reconnect(connection):
                    # The MTA is gone: the rest wait for their retry instead of failing one by one.
                    outcomes.extend(
                        SendOutcome(k, failure=failure) for k, _ in pending[index + 1 :]
                    )
                    break
                continue
            refusal = _esp_refusal(email)
            if refusal is not None:
                outcomes.append(SendOutcome(key, failure=refusal))
            else:
                outcomes.append(SendOutcome(key, esp_message_id=_esp_message_id(email)))
    finally:
        try:
            connection.close()
        except Exception:  # closing a dead connection must not hide the outcomes
            logger.debug("Closing the dedicated connection failed", exc_info=True)
    return outcomes


def _reconnect(connection: BaseEmailBackend) -> bool:
    """After a transient error the SMTP session may be unusable: start a fresh one."""
    try:
        connection.close()
    except Exception:
        logger.debug("Closing a broken connection failed", exc_info=True)
    try:
        connection.open()
    except Exception as exc:
        logger.warning("Reconnecting to the dedicated backend failed: %s", exc)
        return False
    return True
