"""The Standard Webhooks envelope and signature (https://www.standardwebhooks.com/), signed by
the maintained `standardwebhooks` library, so a receiver verifies with the same code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook


def envelope(webhook_id: str, event_type: str, created_at: datetime, data: dict[str, Any]) -> dict:
    """The body every endpoint receives: `{id, type, created_at, data}`."""
    return {
        "id": webhook_id,
        "type": f"message.{event_type}",
        "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def body_bytes(payload: dict[str, Any]) -> bytes:
    # Compact and stable: the same payload gives the same bytes on every attempt.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, webhook_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>` for one attempt."""
    # The library formats the timestamp from a naive-or-UTC datetime.
    at = now.astimezone(UTC)
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
