"""DKIM-signing outgoing messages in the application (TRIGGERED_EMAIL_DKIM_SIGNING=app).

dkimpy parses the message and canonicalises and hashes it (relaxed/simple, RFC 6376); the
signature itself comes from OpenSSL through `cryptography`. dkimpy's own RSA is pure Python:
about 20 ms per RSA-2048 signature, against well under 1 ms here (docs/deliverability.md).

Keys are read from the database at most once per TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS per
domain and process, so a rotation reaches every worker within that time.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import dkim
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils
from django.conf import settings
from dkim.canonicalization import CanonicalizationPolicy

from senders import key_storage
from senders.domain_names import address_domain

logger = logging.getLogger(__name__)

# relaxed/simple, dkimpy's default: relaxed headers survive an MTA's refolding; the body goes
# out as 7bit/8bit CRLF text that MTAs pass on unchanged, and simple costs next to nothing on
# our bytes (relaxed's regular expressions over the body were a third of the signing time).
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
_C_VALUE = b"relaxed/simple"
# What RFC 6376 (5.4.1) recommends signing, as far as our messages carry it.
_SIGNED = (
    b"from", b"reply-to", b"subject", b"date", b"to", b"cc", b"message-id", b"mime-version",
    b"content-type", b"content-transfer-encoding", b"in-reply-to", b"references",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post",
)  # fmt: skip
# Signed once more than they occur: nobody can add a second one on the way (RFC 6376 8.15).
_OVERSIGNED = (b"from", b"reply-to", b"subject", b"to", b"cc", b"date", b"message-id")


@dataclass(frozen=True)
class Signer:
    domain: bytes
    selector: bytes
    algorithm: bytes
    key: object  # a cryptography private key

    def sign(self, message: bytes, now: int | None = None) -> bytes:
        """The DKIM-Signature header line (CRLF-terminated) for `message`."""
        head, separator, body = message.partition(b"\r\n\r\n")
        if not separator:  # not our generator's CRLF bytes: let dkimpy take it apart
            headers, body = dkim.rfc822_parse(message)
        else:
            # Only the header block is split into lines; the body is hashed as it is.
            headers, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
        present = [name.lower() for name, _ in headers if name.lower() in _SIGNED]
        include = present + [name for name in _OVERSIGNED if name in present or name == b"from"]
        body_hash = base64.b64encode(hashlib.sha256(simple_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", self.algorithm),
            (b"c", _C_VALUE),
            (b"d", self.domain),
            (b"s", self.selector),
            (b"t", str(int(time.time() if now is None else now)).encode()),
            (b"h", b":".join(include)),
            (b"bh", body_hash),
        ]
        unsigned = b"; ".join(b"=".join(field) for field in fields) + b"; b="
        hasher = hashlib.sha256()
        dkim.hash_headers(
            hasher,
            _POLICY,
            _POLICY.canonicalize_headers(headers),
            include,
            (b"DKIM-Signature", b" " + unsigned),
            None,
        )
        digest = hasher.digest()
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            # RFC 8463: Ed25519 over the SHA-256 hash of the canonicalised headers.
            signature = self.key.sign(digest)
        else:
            signature = self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return _folded(fields, base64.b64encode(signature))


def simple_body(body: bytes) -> bytes:
    """RFC 6376 3.4.3 "simple" body canonicalisation, as dkimpy's, without regular expressions
    for a body whose every line ends in CRLF (what delivery.mime writes)."""
    stripped = body.rstrip(b"\r\n")
    suffix = body[len(stripped) :]
    if body.count(b"\n") != body.count(b"\r\n") or suffix != b"\r\n" * (len(suffix) // 2):
        return _POLICY.canonicalize_body(body)  # bare line ends: dkimpy's rules
    return stripped + b"\r\n"


def _folded(fields: list[tuple[bytes, bytes]], signature: bytes) -> bytes:
    """The header, folded between tags (never inside one) and inside b=, whose whitespace
    verifiers ignore. Relaxed canonicalisation unfolds it to the text that was hashed."""
    lines = [b"DKIM-Signature:"]
    for name, value in fields:
        tag = b" " + name + b"=" + value + b";"
        if len(lines[-1]) + len(tag) > 76:
            lines.append(b"")
        lines[-1] += tag
    chunks = [signature[start : start + 72] for start in range(0, len(signature), 72)]
    lines.append(b" b=" + chunks[0])
    lines.extend(b" " + chunk for chunk in chunks[1:])
    return b"\r\n".join(lines) + b"\r\n"


_lock = threading.Lock()
_signers: dict[str, tuple[float, list[Signer]]] = {}
_warned: dict[str, float] = {}


def forget_keys() -> None:
    """Drop the cached keys (after a rotation in this process, and between tests)."""
    with _lock:
        _signers.clear()
        _warned.clear()


def _load(domain: str) -> list[Signer]:
    from senders.models import DkimKey

    keys = DkimKey.objects.filter(domain__name=domain, state=DkimKey.State.ACTIVE).order_by(
        "algorithm"  # ed25519 first, then rsa: a receiver that knows only RSA sees it last
    )
    return [
        Signer(
            domain=domain.encode(),
            selector=key.selector.encode(),
            algorithm=key.algorithm.encode(),
            key=key_storage.open_private_key(key.sealed_private_key),
        )
        for key in keys
    ]


def signers_for(domain: str) -> list[Signer]:
    now = time.monotonic()
    cached = _signers.get(domain)
    if cached is not None and cached[0] > now:
        return cached[1]
    signers = _load(domain)
    with _lock:
        _signers[domain] = (now + settings.TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS, signers)
    return signers


@lru_cache(maxsize=256)
def _from_domain(from_address: str) -> str:
    return address_domain(from_address)


def sign_message(message: bytes, from_address: str) -> bytes:
    """`message` with DKIM-Signature headers of its sender domain's active keys prepended.

    With TRIGGERED_EMAIL_DKIM_SIGNING=mta the MTA signs and this returns `message` unchanged.
    A sender domain without keys (a stream saved before sender domains existed) is sent
    unsigned and logged once per refresh interval: the dashboard flags such domains.
    """
    if settings.TRIGGERED_EMAIL_DKIM_SIGNING != "app":
        return message
    domain = _from_domain(from_address)
    signers = signers_for(domain) if domain else []
    if not signers:
        now = time.monotonic()
        if _warned.get(domain, 0.0) <= now:
            _warned[domain] = now + settings.TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS
            logger.warning("No active DKIM key for %r: sending unsigned", domain)
        return message
    return b"".join(signer.sign(message) for signer in signers) + message
