"""Objects loaded at start-up are frozen for the garbage collector (triggered_email.startup_gc)."""

from __future__ import annotations

import subprocess
import sys


def test_web_server_starts_with_its_loaded_objects_frozen(tmp_path):
    # A process of its own: the freeze happens when the web server loads its application.
    code = (
        "import gc, sys, triggered_email.wsgi; "
        "print(gc.get_freeze_count(), 'events.api.views' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    frozen, views_loaded = result.stdout.split()
    assert int(frozen) > 50_000
    assert views_loaded == "True"
