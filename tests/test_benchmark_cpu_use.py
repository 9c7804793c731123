"""The benchmark's CPU accounting (triggered_email.benchmarking.cpu_use) counts each process
under its part and turns two snapshots into milliseconds per message."""

import os
import subprocess
import sys
import time

import pytest

from triggered_email.benchmarking import cpu_use

pytestmark = pytest.mark.skipif(not cpu_use.available(), reason="needs Linux /proc")


def burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_a_process_counts_under_its_own_part():
    parts = cpu_use.Parts(pids={os.getpid(): "benchmark"})
    before = cpu_use.snapshot(parts, time.time())
    burn(0.2)
    after = cpu_use.snapshot(parts, time.time())

    assert after.seconds["benchmark"] - before.seconds["benchmark"] == pytest.approx(0.2, abs=0.05)


def test_a_started_service_counts_with_every_process_of_its_session():
    # A parent that starts a child, like gunicorn or qcluster with their workers.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nd = time.process_time() + 0.3\\nwhile time.process_time() < d: pass'])\n"
        "child.wait()\n"
    )
    service = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    parts = cpu_use.Parts(sessions={service.pid: "web"})
    before = cpu_use.snapshot(parts, time.time())
    time.sleep(0.05)
    seen = 0.0
    while service.poll() is None:
        seen = max(seen, cpu_use.snapshot(parts, time.time()).seconds.get("web", 0.0))
        time.sleep(0.02)

    assert seen - before.seconds.get("web", 0.0) >= 0.15


def test_a_process_that_ends_within_the_window_still_counts_in_its_parent():
    # A pool's forked worker, or a closed connection's PostgreSQL backend: gone by the second
    # snapshot, its time is in its parent's account of waited-for children.
    script = (
        "import subprocess, sys, time\n"
        "sys.stdin.readline()\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nd = time.process_time() + 0.3\\nwhile time.process_time() < d: pass'])\n"
        "child.wait()\n"
        "print('waited', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    service = subprocess.Popen(
        [sys.executable, "-c", script],
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        parts = cpu_use.Parts(sessions={service.pid: "web"})
        time.sleep(0.2)  # the interpreter started
        before = cpu_use.snapshot(parts, time.time())
        service.stdin.write("go\n")
        service.stdin.flush()
        assert service.stdout.readline().strip() == "waited"
        after = cpu_use.snapshot(parts, time.time())
    finally:
        service.communicate("end\n", timeout=10)

    assert after.seconds["web"] - before.seconds["web"] >= 0.25


def test_per_message_milliseconds_add_up_with_busy_cores():
    before = cpu_use.Snapshot(100.0, {"web": 1.0, "postgresql": 2.0})
    after = cpu_use.Snapshot(102.0, {"web": 1.5, "postgresql": 3.0, "sink": 0.5})

    result = cpu_use.per_message_ms(before, after, 1000)

    assert result == {
        "postgresql": 1.0,
        "sink": 0.5,
        "web": 0.5,
        "total": 2.0,
        "busy_cores": 1.0,
    }
    assert cpu_use.per_message_ms(before, after, 0) == {}
