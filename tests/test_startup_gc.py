"""Long-running processes keep the garbage collector's full passes off their start-up objects
(triggered_email.startup): the web server once its WSGI application is loaded, django-q2's
workers when they are spawned."""

from __future__ import annotations

import gc
import multiprocessing
import os
import subprocess
import sys

from delivery.apps import freeze_after_spawn

# Django, DRF and the app leave about 100,000 tracked objects; far more than any small module.
STARTUP_OBJECTS = 20_000


def test_web_server_freezes_its_startup_objects_and_imports_every_view():
    script = (
        "import gc, sys, triggered_email.wsgi; "
        "print(gc.get_freeze_count(), 'events.api.views' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "triggered_email.settings"},
        check=True,
    )

    frozen, views_loaded = result.stdout.split()
    assert int(frozen) > STARTUP_OBJECTS
    assert views_loaded == "True"


def test_lane_workers_freeze_their_startup_objects():
    parent, child = multiprocessing.get_context("fork").Pipe()

    def spawned() -> None:
        gc.unfreeze()  # whatever the test process froze: the child starts from nothing
        before = gc.get_freeze_count()
        freeze_after_spawn(sender="django_q", proc_name="Process-1")
        child.send((before, gc.get_freeze_count()))

    process = multiprocessing.get_context("fork").Process(target=spawned)
    process.start()
    process.join(30)
    assert parent.poll(1), "the child process reported nothing"
    before, after = parent.recv()

    assert before == 0
    assert after > STARTUP_OBJECTS
