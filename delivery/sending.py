"""Sending over the dedicated path: one connection per batch, one outcome per message.

The dedicated backend is TRIGGERED_EMAIL_BACKEND (SMTP to the dedicated MTA, or an Anymail ESP
backend), never Django's EMAIL_BACKEND, which stays for the site's own mail.

An SMTP connection is kept open by the worker process across tasks (for at most
TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS): connecting, EHLO and QUIT cost more than sending one
message, and a time-critical lane runs many one-message tasks.
"""

from __future__ import annotations

import atexit
import logging
import smtplib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.utils.module_loading import import_string

from delivery.failures import Failure, classify

logger = logging.getLogger(__name__)

# The dedicated path's SMTP backend: Django's, with pipelining (delivery.smtp_backend).
SMTP_BACKEND = "delivery.smtp_backend.EmailBackend"


@lru_cache(maxsize=8)
def is_smtp_backend(path: str) -> bool:
    """Django's SMTP backend or a subclass: it takes TRIGGERED_EMAIL_SMTP and is kept open."""
    return issubclass(import_string(path), DjangoSMTPBackend)


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
    if is_smtp_backend(settings.TRIGGERED_EMAIL_BACKEND):
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
    emails: Iterable[tuple[int, EmailMessage]],
    connection: BaseEmailBackend,
    *,
    already_open: bool = False,
    keep_open: bool = False,
    pace: Callable[[int], None] | None = None,
) -> list[SendOutcome]:
    """Send each email over `connection`, reconnecting once after a broken connection.

    `already_open`: the connection served earlier tasks; if it turns out to have been closed
    by the server meanwhile, it is reopened and the message sent again, without a failure.
    `keep_open`: leave it open afterwards (unless it broke). `pace(index)` is called before
    each email (the bulk lane gives way there). Never raises for a message's failure: every
    email gets an outcome.
    """
    outcomes: list[SendOutcome] = []
    pending = list(emails)
    if not already_open:
        try:
            connection.open()
        except Exception as exc:
            failure = classify(exc)
            logger.warning("Dedicated connection failed to open: %s", failure.reason)
            return [SendOutcome(key, failure=failure) for key, _ in pending]
    healthy = True
    try:
        for index, (key, email) in enumerate(pending):
            if pace is not None:
                pace(index)
            try:
                try:
                    # The connection is already open, so send_messages keeps it open afterwards.
                    connection.send_messages([email])
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    if not (already_open and index == 0) or not _reconnect(connection):
                        raise
                    # The kept connection had gone stale: nothing was accepted over it.
                    connection.send_messages([email])
            except Exception as exc:
                failure = classify(exc)
                outcomes.append(SendOutcome(key, failure=failure))
                if not failure.permanent and not _reconnect(connection):
                    # The MTA is gone: the rest wait for their retry instead of failing one by one.
                    outcomes.extend(
                        SendOutcome(k, failure=failure) for k, _ in pending[index + 1 :]
                    )
                    healthy = False
                    break
                continue
            refusal = _esp_refusal(email)
            if refusal is not None:
                outcomes.append(SendOutcome(key, failure=refusal))
            else:
                outcomes.append(SendOutcome(key, esp_message_id=_esp_message_id(email)))
    except BaseException:
        healthy = False
        raise
    finally:
        if not (keep_open and healthy):
            _close_quietly(connection)
    return outcomes


def _close_quietly(connection: BaseEmailBackend) -> None:
    try:
        connection.close()
    except Exception:  # closing a dead connection must not hide the outcomes
        logger.debug("Closing the dedicated connection failed", exc_info=True)


@dataclass
class _KeptConnection:
    settings_key: tuple
    connection: BaseEmailBackend
    opened_at: float
    used_at: float


_kept: _KeptConnection | None = None
# A connection idle longer than this is checked with NOOP before it is used again.
_PROBE_AFTER_IDLE_SECONDS = 5.0


def _settings_key() -> tuple:
    return (settings.TRIGGERED_EMAIL_BACKEND, tuple(sorted(settings.TRIGGERED_EMAIL_SMTP.items())))


def _still_usable(kept: _KeptConnection, now: float) -> bool:
    if kept.settings_key != _settings_key():
        return False
    if now - kept.opened_at > settings.TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS:
        return False
    smtp = getattr(kept.connection, "connection", None)
    if smtp is None:
        return False
    if now - kept.used_at > _PROBE_AFTER_IDLE_SECONDS:
        try:
            return smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False
    return True


def send_over_dedicated_path(
    emails: Iterable[tuple[int, EmailMessage]],
    pace: Callable[[int], None] | None = None,
) -> tuple[str, list[SendOutcome]]:
    """send_batch over this process's dedicated connection; returns (provider, outcomes).

    SMTP connections are kept for the next task; ESP backends get a connection per task.
    """
    global _kept
    keep = (
        is_smtp_backend(settings.TRIGGERED_EMAIL_BACKEND)
        and settings.TRIGGERED_EMAIL_SMTP_KEEP_OPEN_SECONDS > 0
    )
    now = time.monotonic()
    kept, _kept = _kept, None
    if kept is not None and keep and _still_usable(kept, now):
        connection, already_open, opened_at = kept.connection, True, kept.opened_at
    else:
        if kept is not None:
            _close_quietly(kept.connection)
        connection, already_open, opened_at = dedicated_connection(), False, now
    provider = getattr(connection, "esp_name", "smtp").lower()
    outcomes = send_batch(emails, connection, already_open=already_open, keep_open=keep, pace=pace)
    if keep and getattr(connection, "connection", None) is not None:
        _kept = _KeptConnection(_settings_key(), connection, opened_at, time.monotonic())
    return provider, outcomes


@atexit.register
def close_kept_connection() -> None:
    """Say QUIT to the MTA when the worker stops (and in tests, between servers)."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None:
        _close_quietly(kept.connection)


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
