"""API credentials: creating them and checking WSSE digests and tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from events.models import ApiCredential, WsseNonce
from triggered_email.row_lookup import first_where


@dataclass(frozen=True)
class IssuedCredential:
    """What a client needs; the token exists in plain text only here."""

    username: str
    secret: str
    token: str


class CredentialError(Exception):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_credential(username: str, *, name: str = "") -> IssuedCredential:
    if ApiCredential.objects.filter(username=username).exists():
        raise CredentialError(f"An API credential named {username!r} exists already.")
    secret = secrets.token_hex(24)
    token = secrets.token_urlsafe(32)
    ApiCredential.objects.create(
        name=name or username, username=username, secret=secret, token_hash=hash_token(token)
    )
    return IssuedCredential(username, secret, token)


def rotate_token(credential: ApiCredential) -> str:
    token = secrets.token_urlsafe(32)
    credential.token_hash = hash_token(token)
    credential.save(update_fields=["token_hash"])
    return token


def rotate_credential(credential: ApiCredential) -> IssuedCredential:
    """A new WSSE secret and a new token for `credential`; the old ones stop working at once.

    Both change in one UPDATE: a client holding either old value gets 401 from the next request
    on, on every web host (nothing is cached). The new values exist in plain text only in the
    returned object.
    """
    secret = secrets.token_hex(24)
    token = secrets.token_urlsafe(32)
    updated = ApiCredential.objects.filter(pk=credential.pk).update(
        secret=secret, token_hash=hash_token(token)
    )
    if not updated:
        raise CredentialError(f"The API credential {credential.username!r} no longer exists.")
    credential.secret = secret
    credential.token_hash = hash_token(token)
    return IssuedCredential(credential.username, secret, token)


def rotate_credential_named(username: str) -> IssuedCredential:
    credential = ApiCredential.objects.filter(username=username).first()
    if credential is None:
        known = ", ".join(ApiCredential.objects.values_list("username", flat=True)[:20])
        raise CredentialError(
            f"No API credential named {username!r}. "
            + (f"Existing credentials: {known}." if known else "There are no API credentials yet.")
            + " (python manage.py create_api_user NAME creates one.)"
        )
    return rotate_credential(credential)


def wsse_digest(nonce: str, created: str, secret: str) -> str:
    """Emarsys' PasswordDigest: base64(sha1_hex(nonce + created + secret))."""
    sha1_hex = hashlib.sha1((nonce + created + secret).encode()).hexdigest()  # noqa: S324
    return base64.b64encode(sha1_hex.encode()).decode()


def wsse_header(
    username: str, secret: str, *, nonce: str | None = None, created: str | None = None
) -> str:
    """An X-WSSE header value as a client builds it (used by tests, docs and the benchmark)."""
    nonce = nonce or secrets.token_hex(16)
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = wsse_digest(nonce, created, secret)
    return (
        f'UsernameToken Username="{username}", PasswordDigest="{digest}", '
        f'Nonce="{nonce}", Created="{created}"'
    )


def parse_created(created: str) -> datetime:
    value = datetime.fromisoformat(created.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def check_wsse(username: str, digest: str, nonce: str, created: str) -> ApiCredential:
    """The credential for a valid WSSE UsernameToken; raises CredentialError saying why not."""
    try:
        created_at = parse_created(created)
    except ValueError as exc:
        raise CredentialError(
            f"Created {created!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z."
        ) from exc
    window = timedelta(seconds=settings.API_WSSE_WINDOW_SECONDS)
    if abs(timezone.now() - created_at) > window:
        raise CredentialError(
            f"Created {created} is more than {window.seconds // 60} minutes from the server's "
            "time: use the current UTC time and check the client's clock."
        )
    credential = ApiCredential.objects.filter(username=username, is_active=True).first()
    # Compare anyway when the user is unknown, so timing does not reveal valid usernames.
    expected = wsse_digest(nonce, created, credential.secret if credential else "")
    if not hmac.compare_digest(expected.encode(), digest.encode()) or credential is None:
        raise CredentialError("Invalid username or password digest.")
    try:
        with transaction.atomic():
            WsseNonce.objects.create(nonce=f"{credential.pk}:{nonce}"[:255])
    except IntegrityError as exc:
        raise CredentialError(
            "This nonce was used before: send a new random Nonce with every request."
        ) from exc
    return credential


def check_token(token: str) -> ApiCredential:
    credential = first_where(ApiCredential, token_hash=hash_token(token.strip()), is_active=True)
    if credential is None:
        raise CredentialError("Invalid token.")
    return credential


def mark_used(credential: ApiCredential) -> None:
    """Record use at most once a minute: not a write per request."""
    now = timezone.now()
    if credential.last_used_at is None or now - credential.last_used_at > timedelta(minutes=1):
        ApiCredential.objects.filter(pk=credential.pk).update(last_used_at=now)


def purge_nonces() -> int:
    """Nonces older than twice the Created window can no longer be replayed."""
    cutoff = timezone.now() - timedelta(seconds=2 * settings.API_WSSE_WINDOW_SECONDS)
    deleted, _ = WsseNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted
