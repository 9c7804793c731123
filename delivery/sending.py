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

from delivery.failures import Failure, classify, esp_refusal_kind
from delivery.smtp_backend import Sent

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
        return Failure(
            True,
            f"ESP refused the recipient ({', '.join(sorted(status.status))})",
            bounce_kind=esp_refusal_kind(statuses=set(status.status)),
        )
    return None


def send_batch(
    emails: Iterable[tuple[int, EmailMessage]],
    connection: BaseEmailBackend,
    *,
    already_open: bool = False,
    keep_open: bool = False,
    pace: Callable[[int], None] | None = None,
    window: int | None = None,
    on_outcomes: Callable[[list[SendOutcome]], None] | None = None,
    go_on: Callable[[], bool] | None = None,
) -> list[SendOutcome]:
    """Send each email over `connection`; where the connection breaks, open a new one and go on.

    `already_open`: the connection served earlier tasks; if it turns out to have been closed
    by the server meanwhile, it is reopened and the message sent again, without a failure.
    `keep_open`: leave it open afterwards (unless it broke). `pace(index)` is called before
    each email (the bulk lane gives way there). Never raises for a message's failure: every
    email sent gets an outcome.

    `window`: the emails go in runs of at most this many (a run also ends once the MTA has
    answered for TRIGGERED_EMAIL_RECORD_WITHIN_MS), each settled with the MTA before the
    next starts, and `on_outcomes` gets each run's outcomes as soon as the MTA has answered
    for them (the caller records them: a worker that dies then leaves at most one run whose
    fate is unknown). `go_on()` is asked before each email; once it says False nothing more
    is sent and the outcomes cover only a prefix of the emails (the caller hands the rest
    back).
    """
    pending = list(emails)
    size = window or max(len(pending), 1)
    outcomes: list[SendOutcome] = []
    reported = 0

    def report() -> None:
        nonlocal reported
        if on_outcomes is not None and len(outcomes) > reported:
            on_outcomes(outcomes[reported:])
            reported = len(outcomes)

    if not already_open:
        error = _open(connection)
        if error is not None:
            failure = classify(error)
            logger.warning("Dedicated connection failed to open: %s", failure.reason)
            outcomes = [SendOutcome(key, failure=failure) for key, _ in pending]
            report()
            return outcomes
    position = 0
    may_be_stale = already_open
    healthy = True
    try:
        while position < len(pending):
            if go_on is not None and not go_on():
                break
            end = min(position + size, len(pending))
            window_ends = time.monotonic() + settings.TRIGGERED_EMAIL_RECORD_WITHIN_MS / 1000
            sent = _send_each(connection, pending[position:end], pace, position, go_on, window_ends)
            outcomes.extend(
                _outcome(key, email, result)
                # The results cover a prefix of the emails.
                for (key, email), result in zip(pending[position:end], sent.results, strict=False)
            )
            position += len(sent.results)
            if sent.broken is None:
                report()
                continue
            # A kept connection found closed before anything went out had gone stale: the
            # message is sent again over a new one, without a failure (once).
            stale = position == 0 and may_be_stale
            may_be_stale = False
            if not sent.results and not stale:
                # Broken before anything went out: that message takes the failure, so that a
                # server that always drops the connection cannot keep this loop going.
                outcomes.append(SendOutcome(pending[position][0], failure=classify(sent.broken)))
                position += 1
            report()
            if position == len(pending):
                healthy = False
                break
            error = _reopen(connection)
            if error is not None:
                # The MTA is gone: the rest wait for their retry instead of failing one by one.
                failure = classify(error)
                outcomes.extend(SendOutcome(key, failure=failure) for key, _ in pending[position:])
                report()
                healthy = False
                break
    except BaseException:
        healthy = False
        raise
    finally:
        if not (keep_open and healthy):
            _close_quietly(connection)
    return outcomes


def _send_each(
    connection: BaseEmailBackend,
    emails: list[tuple[int, EmailMessage]],
    pace: Callable[[int], None] | None,
    offset: int,
    go_on: Callable[[], bool] | None = None,
    window_ends: float | None = None,
) -> Sent:
    """The connection's own send_each (SMTP: pipelined across messages), else one by one;
    stopped early when `go_on()` says so or, after the first email, at `window_ends`."""

    def before_each(index: int) -> bool:
        if index and window_ends is not None and time.monotonic() >= window_ends:
            return False
        if go_on is not None and not go_on():
            return False
        if pace is not None:
            pace(offset + index)
        return True

    send_each = getattr(connection, "send_each", None)
    if send_each is not None:
        return send_each([email for _, email in emails], before_each)
    results: list[Exception | None] = []
    for index, (_, email) in enumerate(emails):
        if not before_each(index):
            break
        try:
            connection.send_messages([email])
        except Exception as exc:
            results.append(exc)
            if not classify(exc).permanent:
                # Transient: the session may be unusable, so the next message gets a new one.
                return Sent(results, exc)
            continue
        results.append(None)
    return Sent(results)


def _outcome(key: int, email: EmailMessage, result: Exception | None) -> SendOutcome:
    if result is not None:
        return SendOutcome(key, failure=classify(result))
    refusal = _esp_refusal(email)
    if refusal is not None:
        return SendOutcome(key, failure=refusal)
    return SendOutcome(key, esp_message_id=_esp_message_id(email))


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
    *,
    window: int | None = None,
    on_outcomes: Callable[[str, list[SendOutcome]], None] | None = None,
    go_on: Callable[[], bool] | None = None,
) -> tuple[str, list[SendOutcome]]:
    """send_batch over this process's dedicated connection; returns (provider, outcomes).

    SMTP connections are kept for the next task; ESP backends get a connection per task.
    `window`, `go_on`: as send_batch's; `on_outcomes(provider, outcomes)` gets each run's.
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
    report = None if on_outcomes is None else (lambda outcomes: on_outcomes(provider, outcomes))
    outcomes = send_batch(
        emails,
        connection,
        already_open=already_open,
        keep_open=keep,
        pace=pace,
        window=window,
        on_outcomes=report,
        go_on=go_on,
    )
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


def _open(connection: BaseEmailBackend) -> Exception | None:
    try:
        connection.open()
    except Exception as exc:
        return exc
    return None


def _reopen(connection: BaseEmailBackend) -> Exception | None:
    """After a broken connection or a transient error, start a fresh session."""
    _close_quietly(connection)
    error = _open(connection)
    if error is not None:
        logger.warning("Reconnecting to the dedicated backend failed: %s", error)
    return error
