"""What a JSON column can store, of what Python's json module reads.

Python reads more than the database keeps: NaN, Infinity and -Infinity, and numbers such as
1e400 that overflow to infinity (refused by SQLite's JSON_VALID and PostgreSQL's jsonb);
PostgreSQL also stores neither U+0000 nor half of a UTF-16 surrogate pair; and nesting deeper
than anyone writes costs every later walk over the data. Both the API (events.json_bodies) and
the admin's JSON fields (triggered_email.json_form_fields) refuse these with words of their own.
"""

from __future__ import annotations

import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")

# Documents received from outside may nest objects and lists at most this deep. Real payloads
# (Stripe, Shopify, Emarsys batches) nest under 15; Python's parser fails near 1,000 levels, and
# each walk over stored data (rendering, dotted paths) would pay for deeper ones.
MAX_JSON_DEPTH = 64


def too_deep(document: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `document` nests dicts and lists more than `limit` levels deep.

    Level by level, with the containers of each level gathered in comprehensions: about 3 ms
    for a 1000-contact batch (200 kB), where a walk item by item took 5.
    """
    level = [document] if type(document) is dict or type(document) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            deeper += [
                child
                for child in (item.values() if type(item) is dict else item)
                if type(child) is dict or type(child) is list
            ]
        level = deeper
    return False


def non_finite_path(document: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN/Infinity in `document` (`where` prefixes it), or None."""
    pending: list[tuple[Any, str]] = [(document, where)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path or "the body"
        if isinstance(item, dict):
            pending.extend((v, f"{path}.{k}" if path else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            pending.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def unstorable_text(document: Any) -> str | None:
    """The first text in `document` (keys included) the database cannot store, said for a
    person: a NUL character or an unpaired surrogate. None when there is none."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\u0000)"
            if _SURROGATE.search(item):
                return "an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)"
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None
