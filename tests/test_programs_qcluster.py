"""Real qcluster processes advance program runs; killing one mid-run loses and repeats nothing."""

import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from delivery.models import Message
from events.models import Contact, ProgramRun, ProgramRunStep
from events.programs.tasks import advance_due_runs
from tests.conftest import wait_until
from tests.programs_support import END, make_program, send

pytestmark = pytest.mark.qcluster

RUNS = 150


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (qcluster forks a sentinel, workers, a monitor …)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def kill_hard(process) -> None:
    """SIGKILL the cluster and every process it started: no cleanup, like a power cut."""
    for pid in process_tree(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_a_killed_cluster_loses_no_run_and_repeats_no_step(
    api, smtp_server, start_qcluster, settings, make_event, make_stream
):
    # Small tasks, so the cluster is in the middle of its work when it is killed; a short claim
    # timeout, so recovery need not wait minutes.
    settings.PROGRAM_RUNS_PER_TASK = 5
    settings.PROGRAM_RUN_CLAIM_TIMEOUT_SECONDS = 3
    event = make_event("signup")
    welcome = make_stream(make_event("welcome"), name="Welcome", subject="Welcome {{ event.n }}")
    make_program(event, send(welcome), END)
    emails = [f"user{n}@example.org" for n in range(RUNS)]
    Contact.objects.bulk_create(Contact(email=email) for email in emails)
    smtp_env = {
        "TRIGGERED_EMAIL_SMTP_HOST": smtp_server.host,
        "TRIGGERED_EMAIL_SMTP_PORT": str(smtp_server.port),
    }
    first = start_qcluster("transactional", **smtp_env)

    response = api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {"key_id": "3", "contacts": [{"external_id": e, "data": {"n": e}} for e in emails]},
    )
    assert response.json()["replyCode"] == 0, response.json()

    finished = ProgramRun.objects.filter(status=ProgramRun.Status.FINISHED)
    wait_until(lambda: finished.count() >= 5, timeout=60, what="the cluster to finish some runs")
    kill_hard(first)
    done_at_kill = finished.count()
    assert done_at_kill < RUNS, "the cluster finished everything before it was killed"

    start_qcluster("transactional", **smtp_env)
    deadline = time.monotonic() + 120
    while finished.count() < RUNS and time.monotonic() < deadline:
        # What the periodic schedule does each minute: recover runs the dead cluster held and
        # hand over those whose tasks it took down with it.
        advance_due_runs()
        time.sleep(1)

    assert finished.count() == RUNS
    sends = Counter(ProgramRunStep.objects.filter(kind="send").values_list("run_id", flat=True))
    assert len(sends) == RUNS and set(sends.values()) == {1}
    assert Message.objects.count() == RUNS
    assert sorted(Message.objects.values_list("recipient", flat=True)) == sorted(emails)
    # No delivery sweep runs here, so nothing the dead cluster sent can have been sent again.
    received = Counter(r for mail in smtp_server.received for r in mail.rcpt_tos)
    assert received and all(count == 1 for count in received.values())
