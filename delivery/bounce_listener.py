"""The bounce listener: a small SMTP server that takes in DSNs sent to VERP return paths.

`manage.py receive_bounces` runs it; the MTA that receives mail for the bounce domain hands
it mail for `bounces+…@domain` (docs/deliverability.md shows a Postfix transport). It accepts
only recipients of that form (others: 550), at most MAX_RECIPIENTS per mail, and mail up to
TRIGGERED_EMAIL_BOUNCE_MAX_BYTES (larger: 552, aiosmtpd's check while it reads).

Answers after DATA: 250 whenever the mail was dealt with, recorded or knowingly ignored
(delivery.bounce_reports says what it ignores and why); 451 when the database failed, so the
reporting MTA delivers it again later instead of it being lost.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from delivery.bounce_reports import Intake, record_notification
from delivery.return_paths import looks_like_return_path

logger = logging.getLogger(__name__)

# One DSN is for one message; a mail for many return paths is not one we caused.
MAX_RECIPIENTS = 20


def _record(return_paths: list[str], raw: bytes) -> Intake:
    # A long-running process: drop connections the database closed meanwhile, before and after.
    close_old_connections()
    try:
        return record_notification(return_paths, raw)
    finally:
        close_old_connections()


class BounceHandler:
    """aiosmtpd handler: RCPT checks the address's form, DATA records the notification."""

    def __init__(self) -> None:
        # One thread does the database work, one mail after the other: Django's connections
        # are per thread, and the event loop must not wait on the database.
        self.database_thread = ThreadPoolExecutor(1, thread_name_prefix="bounce-records")

    def close(self) -> None:
        """Close the database thread's connections and stop it."""
        self.database_thread.submit(connections.close_all).result()
        self.database_thread.shutdown()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not looks_like_return_path(address):
            return "550 5.1.1 Not a bounce address of this server"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            loop = asyncio.get_running_loop()
            intake = await loop.run_in_executor(
                self.database_thread, _record, list(envelope.rcpt_tos), raw
            )
        except DatabaseError:
            logger.exception("Could not record a bounce: the database failed")
            return "451 4.3.0 Temporary failure, try again later"
        except Exception:
            # A defect of ours on some input: the MTA keeps the mail and tries again later
            # (bounded by its queue lifetime) while the log says what broke.
            logger.exception("Could not record a bounce")
            return "451 4.3.0 Temporary failure, try again later"
        if intake.ignored:
            return f"250 2.0.0 Accepted, ignored: {intake.ignored}"
        return f"250 2.0.0 Recorded {intake.recorded} events"


class BounceListener:
    """The listener on host:port: `start()`, and `stop()` when done."""

    def __init__(self, host: str, port: int) -> None:
        self.handler = BounceHandler()
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=port,
            data_size_limit=settings.TRIGGERED_EMAIL_BOUNCE_MAX_BYTES,
            # Report bodies stay bytes; decoding them is the parser's business.
            decode_data=False,
            enable_SMTPUTF8=True,
            ident="Triggered Email bounce listener",
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.handler.close()
