"""What every long-running process of the app does once it has started."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Keep the garbage collector's full passes off the objects made while starting.

    A full collection walks every tracked object. After Django, DRF and the app are loaded
    there are about 100,000, and walking them took ~50 ms on the reference machine; such a
    pass comes every few hundred requests or tasks and lands on whichever trigger is being
    served, as a p99 spike (docs/performance.md). Start-up objects live as long as the process,
    so walking them finds nothing: `gc.freeze()` moves them where collections do not look.
    """
    gc.collect()
    gc.freeze()
