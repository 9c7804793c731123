"""Where an endpoint URL may point (SSRF): only at public addresses, unless an operator allowed
internal ones for that subscription.

The host is resolved when a request is made, every address it resolves to is checked, and the
connection then goes to a checked address (http_requests pins it), so a DNS answer that changes
between the check and the connection (rebinding) cannot reach an internal address.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL is not allowed, or its host resolves to an address that is not."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str


def parse_endpoint(url: str) -> Endpoint:
    """The parts of an endpoint URL; AddressRefused says what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("the URL must not carry a user name or password")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(ord(c) < 33 or ord(c) == 127 for c in path):
        raise AddressRefused("the URL's path holds spaces or control characters")
    return Endpoint(scheme, parts.hostname, port or (443 if scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    """The address a host given as a number stands for, in any form the resolver accepts
    (127.1, 0x7f.1, 2130706433), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _plain(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1; 2002::/16 and Teredo wrap IPv4 addresses too.
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address.teredo:
            return address.teredo[1]
    return address


@functools.cache
def own_addresses() -> frozenset[IPAddress]:
    """This server's own addresses (its host name and SITE_URL's host), looked up once."""
    found: set[IPAddress] = set()
    names = {socket.gethostname(), urlsplit(settings.SITE_URL).hostname or ""}
    for name in names - {""}:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            found.add(_plain(ipaddress.ip_address(info[4][0].split("%", 1)[0])))
    return frozenset(found)


def refusal(address: IPAddress) -> str | None:
    """Why an address is not allowed for a subscription without `allow_private`, or None."""
    plain = _plain(address)
    if plain.is_loopback:
        return "loopback"
    if plain.is_link_local:
        return "link-local (cloud metadata lives here)"
    if plain.is_unspecified or plain.is_multicast or plain.is_reserved:
        return "not a unicast address"
    if plain.is_private or not plain.is_global:
        return "private or internal"
    if plain in own_addresses():
        return "this server itself"
    return None


def check_literal(url: str, allow_private: bool) -> Endpoint:
    """At save time: the URL is well formed, and a host given as an address (or `localhost`)
    is allowed. Names are resolved, and checked, at send time."""
    endpoint = parse_endpoint(url)
    if allow_private:
        return endpoint
    host = endpoint.host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        raise AddressRefused(f"{endpoint.host} is this server (loopback)")
    address = _literal(host)
    if address is not None and (why := refusal(address)):
        raise AddressRefused(f"{address} is {why}")
    return endpoint


def resolve_allowed(endpoint: Endpoint, allow_private: bool) -> list[str]:
    """Every address the host resolves to, each checked; AddressRefused if any is refused
    (a name that also resolves to an internal address is refused whole)."""
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve {endpoint.host}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        text = info[4][0]
        if not allow_private:
            why = refusal(ipaddress.ip_address(text.split("%", 1)[0]))
            if why:
                raise AddressRefused(f"{endpoint.host} resolves to {text}, which is {why}")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise AddressRefused(f"{endpoint.host} resolves to no address")
    return addresses
