"""The background lanes' processes give way to the transactional lane on shared cores: SCHED_IDLE
on Linux (Q_BULK_SCHED_IDLE, Q_WEBHOOK_SCHED_IDLE), else their nice level; the transactional lane
keeps its priority. Each case runs in a forked child, as a spawned django-q2 process would."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from django_q.conf import Conf

from delivery.apps import lower_bulk_worker_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling")


def priority_after_spawn(cluster: str, monkeypatch, on_spawn=None) -> tuple[int, int]:
    """(scheduling policy, nice level) of a process of `cluster` after django-q2's post_spawn."""
    monkeypatch.setattr(Conf, "CLUSTER_NAME", cluster)
    parent, child = multiprocessing.get_context("fork").Pipe()

    def spawned() -> None:
        (on_spawn or lower_bulk_worker_priority)(sender=None, proc_name="Process-1")
        child.send((os.sched_getscheduler(0), os.nice(0)))

    process = multiprocessing.get_context("fork").Process(target=spawned)
    process.start()
    process.join(10)
    assert parent.poll(1), "the child process reported nothing"
    return parent.recv()


def test_bulk_lane_processes_run_under_sched_idle(settings, monkeypatch):
    settings.Q_BULK_SCHED_IDLE = True

    policy, _ = priority_after_spawn("bulk", monkeypatch)

    assert policy == os.SCHED_IDLE


def test_bulk_lane_processes_are_niced_without_sched_idle(settings, monkeypatch):
    settings.Q_BULK_SCHED_IDLE = False
    settings.Q_BULK_NICE = 7
    before = os.nice(0)

    policy, nice = priority_after_spawn("bulk", monkeypatch)

    assert policy == os.SCHED_OTHER
    assert nice == min(before + 7, 19)


def test_transactional_lane_keeps_its_priority(settings, monkeypatch):
    settings.Q_BULK_SCHED_IDLE = True
    before = os.nice(0)

    policy, nice = priority_after_spawn("transactional", monkeypatch)

    assert (policy, nice) == (os.SCHED_OTHER, before)


def test_webhook_lane_processes_run_under_sched_idle(settings, monkeypatch):
    from status_webhooks import lane

    settings.Q_WEBHOOK_SCHED_IDLE = True
    settings.WEBHOOKS_BEAT_SECONDS = 3600  # the beat thread the spawn starts stays asleep

    policy, _ = priority_after_spawn("webhooks", monkeypatch, on_spawn=lane.start)

    assert policy == os.SCHED_IDLE


def test_webhook_lane_processes_are_niced_without_sched_idle(settings, monkeypatch):
    from status_webhooks import lane

    settings.Q_WEBHOOK_SCHED_IDLE = False
    settings.Q_WEBHOOK_NICE = 5
    settings.WEBHOOKS_BEAT_SECONDS = 3600
    before = os.nice(0)

    policy, nice = priority_after_spawn("webhooks", monkeypatch, on_spawn=lane.start)

    assert policy == os.SCHED_OTHER
    assert nice == min(before + 5, 19)
