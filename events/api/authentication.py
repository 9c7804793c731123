"""DRF authentication for the trigger API: Emarsys' X-WSSE, and tokens for new clients."""

from __future__ import annotations

import re

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from events.credentials import CredentialError, check_token, check_wsse, mark_used
from events.models import ApiCredential

_WSSE_FIELD = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_WSSE_REQUIRED = ("Username", "PasswordDigest", "Nonce", "Created")


class WSSEAuthentication(authentication.BaseAuthentication):
    """`X-WSSE: UsernameToken Username="…", PasswordDigest="…", Nonce="…", Created="…"`."""

    def authenticate(self, request: Request) -> tuple[ApiCredential, ApiCredential] | None:
        header = request.META.get("HTTP_X_WSSE")
        if not header:
            return None
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
        parts = authentication.get_authorization_header(request).split()
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
