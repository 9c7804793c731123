"""Recovery in seconds, and no orphans: real lanes (`manage.py qcluster`), a real SMTP server."""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from delivery.models import Message
from delivery.queue import enqueue
from tests.conftest import wait_until
from tests.test_sending_crash_safety import descendants, smtp_env
from triggered_email.lane_processes import WORKER_COMM

pytestmark = pytest.mark.qcluster


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def test_a_retry_goes_out_at_its_backoff_time_not_at_the_next_minute(
    start_qcluster, smtp_server, make_stream, make_queued_messages
):
    stream = make_stream()
    [message] = make_queued_messages(stream, 1, label="retry")
    start_qcluster(
        "transactional", **smtp_env(smtp_server), TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS="1"
    )
    # A message deferred earlier: due in 4 s, not with the broker (the sweep hands it over).
    due_at = timezone.now() + timedelta(seconds=4)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=due_at, queued_at=None, attempts=1)

    [mail] = smtp_server.wait_for(1, timeout=30)

    late = mail.received_at - due_at.timestamp()
    assert -0.5 < late < 5, f"sent {late:.1f} s after its backoff time"


def test_a_message_whose_task_the_broker_lost_is_handed_over_again_within_seconds(
    start_qcluster, smtp_server, make_stream, make_queued_messages
):
    stream = make_stream()
    # Handed to the broker a moment ago, but the task never arrived (Redis restarted).
    [message] = make_queued_messages(stream, 1, label="lost")
    handed_at = message.queued_at
    start_qcluster(
        "transactional",
        **smtp_env(smtp_server),
        TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS="1",
        TRIGGERED_EMAIL_TRANSACTIONAL_REQUEUE_AFTER_SECONDS="5",
    )

    [mail] = smtp_server.wait_for(1, timeout=30)

    waited = mail.received_at - handed_at.timestamp()
    # The lane's start-up counts in here; the re-hand-over itself is due at 5 s.
    assert waited < 5 + 1 + 5, f"re-handed after {waited:.1f} s"
    wait_until(lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT)


def test_killing_a_lanes_main_process_ends_its_workers(start_qcluster, smtp_server):
    lane = start_qcluster("transactional", **smtp_env(smtp_server), Q_WORKERS="2")
    # Main, sentinel, two workers, monitor, pusher.
    processes = wait_until(
        lambda: (found := descendants(lane.pid)) and len(found) >= 5 and found,
        timeout=30,
        what="the lane's processes",
    )
    time.sleep(1)  # the workers' watches are running

    os.kill(lane.pid, signal.SIGKILL)
    lane.wait(timeout=10)

    wait_until(
        lambda: not any(alive(pid) for pid in processes),
        timeout=15,
        what=f"the orphans {processes} to end",
    )


def lane_workers(lane_pid: int) -> list[int]:
    found = []
    for pid in descendants(lane_pid):
        try:
            if Path(f"/proc/{pid}/comm").read_bytes().strip() == WORKER_COMM[:15]:
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_worker_killed_while_it_waits_for_a_task_does_not_stop_its_lane(
    start_qcluster, smtp_server, make_stream, make_queued_messages
):
    # One worker: waiting for a task, it holds the lane queue's read lock.
    lane = start_qcluster("transactional", **smtp_env(smtp_server), Q_WORKERS="1")
    [idle] = wait_until(lambda: lane_workers(lane.pid), timeout=30, what="the lane's worker")
    time.sleep(1)  # in its blocking get

    os.kill(idle, signal.SIGKILL)
    wait_until(
        lambda: [pid for pid in lane_workers(lane.pid) if pid != idle],
        timeout=30,
        what="the worker's replacement",
    )
    stream = make_stream()
    messages = make_queued_messages(stream, 3, label="after-kill")
    enqueue({"transactional": [message.pk for message in messages]})

    smtp_server.wait_for(3, timeout=30)
    wait_until(
        lambda: Message.objects.filter(status=Message.Status.SENT).count() == 3,
        what="the three messages recorded as sent",
    )
