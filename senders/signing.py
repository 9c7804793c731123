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
import re
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
        headers = _parse_head(head) if separator else None
        if headers is None:  # not our generator's CRLF bytes: let dkimpy take it apart
            headers, body = dkim.rfc822_parse(message)
            headers = [(name, value) for name, value in headers]
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
        # Single spaces, no folding: this is already its own relaxed canonical form.
        unsigned = b"; ".join(b"=".join(field) for field in fields) + b"; b="
        hasher = hashlib.sha256()
        hasher.update(relaxed_headers(headers, include))
        hasher.update(b"dkim-signature:" + unsigned)
        digest = hasher.digest()
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            # RFC 8463: Ed25519 over the SHA-256 hash of the canonicalised headers.
            signature = self.key.sign(digest)
        else:
            signature = self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return _folded(fields, base64.b64encode(signature))


_WSP = re.compile(rb"[ \t]+")


def _parse_head(head: bytes) -> list[tuple[bytes, bytes]] | None:
    """(name, value) of each header field of a CRLF header block, continuation lines kept in
    the value as dkimpy keeps them; None for anything else (bare line ends, a line that is
    neither a field nor a continuation): dkimpy's parser takes those."""
    if head.count(b"\n") != head.count(b"\r\n"):
        return None
    headers: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        headers.append((name, value))
    return headers


def relaxed_headers(headers: list[tuple[bytes, bytes]], include: list[bytes]) -> bytes:
    """The signed header fields in `include` order, each the last instance not yet taken
    (RFC 6376 5.4.2), in relaxed canonical form (3.4.2), each ending in CRLF."""
    by_name: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower().rstrip(b" \t"), []).append(value)
    out = []
    for name in include:
        instances = by_name.get(name)
        if instances:
            value = _WSP.sub(b" ", instances.pop().replace(b"\r\n", b"")).strip(b" ")
            out.append(name + b":" + value + b"\r\n")
    return b"".join(out)


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
    unsigned, with a warning logged once per refresh interval.
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
