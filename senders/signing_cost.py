"""What one DKIM signature costs here in CPU time (`manage.py dkim_signing_cost`), on the
demo's email."""

from __future__ import annotations

import time

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils

from senders import key_storage
from senders.signing import Signer


def demo_message() -> bytes:
    from triggered_email import demo

    html = demo.template_html().replace("\r\n", "\n").replace("\n", "\r\n").encode()
    return (
        b"From: Demo Shop <orders@example.com>\r\nTo: jane.doe@example.org\r\n"
        b"Subject: Your order #10042 is confirmed\r\nDate: Thu, 03 Dec 2026 18:00:00 +0000\r\n"
        b"Message-ID: <cost@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + html
    )


def _per_call_ms(function, count: int) -> float:
    """CPU time per call: on a shared machine, waiting for a core is not the signature's cost."""
    for _ in range(min(20, count)):
        function()
    start = time.process_time()
    for _ in range(count):
        function()
    return round((time.process_time() - start) / count * 1000, 3)


def measure(count: int = 1000) -> dict[str, float]:
    """Milliseconds per signature: ours (RSA, Ed25519), the bare OpenSSL RSA operation, and
    dkimpy's own pure-Python RSA signing for comparison."""
    message = demo_message()
    results: dict[str, float] = {"message_bytes": len(message)}
    rsa = key_storage.generate(key_storage.RSA)
    rsa_key = serialization.load_pem_private_key(rsa.private_pem, None)
    ed = key_storage.generate(key_storage.ED25519)
    ed_key = serialization.load_pem_private_key(ed.private_pem, None)
    results["rsa_sha256_ms"] = _per_call_ms(
        lambda: Signer(b"example.com", b"s", b"rsa-sha256", rsa_key).sign(message), count
    )
    results["ed25519_sha256_ms"] = _per_call_ms(
        lambda: Signer(b"example.com", b"s", b"ed25519-sha256", ed_key).sign(message), count
    )
    digest = b"\0" * 32
    results["openssl_rsa2048_operation_ms"] = _per_call_ms(
        lambda: rsa_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())), count
    )
    results["dkimpy_pure_python_rsa_ms"] = _per_call_ms(
        lambda: dkim.sign(message, b"s", b"example.com", rsa.private_pem), max(1, count // 50)
    )
    return results
