"""A local SMTP server that plays the dedicated MTA on a laptop: it accepts every message and
stores it as an .eml file, so `make run` needs no mail server."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class OutboxHandler:
    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        partial = self.directory / f".{name}.part"
        partial.write_bytes(header + envelope.original_content)
        # Renamed only when complete, so whoever watches the folder never reads half a file.
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


def start(directory: Path, host: str, port: int) -> Controller:
    controller = Controller(
        OutboxHandler(directory), hostname=host, port=port, enable_SMTPUTF8=True
    )
    controller.start()
    return controller
