"""Checks on JSON documents received from outside before anything is stored."""

from typing import Any


def contains_nul(value: Any) -> bool:
    """True if any string or key in `value` holds U+0000.

    PostgreSQL can store U+0000 neither in text nor in jsonb; refusing such input with a clear
    answer beats failing at INSERT time with a 500.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
