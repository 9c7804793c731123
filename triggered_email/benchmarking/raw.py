"""The raw limit: what the machine can push to the SMTP server with no application in the way.

`raw_smtp_per_s`: pre-built messages sent with smtplib, one persistent connection per process,
as many processes as the lane has workers. `sink_ceiling_per_s`: the same server fed by a
pipelining client that writes many transactions at once (far cheaper per message than
smtplib), to show the sink is not what limits the other numbers.
"""

from __future__ import annotations

import multiprocessing
import smtplib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

RECIPIENT_MARK = b"@@RECIPIENT@@"


def _share(batch: RawBatch, parts: int) -> list[RawBatch]:
    return [
        RawBatch(batch.sender, batch.template, batch.recipients[index::parts])
        for index in range(parts)
    ]


@dataclass(frozen=True)
class RawBatch:
    """Messages that differ only in their recipient: `template` holds RECIPIENT_MARK where the
    address goes. Each process builds its bytes before the clock starts."""

    sender: str
    template: bytes
    recipients: Sequence[str]

    def build(self) -> list[tuple[str, str, bytes]]:
        return [
            (self.sender, recipient, self.template.replace(RECIPIENT_MARK, recipient.encode()))
            for recipient in self.recipients
        ]


def _run_parallel(target, shares: list, host: str, port: int) -> float:
    """Start one process per share, release them together, return the elapsed seconds."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(shares) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(host, port, share, ready, results), daemon=True)
        for share in shares
    ]
    for process in processes:
        process.start()
    ready.wait(60)
    started = time.time()
    finished = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(10)
    errors = [item for item in finished if isinstance(item, str)]
    if errors:
        raise RuntimeError(f"raw SMTP sender failed: {errors[0]}")
    return max(finished) - started


def _smtplib_sender(host: str, port: int, batch: RawBatch, ready, results) -> None:
    try:
        messages = batch.build()
        connection = smtplib.SMTP(host, port, timeout=30)
        connection.ehlo()
        ready.wait(60)
        for sender, recipient, payload in messages:
            connection.sendmail(sender, [recipient], payload)
        connection.quit()
        results.put(time.time())
    except Exception as exc:  # reported to the parent, which raises
        results.put(f"{type(exc).__name__}: {exc}")


def raw_smtp_per_s(host: str, port: int, batch: RawBatch, processes: int) -> float:
    """Messages per second smtplib gets accepted over one connection per process."""
    elapsed = _run_parallel(_smtplib_sender, _share(batch, processes), host, port)
    return len(batch.recipients) / elapsed


def _pipelining_sender(host: str, port: int, batch: RawBatch, ready, results) -> None:
    try:
        messages = [(s, r, wire_payload(p)) for s, r, p in batch.build()]
        with socket.create_connection((host, port), timeout=30) as sock:
            stream = sock.makefile("rb")
            stream.readline()
            sock.sendall(b"EHLO ceiling\r\n")
            while stream.readline()[3:4] == b"-":
                pass
            ready.wait(60)
            window = 50  # transactions written before their replies are read
            for start in range(0, len(messages), window):
                batch = messages[start : start + window]
                sock.sendall(
                    b"".join(
                        b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n%s\r\n.\r\n"
                        % (sender.encode(), recipient.encode(), payload)
                        for sender, recipient, payload in batch
                    )
                )
                for _ in range(4 * len(batch)):  # MAIL, RCPT, DATA (354), end of data
                    reply = stream.readline()
                    if not reply or reply[:1] not in (b"2", b"3"):
                        raise RuntimeError(f"unexpected reply {reply!r}")
            sock.sendall(b"QUIT\r\n")
        results.put(time.time())
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def sink_ceiling_per_s(host: str, port: int, batch: RawBatch, processes: int = 2) -> float:
    """Messages per second the SMTP server accepts from cheap pipelining clients."""
    elapsed = _run_parallel(_pipelining_sender, _share(batch, processes), host, port)
    return len(batch.recipients) / elapsed


def wire_payload(message: bytes) -> bytes:
    """A message as it goes between DATA and the final dot: CRLF lines, dots stuffed."""
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
