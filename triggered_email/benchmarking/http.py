"""The load generator: HTTP/1.1 POSTs over asyncio, cheap enough to offer hundreds of requests a
second from one process (the benchmark shares the machine with what it measures)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    started: float  # time.time() just before the request was written
    finished: float
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class HttpClient:
    """POSTs JSON to one server; keeps connections the server keeps open (gunicorn's sync
    workers close each one, so then every request opens a new connection, as a client would)."""

    def __init__(self, base_url: str, headers: Callable[[], dict[str, str]]):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError("the benchmark speaks plain http to the web server (--url http://…)")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.headers = headers
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes) -> Reply:
        started = time.time()
        head = [
            f"POST {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{name}: {value}" for name, value in self.headers().items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("the server closed the connection")
            status = int(status_line.split()[1])
            length, keep_alive = None, True
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    keep_alive = False
            payload = await (reader.readexactly(length) if length is not None else reader.read())
        except BaseException:
            writer.close()
            raise
        if keep_alive and length is not None:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return Reply(started, time.time(), status, payload)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def post_all(
    client: HttpClient,
    path: str,
    bodies: Sequence[bytes],
    concurrency: int,
    on_reply: Callable[[Reply], None] | None = None,
) -> list[Reply]:
    """Send every body, `concurrency` requests at a time, as fast as the server answers."""
    replies: list[Reply | None] = [None] * len(bodies)
    next_index = 0

    async def lane() -> None:
        nonlocal next_index
        while next_index < len(bodies):
            index = next_index
            next_index += 1
            reply = await client.post(path, bodies[index])
            replies[index] = reply
            if on_reply:
                on_reply(reply)

    await asyncio.gather(*(lane() for _ in range(max(1, concurrency))))
    return [reply for reply in replies if reply is not None]


async def post_at_rate(
    client: HttpClient,
    path: str,
    bodies: Sequence[bytes],
    rate: float,
    on_reply: Callable[[Reply], None] | None = None,
) -> list[Reply]:
    """Open loop: request i starts at start + i/rate whether or not earlier ones have finished
    (a closed loop would hide queueing delay from the latencies)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    replies: list[Reply | BaseException | None] = [None] * len(bodies)

    async def one(index: int) -> None:
        try:
            replies[index] = await client.post(path, bodies[index])
        except Exception as exc:
            replies[index] = exc
        if on_reply and isinstance(replies[index], Reply):
            on_reply(replies[index])

    tasks = []
    for index in range(len(bodies)):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index)))
    await asyncio.gather(*tasks)
    return replies
