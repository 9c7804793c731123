"""Run fault kinds against a real stack and count what the MTA got.

For each fault: a fresh web server and both lanes (triggered_email.benchmarking.services) in
front of the fault suite's sink; single triggers to distinct recipients, the fault injected
after the first half; then every accepted recipient is counted at the sink: delivered once,
duplicated, or lost (not there when the wait ends).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from triggered_email.benchmarking import dataset as data
from triggered_email.benchmarking.modes import free_port
from triggered_email.benchmarking.services import (
    Service,
    Topology,
    child_environment,
    start_lane,
    start_web,
    wait_for_web,
)
from triggered_email.faults.sink import FaultySink
from triggered_email.lane_processes import WORKER_COMM

# Faults that need no database or Redis restart: CI runs these.
SAFE_FAULTS = ("mta-down", "mta-refuse", "mta-slow", "kill-worker", "kill-lane", "kill-lane-main")
# These restart shared services with the commands given (--restart-postgres, --restart-redis).
RESTART_FAULTS = ("postgres-restart", "redis-restart")
FAULTS = SAFE_FAULTS + RESTART_FAULTS
# The MTA's pace while workers and lanes are killed: a chunk of 100 takes a few seconds.
KILL_WHILE_SLOW_SECONDS = 0.03


@dataclass
class Options:
    faults: tuple[str, ...] = SAFE_FAULTS
    messages: int = 300
    fault_seconds: float = 10.0
    slow_seconds: float = 1.5
    lease_seconds: int = 10
    wait_seconds: float = 180.0
    restart_postgres: str = ""
    restart_redis: str = ""
    logs: Path = field(default_factory=lambda: Path(settings.VAR_DIR) / "faults")


@dataclass
class Result:
    fault: str
    accepted: int = 0
    delivered_once: int = 0
    duplicates: int = 0
    lost: int = 0
    http_errors: int = 0
    recovery_s: float | None = None
    notes: str = ""

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Stack:
    """Web, both lanes and the sink, started for one fault."""

    def __init__(self, options: Options, logs: Path) -> None:
        self.sink = FaultySink("127.0.0.1", free_port()).start()
        self.env = {
            **child_environment("127.0.0.1", self.sink.port, Topology()),
            "TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS": str(options.lease_seconds),
            "TRIGGERED_EMAIL_RETRY_BASE_SECONDS": "2",
            "TRIGGERED_EMAIL_RETRY_MAX_SECONDS": "10",
            "TRIGGERED_EMAIL_MAX_ATTEMPTS": "30",
            "TRIGGERED_EMAIL_SMTP_TIMEOUT": "5",
        }
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = start_web("127.0.0.1", self.port, self.env, Topology(), logs)
        self.lanes = {lane: self.start_lane(lane) for lane in ("transactional", "bulk")}
        wait_for_web(self.url, [self.web, *self.lanes.values()])

    def start_lane(self, lane: str) -> Service:
        return start_lane(lane, self.env, Topology(), self.logs)

    def stop(self) -> None:
        for service in [self.web, *self.lanes.values()]:
            service.stop()
        self.sink.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _workers(lane: Service) -> list[int]:
    workers = []
    for pid in _tree(lane.process.pid):
        try:
            if Path(f"/proc/{pid}/comm").read_bytes().strip() == WORKER_COMM[:15]:
                workers.append(pid)
        except OSError:
            continue
    return workers


def _post_batch(url: str, token: str, event_id: int, emails: list[str]) -> list[str]:
    """One batch call; the recipients it accepted."""
    contacts = [
        {"external_id": email, "data": data.order_data(index)} for index, email in enumerate(emails)
    ]
    reply = _call(url, token, event_id, {"key_id": "3", "contacts": contacts})
    if reply is None or reply.get("replyCode") != 0:
        return []
    errors = (reply.get("data") or {}).get("errors") or {}
    return [email for email in emails if email not in errors]


def _post(url: str, token: str, event_id: int, email: str, index: int) -> bool:
    reply = _call(
        url, token, event_id, {"key_id": "3", "external_id": email, "data": data.order_data(index)}
    )
    return reply is not None and reply.get("replyCode") == 0


def _call(url: str, token: str, event_id: int, payload: dict) -> dict | None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 (our own server)
        f"{url}/api/v2/event/{event_id}/trigger",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _run_shell(command: str) -> None:
    import subprocess

    subprocess.run(command, shell=True, check=True, timeout=120)  # noqa: S602 (operator's own)


def _inject(fault: str, stack: Stack, options: Options, result: Result) -> Callable[[], None]:
    """Start `fault`; return what ends it."""
    sink = stack.sink
    if fault in ("mta-down", "mta-refuse", "mta-slow"):
        mode = fault.split("-")[1]
        sink.set_mode(mode, options.slow_seconds if mode == "slow" else 0.0)
        time.sleep(options.fault_seconds)
        return lambda: sink.set_mode("ok")
    lane = stack.lanes["transactional"]
    if fault == "kill-worker":
        workers = _workers(lane)
        for pid in workers[:1]:
            os.kill(pid, signal.SIGKILL)
        result.notes = f"killed worker {workers[:1]}"
        return lambda: None
    if fault == "kill-lane":
        os.killpg(lane.process.pid, signal.SIGKILL)
        lane.process.wait(10)
        return lambda: stack.lanes.__setitem__("transactional", stack.start_lane("transactional"))
    if fault == "kill-lane-main":
        below = _tree(lane.process.pid)
        os.kill(lane.process.pid, signal.SIGKILL)
        lane.process.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in below):
            time.sleep(0.2)
        orphans = [pid for pid in below if _alive(pid)]
        result.notes = f"orphans left: {orphans}" if orphans else "no orphans"
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        return lambda: stack.lanes.__setitem__("transactional", stack.start_lane("transactional"))
    if fault == "postgres-restart":
        _run_shell(options.restart_postgres)
        # The suite's own connection died with the server: the next query opens a new one.
        connections.close_all()
        return lambda: None
    if fault == "redis-restart":
        _run_shell(options.restart_redis)
        return lambda: None
    raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")


def run_fault(fault: str, options: Options, write: Callable[[str], None]) -> Result:
    result = Result(fault)
    logs = options.logs / fault
    logs.mkdir(parents=True, exist_ok=True)
    dataset = data.create()
    stream = data.add_stream(dataset, "transactional")
    emails = data.add_contacts(dataset, "fault", options.messages)
    stack = Stack(options, logs)
    try:
        half = len(emails) // 2
        mta_fault = fault in ("mta-down", "mta-refuse", "mta-slow")
        if not mta_fault:
            # The MTA takes its time, so that the fault finds workers in the middle of chunks.
            stack.sink.set_mode("slow", KILL_WHILE_SLOW_SECONDS)
        # The first half in one batch call (chunks of TRIGGERED_EMAIL_CHUNK_SIZE), the rest
        # as single triggers while and after the fault is in force.
        accepted = _post_batch(stack.url, dataset.token, stream.event_id, emails[:half])
        result.http_errors += half - len(accepted)
        time.sleep(0.5)
        write(f"[faults] {fault}: injecting after a batch of {half}")
        end_fault = _inject(fault, stack, options, result)
        if not mta_fault:
            end_fault()
            end_fault = lambda: None  # noqa: E731
        for index, email in enumerate(emails[half:], start=half):
            if _post(stack.url, dataset.token, stream.event_id, email, index):
                accepted.append(email)
            else:
                result.http_errors += 1
        end_fault()
        if not mta_fault:
            stack.sink.set_mode("ok")
        accepted = [email.lower() for email in accepted]
        ended_at = time.time()
        wanted = set(accepted)
        deadline = time.monotonic() + options.wait_seconds
        counts: Counter = Counter()
        while True:
            counts = Counter(r for a in stack.sink.arrivals() for r in a.recipients)
            if wanted <= set(counts) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        last = max(
            (a.at for a in stack.sink.arrivals() if any(r in wanted for r in a.recipients)),
            default=ended_at,
        )
        # Late duplicates (a lease running out) still count: give them a moment.
        time.sleep(min(options.lease_seconds + 5, 20))
        counts = Counter(r for a in stack.sink.arrivals() for r in a.recipients)
        result.accepted = len(accepted)
        result.delivered_once = sum(1 for r in wanted if counts[r] == 1)
        result.duplicates = sum(counts[r] - 1 for r in wanted if counts[r] > 1)
        result.lost = sum(1 for r in wanted if counts[r] == 0)
        result.recovery_s = round(max(last - ended_at, 0.0), 1)
        if result.lost:
            _describe_lost([r for r in wanted if counts[r] == 0], logs / "lost.txt")
    finally:
        stack.stop()
        data.remove(dataset)
    write(f"[faults] {fault}: {json.dumps(result.row())}")
    return result


def _describe_lost(recipients: list[str], path: Path) -> None:
    """Where the lost messages are: their rows and the broker's queue, for whoever reads why."""
    from django_q.models import OrmQ

    from delivery.models import Message

    fields = ("pk", "recipient", "lane", "status", "attempts", "queued_at", "claimed_at")
    fields += ("lease_until", "next_attempt_at", "last_error")
    lines = [f"at {time.strftime('%H:%M:%S')}: {len(recipients)} lost"]
    for row in Message.objects.filter(recipient__in=recipients).values_list(*fields):
        lines.append(" ".join(str(value) for value in row))
    lines.append("broker (ORM) rows: key, lock")
    lines.extend(f"{row.key} {row.lock}" for row in OrmQ.objects.all())
    path.write_text("\n".join(lines) + "\n")


def run(options: Options, write: Callable[[str], None]) -> list[Result]:
    for fault in options.faults:
        if fault == "postgres-restart" and not options.restart_postgres:
            raise ValueError("postgres-restart needs --restart-postgres COMMAND")
        if fault == "redis-restart" and not options.restart_redis:
            raise ValueError("redis-restart needs --restart-redis COMMAND")
    return [run_fault(fault, options, write) for fault in options.faults]


def table(results: list[Result]) -> str:
    header = "| fault | accepted | delivered once | duplicates | lost | recovery s | notes |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.fault} | {r.accepted} | {r.delivered_once} | {r.duplicates} | {r.lost} "
            f"| {r.recovery_s} | {r.notes} |"
        )
    return "\n".join(lines)
