"""Bounds on one message's render: a deadline and a cap on characters produced.

Signals cannot interrupt a render in a lane's worker thread, so the template itself checks: every
loop turn (streams.template_dialect routes every loop through `esl_loop`), every string it builds
with `~`, `*` or a repeating filter, and every piece of output. A render over a bound raises
RenderLimitExceeded, which the lanes record as a permanent failure and the preview explains.

The time bound is the render's own CPU time: a deadline on the clock alone failed ordinary
messages for good whenever the machine was busy (a worker waiting for a core, a GC pause). The
clock is read on every check, the thread's CPU time (ten times dearer) only once the clock says
the budget might be spent.

A render checked in a large process (the admin's save and preview, render_budget()) also leaves
out the thread's garbage collections: a full collection of a big heap is CPU the template did not
cause, and on a slow host it alone went over the 0.25 s. The lanes' renders (begin()) do not pay
for that watch: a callback on every collection costs ~4 µs each, and a lane's heap is small and
frozen at start.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

REASON = "template exceeded its render limit"


class RenderLimitExceeded(Exception):
    """A render went over its time budget or its output cap."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(f"{REASON} ({detail})")


class _Budget(threading.local):
    deadline: float = float("inf")
    chars_left: int = 1 << 62
    seconds: float = 0.0
    cpu_start: float = 0.0


_budget = _Budget()


class _Collections(threading.local):
    started: float = 0.0
    spent: float = 0.0  # CPU seconds of this thread's collections while watched


_collections = _Collections()


def _watch_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _collections.started = time.thread_time()
    else:
        _collections.spent += time.thread_time() - _collections.started


def begin(seconds: float, max_chars: int) -> None:
    """Start a fresh budget for the renders that follow in this thread (one message's parts)."""
    _budget.deadline = time.monotonic() + seconds
    _budget.chars_left = max_chars
    _budget.seconds = seconds
    # The thread's CPU less its watched collections, from here on.
    _budget.cpu_start = time.thread_time() - _collections.spent


@contextmanager
def render_budget(seconds: float | None = None, max_chars: int | None = None) -> Iterator[None]:
    """Bound every render inside the block (all parts of one message share the budget)."""
    seconds = settings.TRIGGERED_EMAIL_RENDER_SECONDS if seconds is None else seconds
    max_chars = settings.TRIGGERED_EMAIL_RENDER_MAX_CHARS if max_chars is None else max_chars
    saved = (_budget.deadline, _budget.chars_left, _budget.seconds, _budget.cpu_start)
    watching = _watch_collection not in gc.callbacks
    if watching:
        gc.callbacks.append(_watch_collection)
    begin(seconds, max_chars)
    try:
        yield
    finally:
        if watching:
            gc.callbacks.remove(_watch_collection)
        _budget.deadline, _budget.chars_left, _budget.seconds, _budget.cpu_start = saved


def tick() -> None:
    """Called on every loop turn: fail once the render has used its time."""
    if time.monotonic() > _budget.deadline:
        used = time.thread_time() - _collections.spent - _budget.cpu_start
        if used < _budget.seconds:
            # The clock ran while the render waited: what is left of the budget is CPU time.
            _budget.deadline = time.monotonic() + (_budget.seconds - used)
            return
        raise RenderLimitExceeded(f"took longer than {_budget.seconds:g} s")


def check_size(size: int) -> None:
    """Refuse a string of `size` characters before building it if the output could not hold it."""
    if size > _budget.chars_left:
        raise RenderLimitExceeded(f"a value of {size} characters is larger than the output cap")
    tick()


def chars_left() -> int:
    return _budget.chars_left


def spend(chars: int) -> None:
    """Count `chars` characters of output against the cap."""
    _budget.chars_left -= chars
    if _budget.chars_left < 0:
        raise RenderLimitExceeded("the email grew larger than the output cap")
