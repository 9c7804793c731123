"""Where the machine's CPU went during a measurement, per part of the system (Linux `/proc`).

A rate says how fast; this says what each message cost and who paid: the web server, the lanes,
PostgreSQL, Redis, the SMTP sink and the benchmark's own client. Each part is the processes of
one kind on this host: the services the benchmark started (each in a session of its own, so a
gunicorn's or a qcluster's workers count with it), PostgreSQL's and Redis's server processes,
the sink's process and the benchmark's. A database, broker or service on another host is not
counted. A process that exits during the window counts in its parent once waited for (a pool's
forked workers, a closed connection's PostgreSQL backend); processes started during it count
whole.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Parts:
    """How to tell the parts apart: session ids of started services, and single pids."""

    sessions: dict[int, str] = field(default_factory=dict)
    pids: dict[int, str] = field(default_factory=dict)

    def of(self, pid: int, session: int, command: str) -> str | None:
        if pid in self.pids:
            return self.pids[pid]
        if session in self.sessions:
            return self.sessions[session]
        if command.startswith("postgres"):
            return "postgresql"
        if command.startswith("redis-server"):
            return "redis"
        return None


@dataclass(frozen=True)
class Snapshot:
    at: float
    seconds: dict[str, float]


def available() -> bool:
    return (PROC / "self" / "stat").exists()


def snapshot(parts: Parts, at: float) -> Snapshot:
    """CPU seconds (user + system) used so far by each part's live processes and their ended
    children."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = defaultdict(float)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:  # gone meanwhile
            continue
        # The command name in parentheses may hold spaces: the fields follow its last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        session, user, system = int(fields[3]), int(fields[11]), int(fields[12])
        # With the CPU of its children that ended and were waited for: a process that ends
        # within the window (a forked pool worker, a closed connection's PostgreSQL backend)
        # stays counted, in its parent.
        user += int(fields[13]) + int(fields[14])
        # A PostgreSQL backend's title ("postgres: 15/main: …") stands in its command line.
        title = command.decode(errors="replace")
        name = title if title.startswith("postgres") else os.path.basename(title)
        part = parts.of(int(entry.name), session, name)
        if part is not None:
            seconds[part] += (user + system) / ticks
    return Snapshot(at, dict(seconds))


def per_message_ms(before: Snapshot, after: Snapshot, messages: int) -> dict[str, float]:
    """Milliseconds of CPU per message by part, with `total` and `busy_cores` (the machine's
    cores these parts kept busy on average over the window)."""
    if messages <= 0 or after.at <= before.at:
        return {}
    used = {
        part: max(0.0, after.seconds.get(part, 0.0) - before.seconds.get(part, 0.0))
        for part in sorted(set(before.seconds) | set(after.seconds))
    }
    result = {part: round(1000 * spent / messages, 3) for part, spent in used.items()}
    result["total"] = round(1000 * sum(used.values()) / messages, 3)
    result["busy_cores"] = round(sum(used.values()) / (after.at - before.at), 2)
    return result
