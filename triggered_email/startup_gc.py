"""Keeping what a process loads at start-up out of the garbage collector's sight.

A process that has loaded Django, the apps and their libraries holds a few hundred thousand
objects that live as long as it does. Every full collection walked all of them again, and a
batch call creates enough objects (a thousand messages, contacts and their rows) to trigger
several: 30 % of the API's CPU per recipient went to the collector (measured in afa6062).
`gc.freeze()` moves everything alive at that moment into a permanent generation that
collections skip; what is created later is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once (start-up garbage is not kept forever), then freeze what is left."""
    gc.collect()
    gc.freeze()
