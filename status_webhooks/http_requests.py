"""One POST to an endpoint: to a checked address, with a hard deadline, no redirects followed,
and only the start of the answer read."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from status_webhooks.endpoint_addresses import Endpoint, resolve_allowed

EXCERPT_BYTES = 1024
USER_AGENT = "TriggeredEmail-Webhooks/1"


@dataclass
class Answer:
    status: int | None
    excerpt: str
    duration_ms: int
    error: str = ""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, endpoint: Endpoint, address: str, timeout: float):
        super().__init__(endpoint.host, endpoint.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, endpoint: Endpoint, address: str, timeout: float):
        super().__init__(
            endpoint.host, endpoint.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = address

    def connect(self) -> None:
        # Certificate checked against the URL's host name, connection to the checked address.
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(
    endpoint: Endpoint,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
) -> Answer:
    """POST `body`; never raises for what the endpoint does (AddressRefused for where it is)."""
    addresses = resolve_allowed(endpoint, allow_private)
    started = time.monotonic()
    kind = _PinnedHTTPSConnection if endpoint.scheme == "https" else _PinnedHTTPConnection
    connection = kind(endpoint, addresses[0], timeout)
    # A hard deadline for the whole exchange: an endpoint that answers a byte at a time would
    # otherwise keep every socket read just under the timeout.
    watchdog = threading.Timer(timeout, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            endpoint.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            },
        )
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
        return Answer(response.status, excerpt, _ms_since(started))
    except (OSError, http.client.HTTPException) as exc:
        elapsed = _ms_since(started)
        if elapsed >= timeout * 1000 or isinstance(exc, TimeoutError):
            return Answer(None, "", elapsed, f"no answer within {timeout:g} s")
        return Answer(None, "", elapsed, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
