"""What each `--mode` of `manage.py benchmark` measures, and the one JSON line it reports."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.db.models import prefetch_related_objects

from delivery.composing import build_email, render_message
from delivery.models import Message, MessageAttachment
from events.credentials import wsse_header
from events.models import Contact
from streams.models import MailStream
from triggered_email.benchmarking import cpu_use, raw, services
from triggered_email.benchmarking import dataset as data
from triggered_email.benchmarking.http import HttpClient, Reply, post_all, post_at_rate
from triggered_email.benchmarking.sink import Arrival, ExternalSink, PostfixSink, make_sink
from triggered_email.benchmarking.stats import latency_summary

MODES = ("batch", "single", "isolation", "render", "post-office")
# The targets; `targets` in the output says which this run met.
TARGET_THROUGHPUT_VS_RAW = 0.6
TARGET_ACCEPT_PER_S = 20_000
TARGET_SINGLE_P50_MS = 30
TARGET_SINGLE_P99_MS = 150
TARGET_MAX_RATE = 400
TARGET_ISOLATION_P99_FACTOR = 1.5
TARGET_RENDER_RATIO = 1.3


@dataclass
class Options:
    mode: str
    messages: int = 1000
    batch_size: int = 1000
    rate: float = 50.0
    broadcast: int = 50_000
    concurrency: int = 4
    find_max_rate: bool = False
    step_seconds: float = 5.0
    step_min_messages: int = 200
    max_rate: float = 3000.0
    p99_limit_ms: float = TARGET_SINGLE_P99_MS
    url: str = ""
    smtp: str = ""
    no_workers: bool = False
    keep: bool = False
    sink: str = "auto"
    auth: str = "token"
    lane: str = "transactional"
    warmup: int = 20
    ceiling_messages: int = 0  # 0: as many as measured, at least 5,000, at most 20,000
    stall_seconds: float = 60.0
    topology: services.Topology = field(default_factory=services.Topology)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_model() -> str:
    """What the CPU calls itself: VMs of one size differ in speed by model (docs/performance.md,
    *The machine*)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class Progress:
    """One status line on stderr every second while a phase runs."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self._status: Callable[[], str] | None = None
        self._phase = ""
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def phase(self, name: str, status: Callable[[], str] | None = None) -> None:
        self._phase, self._status, self._started = name, status, time.monotonic()
        self.write(f"[benchmark] {name}")

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            status = self._status
            if status is not None:
                try:
                    text = status()
                except Exception as exc:  # progress must never break the run
                    text = f"({exc})"
                elapsed = time.monotonic() - self._started
                self.write(f"[benchmark]   {self._phase}: {text} ({elapsed:.0f} s)")

    def close(self) -> None:
        self._stop.set()
        self._status = None


class Bench:
    """One run: sink, data, services; torn down (and cleaned up unless --keep) at the end."""

    def __init__(self, options: Options, write: Callable[[str], None]):
        self.options = options
        self.progress = Progress(write)
        self.write = write
        self.sink: Any = None
        self.sink_ceilings: dict[str, float] = {}
        self.dataset: data.Dataset | None = None
        self.services: list[services.Service] = []
        self.base_url = options.url.rstrip("/")
        self.load_start = load_average()
        self.logs = (
            Path(settings.VAR_DIR) / "benchmark" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        )

    # --- set-up -------------------------------------------------------------------------------

    def start_sink(self, need_timestamps: bool, lane: str) -> None:
        """Start the SMTP sink and measure its ceiling with messages like the stream's.

        `--sink auto` tries Postfix's smtp-sink (where installed and no per-message timestamps
        are needed) and the built-in sink, and keeps the one with the higher ceiling: on this
        project's 2-core machine the built-in sink took pipelined mail about 3x faster than
        smtp-sink, which would otherwise have been what limits the raw measurement.
        """
        self.sink_ceilings: dict[str, float] = {}
        if self.options.smtp:
            host, _, port = self.options.smtp.rpartition(":")
            self.sink = ExternalSink(host or "127.0.0.1", int(port))
            self.sink.start()
            return
        kinds = [self.options.sink]
        if self.options.sink == "auto":
            kinds = ["builtin"]
            if not need_timestamps and PostfixSink.available():
                kinds = ["smtp-sink", "builtin"]
        stream = self.dataset.streams[lane]
        template = prebuilt_message(stream)
        count = self.options.ceiling_messages or min(max(self.options.messages, 5000), 20_000)
        batch = raw.RawBatch(
            stream.sender_email, template, [self.dataset.email("ceiling", i) for i in range(count)]
        )
        best = None
        for kind in kinds:
            sink = make_sink(kind, "127.0.0.1", free_port(), need_timestamps)
            self.progress.phase(f"starting the SMTP sink ({sink.name}), measuring its ceiling")
            sink.start()
            try:
                ceiling = raw.sink_ceiling_per_s(sink.host, sink.port, batch, 2)
            except BaseException:
                sink.stop()
                raise
            self.sink_ceilings[sink.name] = round(ceiling, 1)
            if best is None or ceiling > best[1]:
                if best is not None:
                    best[0].stop()
                best = (sink, ceiling)
            else:
                sink.stop()
        self.sink = best[0]

    def create_dataset(self, lanes: Sequence[str]) -> data.Dataset:
        self.progress.phase("creating the benchmark's event, streams and credential")
        self.dataset = data.create()
        for lane in lanes:
            data.add_stream(self.dataset, lane)
        return self.dataset

    def start_services(self) -> None:
        topology = self.options.topology
        env = services.child_environment(self.sink.host, self.sink.port, topology)
        self.logs.mkdir(parents=True, exist_ok=True)
        started = []
        if not self.base_url:
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            started.append(services.start_web("127.0.0.1", port, env, topology, self.logs))
        if not self.options.no_workers:
            for lane in ("transactional", "bulk"):
                started.append(services.start_lane(lane, env, topology, self.logs))
        self.services = started
        self.progress.phase(f"starting {', '.join(s.name for s in started) or 'nothing'}")
        services.wait_for_web(self.base_url, self.services)

    def cpu_snapshot(self) -> cpu_use.Snapshot | None:
        """CPU used so far by each part of the system on this host, or None without /proc."""
        if not cpu_use.available():
            return None
        names = {"web": "web", "transactional": "transactional_lane", "bulk": "bulk_lane"}
        sessions = {
            service.process.pid: names.get(service.name, service.name)
            for service in self.services
            if service.process is not None
        }
        pids = {os.getpid(): "benchmark"}
        sink_pid = getattr(self.sink, "pid", None)
        if sink_pid is not None:
            pids[sink_pid] = "sink"
        return cpu_use.snapshot(cpu_use.Parts(sessions, pids), time.time())

    def client(self) -> HttpClient:
        assert self.dataset is not None
        ds = self.dataset
        if self.options.auth == "wsse":
            return HttpClient(
                self.base_url, lambda: {"X-WSSE": wsse_header(ds.username, ds.secret)}
            )
        static = {"Authorization": f"Token {ds.token}"}
        return HttpClient(self.base_url, lambda: static)

    def close(self) -> None:
        self.progress.close()
        for service in reversed(self.services):
            service.stop()
        if self.sink is not None:
            self.sink.stop()
        if self.dataset is not None and not self.options.keep:
            self.write("[benchmark] removing the benchmark's rows (--keep keeps them)")
            data.remove(self.dataset)
            data.vacuum()

    # --- measuring ------------------------------------------------------------------------------

    def received(self) -> int:
        """Messages the SMTP server accepted so far."""
        if isinstance(self.sink, ExternalSink):
            return Message.objects.filter(
                stream__in=self.dataset.streams.values(), status=Message.Status.SENT
            ).count()
        return self.sink.count()

    def wait_for_arrivals(self, base: int, count: int, what: str) -> list[Arrival]:
        """Wait until `count` more messages than `base` arrived; give up after a stall."""
        self.wait_for_count(lambda: self.received() - base, count, what)
        if isinstance(self.sink, ExternalSink):
            rows = Message.objects.filter(
                stream__in=self.dataset.streams.values(), status=Message.Status.SENT
            ).values_list("sent_at", "recipient")
            arrivals = sorted(
                (Arrival(at.timestamp(), (rcpt.lower(),)) for at, rcpt in rows),
                key=lambda arrival: arrival.at,
            )
            return arrivals[base:]
        return self.sink.arrivals(base)

    def wait_for_recipients(self, base: int, wanted: set[str], what: str) -> list[Arrival]:
        """Wait until every address in `wanted` got its message (other mail may arrive
        meanwhile, e.g. a broadcast); their arrivals, one per address."""
        if isinstance(self.sink, ExternalSink):
            sent = Message.objects.filter(recipient__in=wanted, status=Message.Status.SENT)
            self.wait_for_count(lambda: sent.count(), len(wanted), what)
            return [
                Arrival(at.timestamp(), (r.lower(),))
                for at, r in sent.values_list("sent_at", "recipient")
            ]
        found: dict[str, Arrival] = {}
        position = base

        def matched() -> int:
            nonlocal position
            for arrival in self.sink.arrivals(position):
                position += 1
                for recipient in arrival.recipients:
                    if recipient in wanted and recipient not in found:
                        found[recipient] = arrival
            return len(found)

        self.wait_for_count(matched, len(wanted), what)
        return list(found.values())

    def wait_for_count(self, progress: Callable[[], int], count: int, what: str) -> None:
        seen, last_change = -1, time.monotonic()
        while True:
            now_count = progress()
            if now_count >= count:
                return
            if now_count != seen:
                seen, last_change = now_count, time.monotonic()
            elif time.monotonic() - last_change > self.options.stall_seconds:
                raise RuntimeError(
                    f"{what}: {now_count} of {count} messages arrived and nothing more came for "
                    f"{self.options.stall_seconds:.0f} s; see the logs in {self.logs}"
                )
            for service in self.services:
                service.check()
            time.sleep(0.02)

    def raw_limit(self, lane: str, count: int, processes: int) -> dict[str, Any]:
        """raw_smtp_per_s for `count` messages like the stream's, with the sink's ceiling."""
        stream = self.dataset.streams[lane]
        recipients = [self.dataset.email("raw", index) for index in range(count)]
        batch = raw.RawBatch(stream.sender_email, prebuilt_message(stream), recipients)
        self.progress.phase(f"raw limit: {count} pre-built messages, {processes} smtplib processes")
        raw_per_s = raw.raw_smtp_per_s(self.sink.host, self.sink.port, batch, processes)
        return {
            "raw_smtp_per_s": round(raw_per_s, 1),
            "raw_processes": processes,
            "sink": self.sink.name,
            "sink_ceiling_per_s": self.sink_ceilings.get(self.sink.name),
            "sink_ceilings_per_s": self.sink_ceilings,
        }

    def warm_up(self, lanes: Sequence[str]) -> None:
        """A few messages per lane first: processes started, connections open, caches filled."""
        count = self.options.warmup
        if count <= 0:
            return
        self.progress.phase(f"warming up ({count} messages per lane)")
        for lane in lanes:
            emails = data.add_contacts(self.dataset, f"warm-{lane}", count)
            base = self.received()
            bodies = [single_body(email, index) for index, email in enumerate(emails)]
            replies = asyncio.run(
                _with_client(
                    self,
                    lambda c, lane=lane, bodies=bodies: post_all(
                        c, self.trigger_path(lane), bodies, 2
                    ),
                )
            )
            failed = [r for r in replies if r.status != 200]
            if failed:
                raise RuntimeError(
                    f"warm-up request failed with HTTP {failed[0].status}: {failed[0].body[:300]!r}"
                )
            self.wait_for_arrivals(base, count, f"warm-up of the {lane} lane")

    def trigger_path(self, lane: str) -> str:
        return f"/api/v2/event/{self.dataset.events[lane].pk}/trigger"

    def setup_summary(self) -> dict[str, Any]:
        topology = self.options.topology
        return {
            "database": connection.vendor,
            "broker": "redis" if settings.REDIS_URL else "orm",
            "web_workers": topology.web_workers if not self.options.url else None,
            "web_threads": topology.web_threads if not self.options.url else None,
            "transactional_workers": topology.transactional_workers,
            "bulk_workers": topology.bulk_workers,
            "bulk_nice": topology.bulk_nice,
            "bulk_sched_idle": topology.bulk_sched_idle,
            "chunk_size": settings.TRIGGERED_EMAIL_CHUNK_SIZE,
            "auth": self.options.auth,
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "python": sys.version.split()[0],
            "smtp_sink_installed": shutil.which("smtp-sink") is not None
            or os.access("/usr/sbin/smtp-sink", os.X_OK),
        }

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        result["setup"] = self.setup_summary()
        result["load_average"] = {"start": self.load_start, "end": load_average()}
        if self.options.keep and self.dataset is not None:
            result["kept"] = {
                "run": self.dataset.run,
                "events": {lane: e.pk for lane, e in self.dataset.events.items()},
                "streams": {lane: s.pk for lane, s in self.dataset.streams.items()},
                "remove_with": f"python manage.py benchmark --remove {self.dataset.run}",
            }
        return result


async def _with_client(bench: Bench, run: Callable[[HttpClient], Any]) -> Any:
    client = bench.client()
    try:
        return await run(client)
    finally:
        await client.close()


def single_body(email: str, index: int) -> bytes:
    body = {"key_id": "3", "external_id": email, "data": data.order_data(index)}
    return json.dumps(body, separators=(",", ":")).encode()


def batch_body(emails: Sequence[str], first_index: int) -> bytes:
    contacts = [
        {"external_id": email, "data": data.order_data(first_index + offset)}
        for offset, email in enumerate(emails)
    ]
    return json.dumps({"key_id": "3", "contacts": contacts}, separators=(",", ":")).encode()


def broadcast_body(emails: Sequence[str], first_index: int) -> bytes:
    recipients = [
        {"email": email, "data": data.order_data(first_index + offset)}
        for offset, email in enumerate(emails)
    ]
    return json.dumps({"recipients": recipients}, separators=(",", ":")).encode()


def prebuilt_message(stream: MailStream) -> bytes:
    """The stream's email for one recipient, fully built: what a worker hands to smtplib."""
    message = _unsaved_message(stream, 0)
    message.recipient = raw.RECIPIENT_MARK.decode()
    email = build_email(message, render_message(message))
    return email.message().as_bytes(linesep="\r\n")


def _unsaved_message(stream: MailStream, index: int, contact: Contact | None = None) -> Message:
    version = stream.current_version
    contact = contact or Contact(
        email=f"reader{index}@{data.RECIPIENT_DOMAIN}", first_name="Reader", last_name="Benchmark"
    )
    message = Message(
        pk=index + 1,
        stream=stream,
        version=version,
        contact=contact,
        recipient=contact.email,
        data=data.order_data(index),
        message_id=f"<{secrets.token_hex(16)}@example.com>",
    )
    # As a worker has them after claim(): attachments prefetched (this stream has none).
    message._prefetched_objects_cache = {"attachments": MessageAttachment.objects.none()}
    return message


def shown_rate(per_s: float | None) -> float | None:
    """A rate as printed: to a tenth of a message per second."""
    return None if per_s is None else round(per_s, 1)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def _cpu_per_message(
    before: cpu_use.Snapshot | None, after: cpu_use.Snapshot | None, messages: int
) -> dict[str, float] | None:
    if before is None or after is None:
        return None
    return cpu_use.per_message_ms(before, after, messages)


# --- the modes ---------------------------------------------------------------------------------


def run_batch(bench: Bench) -> dict[str, Any]:
    opts = bench.options
    lane = opts.lane
    ds = bench.create_dataset([lane])
    bench.start_sink(need_timestamps=False, lane=lane)
    raw_result = bench.raw_limit(lane, opts.messages, _lane_workers(bench, lane))
    bench.progress.phase(f"creating {opts.messages} contacts")
    emails = data.add_contacts(ds, "batch", opts.messages)
    bodies = [
        batch_body(emails[start : start + opts.batch_size], start)
        for start in range(0, len(emails), opts.batch_size)
    ]
    bench.start_services()
    bench.warm_up([lane])

    accepted = 0

    def on_reply(reply: Reply) -> None:
        nonlocal accepted
        if reply.status == 200:
            accepted += len(reply.json()["data"]["ids"])

    base = bench.received()
    bench.progress.phase(
        f"batch: {opts.messages} recipients in calls of {opts.batch_size}, "
        f"{opts.concurrency} at a time",
        lambda: f"accepted {accepted}, sent {bench.received() - base} of {opts.messages}",
    )
    cpu_before = bench.cpu_snapshot()
    started = time.time()
    replies = asyncio.run(
        _with_client(
            bench,
            lambda c: post_all(c, bench.trigger_path(lane), bodies, opts.concurrency, on_reply),
        )
    )
    accepted_at = max(r.finished for r in replies)
    errors = [r for r in replies if r.status != 200]
    arrivals = bench.wait_for_arrivals(base, accepted, "batch") if accepted else []
    cpu_after = bench.cpu_snapshot()
    last = max((a.at for a in arrivals), default=None)
    # A worker records its chunk's outcome after the chunk's last 250: wait for the rows too.
    sent_rows = Message.objects.filter(
        stream=ds.streams[lane], status=Message.Status.SENT, recipient__in=emails
    )
    bench.wait_for_count(sent_rows.count, accepted, "recording the outcomes")
    sent = sent_rows.count()
    accept_per_s = accepted / (accepted_at - started)
    throughput = accepted / (last - started) if last else None
    result = {
        "mode": "batch",
        "messages": opts.messages,
        "batch_size": opts.batch_size,
        "concurrency": opts.concurrency,
        "lane": lane,
        "accept_per_s": round(accept_per_s, 1),
        "throughput_per_s": shown_rate(throughput),
        **raw_result,
        # From the printed rate, so the printed ratio is exactly what a reader computes.
        "throughput_vs_raw": ratio(shown_rate(throughput), raw_result["raw_smtp_per_s"]),
        "accepted": accepted,
        "received": len(arrivals),
        "sent": sent,
        "http_errors": len(errors),
        "accept_s": round(accepted_at - started, 3),
        "total_s": None if last is None else round(last - started, 3),
        # From the first call until the last message was accepted by the SMTP server.
        "cpu_ms_per_message": _cpu_per_message(cpu_before, cpu_after, accepted),
    }
    result["targets"] = {
        "throughput_vs_raw>=0.6": bool(
            result["throughput_vs_raw"] and result["throughput_vs_raw"] >= TARGET_THROUGHPUT_VS_RAW
        ),
        "accept_per_s>=20000": accept_per_s >= TARGET_ACCEPT_PER_S,
    }
    return result


def _single_run(
    bench: Bench, lane: str, group: str, count: int, rate: float
) -> tuple[dict[str, Any], list[float], list[Arrival]]:
    """`count` single triggers at `rate`/s on `lane`; latency per message, request to 250."""
    emails = data.add_contacts(bench.dataset, group, count)
    bodies = [single_body(email, index) for index, email in enumerate(emails)]
    base = bench.received()
    answered = 0

    def on_reply(reply: Reply) -> None:
        nonlocal answered
        answered += 1

    bench.progress.phase(
        f"{group}: {count} single triggers at {rate:g}/s on the {lane} lane",
        lambda: f"answered {answered} of {count}",
    )
    replies = asyncio.run(
        _with_client(
            bench, lambda c: post_at_rate(c, bench.trigger_path(lane), bodies, rate, on_reply)
        )
    )
    started = {}
    responses = []
    errors = 0
    for email, reply in zip(emails, replies, strict=True):
        if isinstance(reply, Reply) and reply.status == 200:
            started[email] = reply.started
            responses.append(reply.finished - reply.started)
        else:
            errors += 1
    mine = bench.wait_for_recipients(base, set(started), group) if started else []
    latencies = [
        arrival.at - started[recipient]
        for arrival in mine
        for recipient in arrival.recipients
        if recipient in started
    ]
    first = min(started.values(), default=None)
    last_start = max(started.values(), default=None)
    last_arrival = max((a.at for a in mine), default=None)
    throughput = None
    if first and last_arrival and last_arrival > first:
        throughput = len(mine) / (last_arrival - first)
    summary = {
        "rate": rate,
        "achieved_rate": (
            round((len(started) - 1) / (last_start - first), 1)
            if first and last_start and last_start > first
            else None
        ),
        "requests": count,
        "http_errors": errors,
        "received": len(mine),
        "latency_ms": latency_summary(latencies),
        # The API's part of it: request start to the HTTP response.
        "response_ms": latency_summary(responses),
        "throughput_per_s": shown_rate(throughput),
    }
    return summary, latencies, mine


def _lane_workers(bench: Bench, lane: str) -> int:
    topology = bench.options.topology
    return topology.transactional_workers if lane == "transactional" else topology.bulk_workers


def run_single(bench: Bench) -> dict[str, Any]:
    opts = bench.options
    lane = opts.lane
    bench.create_dataset([lane])
    bench.start_sink(need_timestamps=True, lane=lane)
    raw_result = bench.raw_limit(lane, opts.messages, _lane_workers(bench, lane))
    bench.start_services()
    bench.warm_up([lane])
    if opts.find_max_rate:
        return _find_max_rate(bench, lane, raw_result)
    cpu_before = bench.cpu_snapshot()
    summary, _, _ = _single_run(bench, lane, "single", opts.messages, opts.rate)
    cpu_after = bench.cpu_snapshot()
    latency = summary["latency_ms"]
    result = {
        "mode": "single",
        "messages": opts.messages,
        "lane": lane,
        **summary,
        "cpu_ms_per_message": _cpu_per_message(cpu_before, cpu_after, summary["received"]),
        **raw_result,
        "throughput_vs_raw": ratio(summary["throughput_per_s"], raw_result["raw_smtp_per_s"]),
    }
    result["targets"] = {
        f"p50<={TARGET_SINGLE_P50_MS}ms": latency["p50"] is not None
        and latency["p50"] <= TARGET_SINGLE_P50_MS,
        f"p99<={TARGET_SINGLE_P99_MS}ms": latency["p99"] is not None
        and latency["p99"] <= TARGET_SINGLE_P99_MS,
    }
    return result


def rate_steps(start: float, limit: float) -> list[float]:
    """50, 100, 200, 300, … : doubling to 200, then +100 to 1000, then +200."""
    steps, rate = [], start
    while rate <= limit:
        steps.append(rate)
        rate = rate * 2 if rate < 200 else rate + 100 if rate < 1000 else rate + 200
    return steps


def _find_max_rate(bench: Bench, lane: str, raw_result: dict[str, Any]) -> dict[str, Any]:
    opts = bench.options
    steps, best = [], None
    for index, rate in enumerate(rate_steps(opts.rate, opts.max_rate)):
        # p99 needs samples: at least step_min_messages per step, however low the rate.
        count = max(opts.step_min_messages, int(rate * opts.step_seconds))
        summary, _, _ = _single_run(bench, lane, f"step{index}", count, rate)
        p99 = summary["latency_ms"]["p99"]
        ok = (
            summary["http_errors"] == 0
            and summary["received"] == count
            and p99 is not None
            and p99 <= opts.p99_limit_ms
            # An open-loop generator that cannot keep up would understate the load.
            and (summary["achieved_rate"] or 0) >= 0.9 * rate
        )
        steps.append({**summary, "ok": ok})
        if not ok:
            break
        best = rate
    result = {
        "mode": "single",
        "find_max_rate": True,
        "lane": lane,
        "p99_limit_ms": opts.p99_limit_ms,
        "max_rate_per_s": best,
        "steps": steps,
        **raw_result,
        "throughput_vs_raw": ratio(
            max((s["throughput_per_s"] or 0) for s in steps) or None, raw_result["raw_smtp_per_s"]
        ),
    }
    result["targets"] = {f"max_rate>={TARGET_MAX_RATE}/s": (best or 0) >= TARGET_MAX_RATE}
    return result


def run_isolation(bench: Bench) -> dict[str, Any]:
    opts = bench.options
    ds = bench.create_dataset(["transactional", "bulk"])
    bench.start_sink(need_timestamps=True, lane="bulk")
    raw_result = bench.raw_limit("bulk", opts.broadcast, opts.topology.bulk_workers)
    # The real thing: a broadcast stream, fed through the broadcast API, addresses that are not
    # in the contact database.
    broadcast_stream = data.add_broadcast_stream(ds)
    broadcast_emails = [ds.email("broadcast", index) for index in range(opts.broadcast)]
    per_call = min(opts.batch_size, 1000)
    bodies = [
        broadcast_body(broadcast_emails[start : start + per_call], start)
        for start in range(0, len(broadcast_emails), per_call)
    ]
    broadcast_path = f"/api/v2/email/{broadcast_stream.pk}/broadcast"
    bench.start_services()
    bench.warm_up(["transactional", "bulk"])

    idle, _, _ = _single_run(bench, "transactional", "idle", opts.messages, opts.rate)

    base = bench.received()
    bench.progress.phase(
        f"broadcast: {opts.broadcast} recipients to the bulk lane",
        lambda: f"arrived {bench.received() - base}",
    )
    broadcast_started = time.time()
    replies = asyncio.run(
        _with_client(bench, lambda c: post_all(c, broadcast_path, bodies, opts.concurrency))
    )
    broadcast_accepted = sum(len(r.json()["data"]["messages"]) for r in replies if r.status == 200)
    broadcast_accepted_at = max(r.finished for r in replies)
    loaded, _, singles = _single_run(bench, "transactional", "loaded", opts.messages, opts.rate)
    singles_done = max((a.at for a in singles), default=time.time())
    bench.progress.phase(
        "waiting for the broadcast to drain",
        lambda: f"arrived {bench.received() - base - len(singles)} of {broadcast_accepted}",
    )
    arrivals = bench.wait_for_arrivals(base, broadcast_accepted + len(singles), "broadcast")
    broadcast_set = set(broadcast_emails)
    bulk_times = [a.at for a in arrivals if any(r in broadcast_set for r in a.recipients)]
    drained_at = max(bulk_times, default=None)
    pending_when_singles_done = sum(1 for at in bulk_times if at > singles_done)
    throughput = broadcast_accepted / (drained_at - broadcast_started) if drained_at else None
    idle_p99 = idle["latency_ms"]["p99"]
    loaded_p99 = loaded["latency_ms"]["p99"]
    factor = ratio(loaded_p99, idle_p99)
    result = {
        "mode": "isolation",
        "messages": opts.messages,
        "rate": opts.rate,
        "broadcast": opts.broadcast,
        "broadcast_via": "POST /api/v2/email/{id}/broadcast on a broadcast stream (bulk lane)",
        "latency_ms": loaded["latency_ms"],
        "idle_latency_ms": idle["latency_ms"],
        "response_ms": loaded["response_ms"],
        "idle_response_ms": idle["response_ms"],
        "p99_vs_idle": factor,
        # The target is on p99; with a few hundred singles that is a handful of requests, so
        # one stall of the machine decides it. p95 says whether the broadcast itself slows them.
        "p95_vs_idle": ratio(loaded["latency_ms"]["p95"], idle["latency_ms"]["p95"]),
        "http_errors": idle["http_errors"] + loaded["http_errors"],
        "received": loaded["received"],
        "idle_received": idle["received"],
        "broadcast_accepted": broadcast_accepted,
        "broadcast_received": len(bulk_times),
        "broadcast_accept_s": round(broadcast_accepted_at - broadcast_started, 3),
        "broadcast_drain_s": (
            None if drained_at is None else round(drained_at - broadcast_started, 3)
        ),
        # > 0: the broadcast was still draining when the last single arrived, so every single
        # was measured under load.
        "broadcast_pending_after_singles": pending_when_singles_done,
        "throughput_per_s": shown_rate(throughput),
        **raw_result,
        # From the printed rate, so the printed ratio is exactly what a reader computes.
        "throughput_vs_raw": ratio(shown_rate(throughput), raw_result["raw_smtp_per_s"]),
    }
    result["targets"] = {
        f"p99<={TARGET_ISOLATION_P99_FACTOR}x_idle": factor is not None
        and factor <= TARGET_ISOLATION_P99_FACTOR,
    }
    return result


def run_render(bench: Bench) -> dict[str, Any]:
    """In-process: render + MIME build per message, against building the same email by hand."""
    opts = bench.options
    ds = bench.create_dataset([opts.lane])
    bench.start_sink(need_timestamps=False, lane=opts.lane)
    stream = MailStream.objects.select_related("current_version").get(pk=ds.streams[opts.lane].pk)
    prefetch_related_objects([stream], "attachments")
    raw_result = bench.raw_limit(opts.lane, opts.messages, 1)
    count = opts.messages
    messages = [_unsaved_message(stream, index) for index in range(count)]
    # What a worker has after rendering: the finished texts, built by hand into the same email.
    rendered = [render_message(message) for message in messages]
    from_address, reply_to = stream.from_address, stream.reply_to

    def by_hand(index: int) -> None:
        message, parts = messages[index], rendered[index]
        email = EmailMultiAlternatives(
            subject=parts.subject,
            body=parts.text,
            from_email=from_address,
            to=[message.recipient],
            reply_to=[reply_to] if reply_to else None,
            headers={"Message-ID": message.message_id},
        )
        email.attach_alternative(parts.html, "text/html")
        email.message().as_bytes(linesep="\r\n")

    def app_path(index: int) -> None:
        message = messages[index]
        build_email(message, render_message(message)).wire_bytes()

    def render_only(index: int) -> None:
        render_message(messages[index])

    kinds = {"app": app_path, "hand": by_hand, "render": render_only}
    for kind in kinds.values():  # compile templates, warm caches
        kind(0)
    passes, size = 3, 50
    chunks = [range(start, min(start + size, count)) for start in range(0, count, size)]
    best = {name: [float("inf")] * len(chunks) for name in kinds}
    bench.progress.phase(f"render: {count} messages, app path, by hand and render alone")
    for current in range(passes):
        # CPU time of this process, interleaved in chunks of 50, the best of each chunk: other
        # processes on a shared machine change the wall clock and disturb some chunks, not the
        # work done here.
        names = list(kinds)[current:] + list(kinds)[:current]
        for position, chunk in enumerate(chunks):
            for name in names:
                run_one = kinds[name]
                started = time.process_time()
                for index in chunk:
                    run_one(index)
                best[name][position] = min(best[name][position], time.process_time() - started)
    app_per_msg, hand_per_msg, render_only_per_msg = (
        sum(best[name]) / count for name in ("app", "hand", "render")
    )
    throughput = 1 / app_per_msg
    result = {
        "mode": "render",
        "messages": count,
        "render_build_us": round(app_per_msg * 1e6, 1),
        "by_hand_us": round(hand_per_msg * 1e6, 1),
        # Of render_build_us: the template render alone (the rest is building the MIME bytes).
        "render_only_us": round(render_only_per_msg * 1e6, 1),
        "render_ratio": round(app_per_msg / hand_per_msg, 3),
        # One process rendering and building, nothing sent: a worker's ceiling.
        "throughput_per_s": shown_rate(throughput),
        **raw_result,
        "throughput_vs_raw": ratio(shown_rate(throughput), raw_result["raw_smtp_per_s"]),
        "message_bytes": len(prebuilt_message(stream)),
    }
    result["targets"] = {
        f"render_ratio<={TARGET_RENDER_RATIO}": result["render_ratio"] <= TARGET_RENDER_RATIO
    }
    return result


def run_post_office(bench: Bench) -> dict[str, Any]:
    """The same order confirmations through django-post-office, to the same sink, beside the
    same raw limit: what `batch` measures of this system, measured of the mailer a Django shop
    would otherwise use (post_office_sender.py says how it is driven)."""
    opts = bench.options
    lane = opts.lane
    ds = bench.create_dataset([lane])
    bench.start_sink(need_timestamps=False, lane=lane)
    processes = _lane_workers(bench, lane)
    raw_result = bench.raw_limit(lane, opts.messages, processes)
    stream = ds.streams[lane]
    bench.logs.mkdir(parents=True, exist_ok=True)
    env = services.child_environment(bench.sink.host, bench.sink.port, opts.topology)
    sender = services.start_post_office(
        ds.run,
        opts.messages,
        {
            "sender": stream.from_address,
            "subject": stream.current_version.subject,
            "batch_size": opts.batch_size,
            "processes": processes,
            "warmup": max(opts.warmup, 0),
            "lockfile": bench.logs / "post_office",
        },
        env,
        bench.logs,
    )
    bench.services.append(sender)
    bench.progress.phase(f"starting django-post-office, warming up ({opts.warmup} messages)")
    try:
        ready = sender.hear()
    except RuntimeError as exc:
        raise RuntimeError(
            f"{exc} (django-post-office is a dev dependency: pip install -e '.[dev]')"
        ) from exc
    if ready != "ready":
        raise RuntimeError(f"django-post-office said {ready!r}, not ready; see {sender.log}")
    base = bench.received()
    bench.progress.phase(
        f"post-office: {opts.messages} messages queued in calls of {opts.batch_size}, "
        f"sent by {processes} processes",
        lambda: f"sent {bench.received() - base} of {opts.messages}",
    )
    cpu_before = bench.cpu_snapshot()
    started = time.time()
    sender.say("go")
    arrivals = bench.wait_for_arrivals(base, opts.messages, "post-office")
    cpu_after = bench.cpu_snapshot()
    report = json.loads(sender.hear())
    sender.say("keep" if opts.keep else "clean")
    sender.process.wait(60)
    last = max((a.at for a in arrivals), default=None)
    throughput = opts.messages / (last - started) if last else None
    return {
        "mode": "post-office",
        "messages": opts.messages,
        "batch_size": opts.batch_size,
        "processes": processes,
        "post_office": importlib.metadata.version("django-post-office"),
        # POST_OFFICE_BATCH_SIZE, …_THREADS_PER_PROCESS, …_LOG_LEVEL (post_office_settings.py).
        "post_office_settings": report["settings"],
        # From "go" to the last 250, as `batch` counts from its first call.
        "throughput_per_s": shown_rate(throughput),
        **raw_result,
        "throughput_vs_raw": ratio(shown_rate(throughput), raw_result["raw_smtp_per_s"]),
        "enqueue_per_s": shown_rate(opts.messages / report["enqueue_s"]),
        "enqueue_s": report["enqueue_s"],
        "send_s": report["send_s"],
        "total_s": None if last is None else round(last - started, 3),
        "received": len(arrivals),
        "sent": report["sent"],
        "failed": report["failed"] + report["queued"] + report["requeued"],
        "cpu_ms_per_message": _cpu_per_message(cpu_before, cpu_after, opts.messages),
    }


RUNNERS = {
    "batch": run_batch,
    "single": run_single,
    "isolation": run_isolation,
    "render": run_render,
    "post-office": run_post_office,
}


def run(options: Options, write: Callable[[str], None]) -> dict[str, Any]:
    """Run one mode and return its result (the command prints it as one JSON line)."""
    if options.mode == "post-office" and (options.url or options.smtp or options.no_workers):
        raise ValueError(
            "--mode post-office starts django-post-office and its own SMTP sink: --url, --smtp "
            "and --no-workers do not apply to it"
        )
    if options.no_workers and not options.smtp:
        raise ValueError(
            "--no-workers needs --smtp HOST:PORT: the SMTP server your running lanes send to"
        )
    bench = Bench(options, write)
    try:
        return bench.finish(RUNNERS[options.mode](bench))
    finally:
        bench.close()
