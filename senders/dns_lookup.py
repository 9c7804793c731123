"""Asking DNS (dnspython). The one seam tests replace with recorded answers (`resolver`)."""

from __future__ import annotations

from collections.abc import Callable

import dns.exception
import dns.resolver


class LookupFailed(Exception):
    """DNS gave no usable answer (timeout, SERVFAIL, refused): the record's state is unknown."""


# Seconds for one lookup in all (retries included): a check runs on a lane worker.
LIFETIME = 4.0


def _dnspython(name: str, rdtype: str) -> list[str]:
    """The answers' text: TXT strings joined, MX as 'preference host.', CNAME as 'host.'."""
    try:
        answer = dns.resolver.resolve(name, rdtype, lifetime=LIFETIME, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as exc:
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from exc
    if rdtype == "TXT":
        # A TXT record of several strings is one value (RFC 7208 3.3, RFC 6376 3.6.2.2).
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
    return [rdata.to_text() for rdata in answer]


# (name, rdtype) -> list of answers; raises LookupFailed.
resolver: Callable[[str, str], list[str]] = _dnspython


def lookup(name: str, rdtype: str) -> list[str]:
    try:
        answers = resolver(name, rdtype)
    except LookupFailed:
        raise
    except Exception as exc:  # a resolver that answers junk must not take the check down
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(answers, list | tuple):
        raise LookupFailed(f"unusable answer of type {type(answers).__name__}")
    return [str(answer) for answer in answers]
