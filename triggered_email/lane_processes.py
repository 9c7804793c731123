"""A lane's processes end when the lane's main process does.

`manage.py qcluster` is a main process, a sentinel it forks, and the workers, monitor and pusher
the sentinel forks. When only the main process was killed (SIGKILL, an OOM kill, a service
manager that signals only it) the rest lived on as orphans beside the restarted lane, and the
orphan pusher kept taking tasks off the broker (issue 25). Linux clears a parent-death signal
(PR_SET_PDEATHSIG) on fork and django-q2 gives no hook in the sentinel, so each worker watches
instead: once a second it checks that its sentinel is still its parent and the lane's main
process still the sentinel's. When the main process is gone, the first worker to notice ends
the sentinel, the monitor and the pusher (not the other workers), and every worker leaves after
the task it is running, so nothing is cut off mid-send.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from triggered_email import lane_task_queue

logger = logging.getLogger(__name__)

# The lane's main process: set in it at start-up, inherited by every process it forks.
LANE_MAIN_PID: int | None = None
# A worker's name in /proc/<pid>/comm, so that a worker can tell its siblings apart.
WORKER_COMM = b"te-lane-worker"
WATCH_EVERY_SECONDS = 1.0

_busy = threading.Lock()
_leaving = threading.Event()


def note_main_process() -> None:
    """In `manage.py qcluster` (AppConfig.ready): remember this process as the lane's main."""
    global LANE_MAIN_PID
    if sys.argv[1:2] == ["qcluster"]:
        LANE_MAIN_PID = os.getpid()
        # A worker killed while waiting for a task must not stop the lane.
        lane_task_queue.install()


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent_of(int(entry.name)) == pid:
            found.append(int(entry.name))
    return found


def _name_this_process_a_worker() -> None:
    with contextlib.suppress(Exception):  # Linux only; elsewhere siblings are not told apart
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(WORKER_COMM[:15]), 0, 0, 0)  # PR_SET_NAME


def watch_parents(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn (in each worker): leave when the lane's main process is gone."""
    if LANE_MAIN_PID is None or not Path("/proc/self/stat").exists():
        return
    sentinel = os.getppid()
    _name_this_process_a_worker()
    threading.Thread(
        target=_watch, args=(sentinel, LANE_MAIN_PID), name="parent-watch", daemon=True
    ).start()


def task_started(sender=None, **kwargs) -> None:
    """django-q2's pre_execute: the worker is busy until the task ends."""
    _busy.acquire(blocking=False)


def task_ended(sender=None, **kwargs) -> None:
    """django-q2's post_execute_in_worker: a worker told to leave does so now."""
    with contextlib.suppress(RuntimeError):
        _busy.release()
    if _leaving.is_set():
        _leave()


def _orphaned(sentinel: int, main: int) -> bool:
    return os.getppid() != sentinel or _parent_of(sentinel) != main


def _watch(sentinel: int, main: int) -> None:
    while not _orphaned(sentinel, main):
        time.sleep(WATCH_EVERY_SECONDS)
    logger.warning("The lane's main process %d is gone: this lane's processes stop", main)
    if os.getppid() == sentinel:
        _end_sentinel_and_helpers(sentinel)
    _leaving.set()
    # Idle: leave now. Busy: task_ended leaves after the task (the q2 timeout bounds it).
    if _busy.acquire(blocking=False):
        _leave()


def _end_sentinel_and_helpers(sentinel: int) -> None:
    """SIGKILL the monitor, the pusher (it would keep taking tasks off the broker) and the
    sentinel (it would start new workers); the workers leave on their own."""
    for pid in _children_of(sentinel):
        try:
            comm = Path(f"/proc/{pid}/comm").read_bytes().strip()
        except OSError:
            continue
        if pid != os.getpid() and comm != WORKER_COMM[:15]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(sentinel, signal.SIGKILL)


def _leave() -> None:
    logging.shutdown()
    os._exit(0)
