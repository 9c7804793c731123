"""DKIM key pairs: generated here, private halves stored encrypted, public halves published.

A private key is encrypted (Fernet: AES-128-CBC with HMAC-SHA256) with a key derived from
SECRET_KEY by HKDF, so a database dump alone does not give anyone the right to sign mail as the
domain. Keys encrypted under an earlier SECRET_KEY still open while it is listed in
SECRET_KEY_FALLBACKS; after rotating SECRET_KEY, rotate the DKIM keys too (docs/deliverability.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"
RSA_BITS = 2048


class KeyUnavailable(Exception):
    """A stored private key cannot be opened (SECRET_KEY changed without a fallback)."""


@dataclass(frozen=True)
class NewKey:
    private_pem: bytes
    public_key: str  # the p= value of the DNS record


def generate(algorithm: str) -> NewKey:
    if algorithm == RSA:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        public_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    elif algorithm == ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463: the p= of an ed25519 key is the raw 32-byte public key.
        public_der = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raise ValueError(f"unknown DKIM algorithm {algorithm!r}")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return NewKey(private_pem=private_pem, public_key=base64.b64encode(public_der).decode())


def _fernet(secret: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"triggered-email dkim keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _keyring() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(secret) for secret in secrets])


def seal(private_pem: bytes) -> str:
    return _keyring().encrypt(private_pem).decode("ascii")


def open_private_key(sealed: str):
    """The private key object (cryptography) of a sealed PEM."""
    try:
        pem = _keyring().decrypt(sealed.encode("ascii"))
    except (InvalidToken, ValueError) as exc:
        raise KeyUnavailable(
            "the DKIM private key cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS"
        ) from exc
    return serialization.load_pem_private_key(pem, password=None)
