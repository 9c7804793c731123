"""At most the messages in flight are ambiguous; a slow MTA makes sending slow, never lossy.

Real lanes (`manage.py qcluster`) against a real SMTP server that answers slowly; the test
kills a lane with SIGKILL and counts every Message-ID the server accepted.
"""

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from delivery.models import DeliveryEvent, Message
from delivery.queue import enqueue
from delivery.tasks import sweep
from tests.conftest import SmtpServer, free_port, wait_until

pytestmark = pytest.mark.qcluster


class SlowSmtpServer(SmtpServer):
    """Takes `delay` seconds to answer each message's end of data."""

    delay: float = 0.0

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp(settings):
    server = SlowSmtpServer("127.0.0.1", free_port())
    server.start()
    settings.TRIGGERED_EMAIL_SMTP = server.settings
    yield server
    server.stop()


def smtp_env(server: SmtpServer) -> dict[str, str]:
    return {
        "TRIGGERED_EMAIL_SMTP_HOST": server.host,
        "TRIGGERED_EMAIL_SMTP_PORT": str(server.port),
    }


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (Linux /proc): a lane's sentinel, workers, monitor, pusher."""
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
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_lane(process) -> None:
    """SIGKILL a lane's main process and every process below it, all at once."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def message_id_counts(server: SmtpServer) -> Counter:
    return Counter(mail.message["Message-ID"] for mail in server.received)


def test_a_killed_lane_resends_at_most_its_open_window(
    start_qcluster, slow_smtp, make_stream, make_queued_messages
):
    stream = make_stream()
    messages = make_queued_messages(stream, 30, label="crash")
    slow_smtp.delay = 0.1
    lane_env = {
        **smtp_env(slow_smtp),
        # A short lease, so that the test need not wait long for the sweep to see it lapse.
        "TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS": "3",
        "TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS": "0",
    }
    lane = start_qcluster("transactional", **lane_env)
    enqueue({"transactional": [m.pk for m in messages]})

    slow_smtp.wait_for(12, timeout=60)
    kill_lane(lane)
    accepted_before_kill = len(slow_smtp.received)
    assert accepted_before_kill < 30, "the lane finished before it was killed"

    # The dead worker's lease lapses; the sweep queues its rows again for a new lane.
    time.sleep(3.5)
    revived = sweep()["revived"]
    start_qcluster("transactional", **lane_env)
    wait_until(
        lambda: Message.objects.filter(status=Message.Status.SENT).count() == 30,
        timeout=60,
        what="all 30 sent",
    )

    counts = message_id_counts(slow_smtp)
    assert set(counts) == {m.message_id for m in messages}
    twice = {message_id for message_id, count in counts.items() if count > 1}
    # The open window: under an MTA this slow (0.1 s a message, TRIGGERED_EMAIL_RECORD_WITHIN_MS
    # is 100) each answer is recorded on its own, so at most the message answered but not yet
    # recorded and the one on the wire (pipelined).
    assert len(twice) <= 2, f"{len(twice)} sent twice: {sorted(twice)}"
    assert max(counts.values()) <= 2
    # Revived: the open window and the chunk's messages not started yet (unknown to the sweep).
    assert revived >= len(twice)
    for message in Message.objects.filter(message_id__in=twice):
        assert message.attempts == 2
        unknown = message.events.get(event_type=DeliveryEvent.Type.UNKNOWN)
        assert "may have been sent" in unknown.description


def test_a_persistently_slow_mta_makes_sending_slow_not_lossy(
    start_qcluster, slow_smtp, make_stream, make_queued_messages
):
    # Each message takes 1.2 s; a task may run 6 s (django-q2 kills it then). Before tasks
    # were bounded by time, the first five were sent, never recorded, and sent again each
    # time the sweep revived the chunk; the rest never went out.
    stream = make_stream()
    messages = make_queued_messages(stream, 8, label="slow")
    slow_smtp.delay = 1.2
    start_qcluster(
        "transactional",
        **smtp_env(slow_smtp),
        Q_TASK_TIMEOUT="6",
        TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS="3",
        TRIGGERED_EMAIL_SWEEP_EVERY_SECONDS="0",
    )
    enqueue({"transactional": [m.pk for m in messages]})

    def all_sent() -> bool:
        # The sweep runs meanwhile, as in production: it must find no lapsed lease.
        sweep()
        return Message.objects.filter(status=Message.Status.SENT).count() == 8

    wait_until(all_sent, timeout=90, what="all 8 sent")

    counts = message_id_counts(slow_smtp)
    assert counts == Counter({m.message_id: 1 for m in messages})
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
    assert not DeliveryEvent.objects.filter(event_type=DeliveryEvent.Type.UNKNOWN).exists()
