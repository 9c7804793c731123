"""DRF authentication for the trigger API: Emarsys' X-WSSE, and tokens for new clients."""

from __future__ import annotations

import re

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from events.credentials import CredentialError, check_token, check_wsse, mark_used
from events.models import ApiCredential, WsseNonce

_WSSE_FIELD = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_WSSE_REQUIRED = ("Username", "PasswordDigest", "Nonce", "Created")
# A used nonce is stored as "<credential id>:<nonce>" in a 255-character column; a longer nonce
# would be cut before the replay check, so two nonces that differ only at the end would count as
# one. Room is left for a 64-bit credential id and the colon.
MAX_NONCE_CHARS = WsseNonce._meta.get_field("nonce").max_length - len(str(2**63)) - 1


class WSSEAuthentication(authentication.BaseAuthentication):
    """`X-WSSE: UsernameToken Username="…", PasswordDigest="…", Nonce="…", Created="…"`."""

    def authenticate(self, request: Request) -> tuple[ApiCredential, ApiCredential] | None:
        header = request.META.get("HTTP_X_WSSE")
        if not header:
            return None
        if _CONTROL.search(header):
            # Real servers drop such headers; PostgreSQL would refuse a NUL in the lookup.
            raise exceptions.AuthenticationFailed("The X-WSSE header has control characters.")
        if not header.strip().startswith("UsernameToken"):
            raise exceptions.AuthenticationFailed(
                "The X-WSSE header must start with UsernameToken."
            )
        fields = dict(_WSSE_FIELD.findall(header))
        missing = [name for name in _WSSE_REQUIRED if not fields.get(name)]
        if missing:
            raise exceptions.AuthenticationFailed(
                "The X-WSSE header is missing " + ", ".join(missing) + "."
            )
        if len(fields["Nonce"]) > MAX_NONCE_CHARS:
            raise exceptions.AuthenticationFailed(
                f"The X-WSSE Nonce is {len(fields['Nonce'])} characters long; at most "
                f"{MAX_NONCE_CHARS} are accepted: send a shorter random nonce (e.g. 32 hex digits)."
            )
        try:
            credential = check_wsse(
                fields["Username"], fields["PasswordDigest"], fields["Nonce"], fields["Created"]
            )
        except CredentialError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        mark_used(credential)
        return credential, credential

    def authenticate_header(self, request: Request) -> str:
        return 'WSSE profile="UsernameToken"'


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>`."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[ApiCredential, ApiCredential] | None:
        try:
            parts = authentication.get_authorization_header(request).split()
        except UnicodeEncodeError as exc:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be ISO-8859-1 text."
            ) from exc
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Token <token>' with no spaces in the token."
            )
        try:
            credential = check_token(parts[1].decode("latin-1"))
        except CredentialError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        mark_used(credential)
        return credential, credential

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
