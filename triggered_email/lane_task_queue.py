"""A worker killed while it waits for a task no longer stops its lane.

django-q2's workers wait for tasks with a blocking get on one multiprocessing queue, and a
blocking get holds the queue's read lock for as long as it waits. A worker killed then (SIGKILL,
the OOM killer) dies holding the lock: its replacement and every other worker wait for the lock
forever, the lane takes no more tasks and still reports itself running (django-q2 issue #23,
open upstream). The fault suite found it: one idle transactional worker killed, the lane
stopped, and every message handed to it afterwards waited until the lane was restarted.

The lane's queues here note which process holds their read lock while it waits; when the
sentinel replaces a dead process that held one, it releases the lock in the dead process's
stead. Not covered: a kill in the microseconds between taking the lock and noting it, or between
clearing the note and releasing the lock.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.reduction import ForkingPickler
from typing import Any

from django_q import queues

logger = logging.getLogger(__name__)


class LaneQueue(queues.Queue):
    """django-q2's queue, noting the process that holds its read lock while it waits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Plain shared memory: one process writes it while holding the read lock.
        self.reader = multiprocessing.RawValue("i", 0)

    def __getstate__(self):
        return (*super().__getstate__(), self.reader)

    def __setstate__(self, state) -> None:
        super().__setstate__(state[:-1])
        self.reader = state[-1]

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block or timeout is not None:
            return super().get(block, timeout)
        # multiprocessing.Queue.get's blocking path, with the note around the wait.
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        with self._rlock:
            self.reader.value = os.getpid()
            try:
                data = self._recv_bytes()
            finally:
                self.reader.value = 0
        self._sem.release()
        self.size.increment(-1)
        return ForkingPickler.loads(data)

    def release_read_lock_of(self, pid: int) -> bool:
        """If the (dead) process `pid` held the read lock, release it in its stead."""
        if not pid or self.reader.value != pid:
            return False
        self.reader.value = 0
        self._rlock.release()
        return True


def install() -> None:
    """In a lane's main process, before it starts its sentinel: the sentinel makes LaneQueues
    and, replacing a dead worker, monitor or pusher, releases what it held."""
    from django_q import cluster

    if getattr(cluster.Sentinel.reincarnate, "releases_read_locks", False):
        return
    replace_dead = cluster.Sentinel.reincarnate

    def reincarnate(sentinel, process) -> None:
        if not process.is_alive():
            for queue in (sentinel.task_queue, sentinel.result_queue):
                if isinstance(queue, LaneQueue) and queue.release_read_lock_of(process.pid):
                    logger.warning(
                        "Process %s died holding its lane queue's read lock; released it",
                        process.pid,
                    )
        replace_dead(sentinel, process)

    reincarnate.releases_read_locks = True
    cluster.Queue = LaneQueue
    cluster.Sentinel.reincarnate = reincarnate
