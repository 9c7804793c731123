"""Turning what an operator types as a domain into the one form we store and look up.

Domains are stored as lower-case ASCII (IDNA, "xn--" labels for internationalised names) with no
trailing dot: that is what DNS is queried with, what the DKIM `d=` tag carries and what a
sender address's domain is compared with.
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class DomainNameError(ValueError):
    """The text is not a domain name we can send from; the message says what to fix."""


def normalise_domain(raw: str) -> str:
    """`raw` as a lower-case ASCII domain without a trailing dot, or DomainNameError."""
    value = (raw or "").strip().rstrip(".").lower()
    if not value:
        raise DomainNameError("Enter a domain name, such as mail.example.com.")
    if any(character.isspace() for character in value) or "@" in value or "/" in value:
        raise DomainNameError(
            f"{raw!r} is not a domain name: enter only the domain, such as mail.example.com "
            "(no spaces, no address, no URL)."
        )
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except (UnicodeError, ValueError) as exc:
        raise DomainNameError(
            f"{raw!r} is not a valid domain name ({exc}); enter it like mail.example.com."
        ) from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253:
        raise DomainNameError(
            f"{raw!r} is not a domain you can send from: it needs at least two labels "
            "(mail.example.com) and at most 253 characters."
        )
    bad = [label for label in labels if not _LABEL.fullmatch(label)]
    if bad:
        raise DomainNameError(
            f"{raw!r} has an invalid label {bad[0]!r}: labels are letters, digits and inner "
            "hyphens, 1 to 63 characters."
        )
    return ascii_name


def address_domain(address: str) -> str:
    """The normalised domain of an email address ('' when it has none we can use)."""
    domain = (address or "").rpartition("@")[2].strip().rstrip(">")
    try:
        return normalise_domain(domain)
    except DomainNameError:
        return ""
