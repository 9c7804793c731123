"""SMTP sinks for the benchmark: servers that accept everything and say when they accepted it.

`BuiltinSink` is an asyncio SMTP server in a process of its own; it timestamps each accepted
message (the moment it answers 250 to the end of DATA) and keeps its recipients, so a latency can
be computed per request. `PostfixSink` runs Postfix's `smtp-sink` (written in C, much faster)
where it is installed; it only counts, so it serves the throughput measurements. Both record
`time.time()`, a clock every process on the machine shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

SMTP_SINK = "/usr/sbin/smtp-sink"
EHLO_REPLY = b"250-benchmark-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"


@dataclass(frozen=True)
class Arrival:
    """One message the sink accepted: when (time.time()) and for whom (lower-case addresses)."""

    at: float
    recipients: tuple[str, ...]


class _SmtpProtocol(asyncio.Protocol):
    """Just enough SMTP for smtplib, Django's backend and pipelining clients."""

    def __init__(self, arrivals: list[Arrival]):
        self.arrivals = arrivals
        self.buffer = b""
        self.in_data = False
        self.recipients: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(b"220 benchmark-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                # The buffer keeps the CRLF before DATA's payload, so "\r\n.\r\n" also finds an
                # empty message's end.
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.arrivals.append(Arrival(time.time(), tuple(self.recipients)))
                self.recipients = []
                replies.append(b"250 2.0.0 accepted\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"RCPT":
                address = line.partition(b":")[2].strip().split(b" ")[0].strip(b"<>")
                self.recipients.append(address.decode("utf-8", "replace").lower())
                replies.append(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer
                replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
            elif verb == b"EHLO":
                replies.append(EHLO_REPLY)
            elif verb == b"MAIL" or verb == b"RSET":
                self.recipients = []
                replies.append(b"250 2.1.0 ok\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 2.0.0 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:  # HELO, NOOP and anything else
                replies.append(b"250 ok\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def _serve(host: str, port: int, control: Connection) -> None:
    """The sink process: serve SMTP, answer the parent's questions on `control`."""
    arrivals: list[Arrival] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _SmtpProtocol(arrivals), host, port, reuse_address=True, backlog=1024
        )
        stopped = loop.create_future()

        def on_command() -> None:
            command, argument = control.recv()
            if command == "count":
                control.send(len(arrivals))
            elif command == "arrivals":
                control.send(arrivals[argument:])
            elif command == "stop":
                control.send(True)
                if not stopped.done():
                    stopped.set_result(None)

        loop.add_reader(control.fileno(), on_command)
        control.send("ready")
        await stopped
        server.close()

    asyncio.run(main())


class BuiltinSink:
    """The asyncio sink, in a process of its own so that it does not share a GIL with anyone."""

    name = "builtin"
    timestamps_each_message = True

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(host, port, child), name="benchmark-sink", daemon=True
        )
        self._lock = threading.Lock()

    def start(self) -> BuiltinSink:
        self._process.start()
        if not self._control.poll(30) or self._control.recv() != "ready":
            raise RuntimeError("the built-in SMTP sink did not start")
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _ask(self, command: str, argument: int = 0):
        with self._lock:
            self._control.send((command, argument))
            return self._control.recv()

    def count(self) -> int:
        return self._ask("count")

    def arrivals(self, since: int = 0) -> list[Arrival]:
        return self._ask("arrivals", since)

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self._ask("stop")
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


class PostfixSink:
    """Postfix's smtp-sink, counting (`-c`); each count change is timestamped when read."""

    name = "smtp-sink"
    timestamps_each_message = False
    _COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, host: str, port: int, binary: str = SMTP_SINK):
        self.host, self.port = host, port
        self.binary = binary
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None

    @staticmethod
    def available(binary: str = SMTP_SINK) -> bool:
        return os.access(binary, os.X_OK) or shutil.which("smtp-sink") is not None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> PostfixSink:
        binary = self.binary if os.access(self.binary, os.X_OK) else shutil.which("smtp-sink")
        argv = [binary, "-c"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to run as root
        argv += [f"{self.host}:{self.port}", "1024"]
        self._process = subprocess.Popen(  # noqa: S603 (a fixed program and our own options)
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0
        )
        threading.Thread(target=self._read_counter, daemon=True).start()
        _wait_for_port(self.host, self.port, self._process)
        return self

    def _read_counter(self) -> None:
        # smtp-sink rewrites "\rsess=… quit=… mesg=N" whenever a message ends.
        seen = 0
        assert self._process is not None and self._process.stdout is not None
        while True:
            chunk = self._process.stdout.read(65536)
            if not chunk:
                return
            now = time.time()
            found = self._COUNTER.findall(chunk)
            if not found:
                continue
            latest = int(found[-1])
            if latest > seen:
                with self._lock:
                    self._times.extend([now] * (latest - seen))
                seen = latest

    def count(self) -> int:
        with self._lock:
            return len(self._times)

    def arrivals(self, since: int = 0) -> list[Arrival]:
        with self._lock:
            return [Arrival(at, ()) for at in self._times[since:]]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class ExternalSink:
    """An SMTP server the benchmark did not start (`--smtp HOST:PORT`): it cannot be asked
    anything, so acceptance times come from the Message rows (`sent_at`)."""

    name = "external"
    timestamps_each_message = False

    # Not ours: its CPU is not counted (triggered_email.benchmarking.cpu_use).
    pid = None

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def start(self) -> ExternalSink:
        return self

    def stop(self) -> None:
        pass


def _wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1) as sock:
                sock.recv(100)
                sock.sendall(b"QUIT\r\n")
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def make_sink(kind: str, host: str, port: int, need_timestamps: bool):
    """`auto`: smtp-sink where installed and only counting is needed, else the built-in sink."""
    if kind == "auto":
        kind = "smtp-sink" if PostfixSink.available() and not need_timestamps else "builtin"
    if kind == "smtp-sink":
        if need_timestamps:
            raise ValueError(
                "smtp-sink cannot say when it accepted which message; this mode needs the "
                "built-in sink (--sink builtin or auto)"
            )
        if not PostfixSink.available():
            raise ValueError(f"smtp-sink is not installed ({SMTP_SINK}; Debian package postfix)")
        return PostfixSink(host, port)
    if kind == "builtin":
        return BuiltinSink(host, port)
    raise ValueError(f"unknown sink {kind!r}")
