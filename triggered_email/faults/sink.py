"""An SMTP sink that can go down, refuse and slow down: the MTA of the fault suite.

The benchmark's built-in sink (triggered_email.benchmarking.sink), with its replies to each
message's end of data rewritten by the fault in force: `refuse` answers 451 (nothing kept),
`slow` answers after a delay, `down` stops listening and drops every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from multiprocessing.connection import Connection

from triggered_email.benchmarking.sink import Arrival, _SmtpProtocol

ACCEPTED = b"250 2.0.0 accepted\r\n"
REFUSED = b"451 4.3.0 fault suite: try again later\r\n"


class _State:
    mode = "ok"  # ok | refuse | slow | down
    delay = 0.0


class _Capture:
    """Stands in for the transport while the benchmark's protocol answers."""

    def __init__(self, real: asyncio.Transport) -> None:
        self.real, self.written = real, []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.real.close()


class _FaultyProtocol(_SmtpProtocol):
    def __init__(self, arrivals: list[Arrival], state: _State, open_: set) -> None:
        super().__init__(arrivals)
        self.state, self.open = state, open_
        self.not_before = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.open.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        real = self.transport
        before = len(self.arrivals)
        self.transport = capture = _Capture(real)
        try:
            super().data_received(data)
        finally:
            self.transport = real
        out = b"".join(capture.written)
        taken = len(self.arrivals) - before
        if taken and self.state.mode == "refuse":
            del self.arrivals[before:]
            out = out.replace(ACCEPTED, REFUSED)
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = self.state.delay * taken if self.state.mode == "slow" else 0.0
        if delay or self.not_before > now:
            # Replies stay in order: a later one never overtakes a delayed one.
            self.not_before = max(self.not_before, now) + delay
            loop.call_at(self.not_before, self._write, real, out)
        elif out:
            real.write(out)

    @staticmethod
    def _write(transport: asyncio.Transport, data: bytes) -> None:
        if data and not transport.is_closing():
            transport.write(data)


def _serve(host: str, port: int, control: Connection) -> None:
    arrivals: list[Arrival] = []
    state = _State()
    open_: set = set()

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def listen():
            return await loop.create_server(
                lambda: _FaultyProtocol(arrivals, state, open_),
                host,
                port,
                reuse_address=True,
                backlog=1024,
            )

        server = await listen()
        stopped = loop.create_future()

        async def set_mode(mode: str, delay: float) -> None:
            nonlocal server
            if mode == "down" and server is not None:
                server.close()
                server = None
                for transport in list(open_):
                    transport.abort()
            elif mode != "down" and server is None:
                server = await listen()
            state.mode, state.delay = mode, delay

        def on_command() -> None:
            command, argument = control.recv()
            if command == "count":
                control.send(len(arrivals))
            elif command == "arrivals":
                control.send(arrivals[argument:])
            elif command == "mode":
                mode, delay = argument
                task = loop.create_task(set_mode(mode, delay))
                task.add_done_callback(lambda _: control.send(True))
            elif command == "stop":
                control.send(True)
                if not stopped.done():
                    stopped.set_result(None)

        loop.add_reader(control.fileno(), on_command)
        control.send("ready")
        await stopped
        if server is not None:
            server.close()

    asyncio.run(main())


class FaultySink:
    """The sink in a process of its own; `set_mode` injects and clears the MTA's faults."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(host, port, child), name="fault-sink", daemon=True
        )
        self._lock = threading.Lock()

    def start(self) -> FaultySink:
        self._process.start()
        if not self._control.poll(30) or self._control.recv() != "ready":
            raise RuntimeError("the fault suite's SMTP sink did not start")
        return self

    def _ask(self, command: str, argument=0):
        with self._lock:
            self._control.send((command, argument))
            return self._control.recv()

    def set_mode(self, mode: str, delay: float = 0.0) -> None:
        self._ask("mode", (mode, delay))

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
