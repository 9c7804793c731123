"""A render's time bound is its own CPU time: a busy machine does not fail ordinary mail."""

import gc
import time

import pytest

from streams.template_budget import RenderLimitExceeded, render_budget, tick


def spin(seconds: float) -> None:
    """Use `seconds` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_render_that_waits_for_the_cpu_is_not_over_its_budget():
    with render_budget(seconds=0.05):
        time.sleep(0.2)  # the worker waited: wall time passed, no CPU time
        tick()
        spin(0.01)
        tick()


def test_a_render_that_uses_its_cpu_budget_fails():
    with render_budget(seconds=0.05), pytest.raises(RenderLimitExceeded):
        for _ in range(1000):
            spin(0.01)
            tick()


def test_a_render_that_waited_and_then_spins_fails_once_its_cpu_is_spent():
    with render_budget(seconds=0.05):
        time.sleep(0.1)
        tick()
        with pytest.raises(RenderLimitExceeded):
            for _ in range(1000):
                spin(0.01)
                tick()


def test_a_garbage_collection_during_a_checked_render_is_not_the_templates_time():
    # The admin's save checks a template in a process with a large heap: a full collection there
    # can spend the whole budget by itself.
    heap = [[index] for index in range(1_000_000)]
    try:
        started = time.thread_time()
        gc.collect()
        budget = (time.thread_time() - started) / 2  # the collection alone spends it twice
        with render_budget(seconds=budget):
            gc.collect()
            time.sleep(budget * 1.5)  # past the clock's deadline: the next check reads the CPU
            tick()
            spin(budget / 5)
            tick()
            with pytest.raises(RenderLimitExceeded):
                for _ in range(1000):
                    spin(budget / 5)
                    tick()
    finally:
        del heap
