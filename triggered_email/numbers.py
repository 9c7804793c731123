"""Reading whole numbers that arrive as text from outside (URLs, headers, JSON keys, form fields).

`str.isdigit()` is true for "²", "١" and other Unicode digits: `int()` then fails on some ("²",
a 500) and reads others as ASCII ("١" is 1, so `/api/v2/event/١` named event 1). Database ids are
64-bit: a longer number is no row at all, not an error in the database driver.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")
BIGINT_MAX = 2**63 - 1


def ascii_int(text: object, maximum: int = BIGINT_MAX) -> int | None:
    """`text` as a non-negative int if it is only ASCII digits 0-9 and at most `maximum`.

    None for anything else: other digits, signs, spaces, underscores, non-strings, too large.
    """
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        return None
    # Longer than the maximum's digits cannot be in range; spares int() on huge inputs.
    if len(text.lstrip("0")) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None
