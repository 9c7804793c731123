"""Checks on JSON documents received from outside before anything is stored."""

import re
from typing import Any

# Strict JSON has no raw control characters, and a raw surrogate is not valid UTF-8: both can
# only arrive as \u escapes, so the walk over a document runs only when its text has one.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable_character(raw: bytes, document: Any) -> str | None:
    """What in `document` (parsed from `raw`) the database cannot store, said for a client.

    PostgreSQL stores U+0000 neither in text nor in jsonb, and half of a UTF-16 surrogate pair
    (a \\ud800–\\udfff escape without its partner) in neither either; refusing such input with
    a clear answer beats failing at INSERT time with a 500. None when there is nothing.
    """
    if not _SUSPECT_ESCAPE.search(raw):
        return None
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
