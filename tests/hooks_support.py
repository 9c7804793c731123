"""Helpers for the webhook tests: real payloads, signatures computed as the senders compute them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from events.integrations.models import Integration
from events.integrations.presets import apply_preset

PAYLOADS = Path(__file__).resolve().parent / "payloads"


def payload(name: str) -> bytes:
    """A stored payload, byte for byte as the sender posts it (signatures cover these bytes)."""
    return (PAYLOADS / name).read_bytes()


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def stripe_signature(secrets: list[str], body: bytes, timestamp: int | None = None) -> str:
    """`t=…,v1=…[,v1=…]` as Stripe sends it (one v1 per secret while a secret is rolled)."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    parts = [f"t={t}"] + [
        "v1=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets
    ]
    return ",".join(parts)


def make_integration(event, preset: str = Integration.Preset.CUSTOM, **fields: Any) -> Integration:
    integration = Integration(name=fields.pop("name", preset), event=event)
    apply_preset(integration, preset)
    fields.setdefault("slug", preset.replace("_", "-"))
    fields.setdefault("secret", "shpss_0123456789abcdef")
    for name, value in fields.items():
        setattr(integration, name, value)
    integration.full_clean()
    integration.save()
    return integration


def post_hook(client, capture, slug: str, body: bytes | dict, **headers: str):
    """POST the raw body like the sender; work enqueued on commit runs before this returns."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    with capture(execute=True):
        return client.post(
            f"/hooks/{slug}/", data=raw, content_type="application/json", headers=headers
        )
