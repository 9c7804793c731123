"""Verifying that a webhook call comes from the configured sender.

Every scheme is an HMAC-SHA256 with a shared secret; the current and the previous secret are both
tried so a rotation never refuses good calls. Comparisons are constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from events.integrations.models import Integration
from triggered_email.numbers import ascii_int

SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"
STRIPE_HEADER = "Stripe-Signature"


class SignatureError(Exception):
    """The call is not signed by the configured sender; the text says what is wrong."""


def _digest(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def _header(headers: Mapping[str, str], name: str) -> str:
    # request.headers is case-insensitive; plain dicts in tests may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if not value or not value.strip():
        raise SignatureError(f"The {name} header is missing: the call is not signed.")
    return value.strip()


def _decode_base64(value: str, header: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"The {header} header is not base64.") from exc


def _decode_hex(value: str, header: str) -> bytes:
    # GitHub-style senders prefix the algorithm: "sha256=<hex>".
    if value.lower().startswith("sha256="):
        value = value[len("sha256=") :]
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise SignatureError(f"The {header} header is not hexadecimal.") from exc


def _matches(given: list[bytes], secrets: list[str], payload: bytes) -> bool:
    expected = [_digest(secret, payload) for secret in secrets]
    return any(hmac.compare_digest(g, e) for g in given for e in expected)


def verify_signature(
    integration: Integration, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    """Return if `body` is signed with one of the integration's secrets; raise SignatureError."""
    secrets = integration.secrets
    if not secrets:
        raise SignatureError("The integration has no secret configured: set one in the admin.")
    scheme = integration.verification
    if scheme == Integration.Verification.STRIPE:
        _verify_stripe(integration, headers, body, now, secrets)
        return
    if scheme == Integration.Verification.SHOPIFY:
        header = SHOPIFY_HEADER
        given = _decode_base64(_header(headers, header), header)
    elif scheme == Integration.Verification.HMAC_BASE64:
        header = integration.signature_header
        given = _decode_base64(_header(headers, header), header)
    else:
        header = integration.signature_header
        given = _decode_hex(_header(headers, header), header)
    if not _matches([given], secrets, body):
        raise SignatureError(f"The {header} signature does not match the body.")


def _verify_stripe(
    integration: Integration,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    secrets: list[str],
) -> None:
    """`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]` over "<t>.<raw body>".

    Several v1 values come while the sender rolls its secret; any one of them may match.
    """
    value = _header(headers, STRIPE_HEADER)
    timestamp = None
    signed_time = ""
    signatures: list[bytes] = []
    for item in value.split(","):
        key, _, raw = item.strip().partition("=")
        # Unix seconds in ASCII digits; "t=²" or a 400-digit number is no timestamp at all.
        if key == "t" and (seconds := ascii_int(raw)) is not None:
            timestamp, signed_time = seconds, raw
        elif key == "v1":
            try:
                signatures.append(bytes.fromhex(raw))
            except ValueError:
                continue
    if timestamp is None or not signatures:
        raise SignatureError(
            f"The {STRIPE_HEADER} header has no timestamp (t=) or no v1 signature."
        )
    age = abs(now.timestamp() - timestamp)
    if age > integration.tolerance_seconds:
        raise SignatureError(
            f"The {STRIPE_HEADER} timestamp is {int(age)} s away from now, more than the "
            f"tolerance of {integration.tolerance_seconds} s: refused as a possible replay."
        )
    # Signed as sent: "t=0123" is signed over "0123", not over "123".
    payload = signed_time.encode() + b"." + body
    if not _matches(signatures, secrets, payload):
        raise SignatureError(f"No v1 signature in {STRIPE_HEADER} matches the body.")
