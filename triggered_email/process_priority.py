"""Background lanes (bulk, status webhooks) run on CPU time the time-critical lane leaves."""

from __future__ import annotations

import os


def run_in_background(*, sched_idle: bool, nice: int) -> None:
    """Lower this process's CPU priority: SCHED_IDLE where asked for and available (Linux),
    else the nice level `nice`.

    SCHED_IDLE states the promise as a scheduling rule: the process never takes a CPU from
    anything else. What it still costs the transactional lane is the work done for it at normal
    priority (database, MTA); a host kept busy by other work starves it meanwhile (it waits,
    nothing is lost).
    """
    if sched_idle and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif nice:
        os.nice(nice)
