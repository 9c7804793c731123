"""Checks on JSON documents received from outside before anything is stored.

Python's json module reads more than PostgreSQL's jsonb stores: NaN, Infinity and -Infinity, and
numbers such as 1e400 that overflow to infinity. It also gives up on deep nesting with a
RecursionError. Both would surface as 500s (at INSERT time, or while parsing); these functions
turn them into refusals that say what is wrong and where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from triggered_email.json_storage import (
    MAX_JSON_DEPTH,
    non_finite_path,
    too_deep,
    unstorable_text,
)
from triggered_email.numbers import BIGINT_MAX, ascii_int

# Strict JSON has no raw control characters, and a raw surrogate is not valid UTF-8: both can
# only arrive as \u escapes, so the walk over a document runs only when its text has one.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# NaN/Infinity literals, or an exponent of three digits or more (1e400 overflows to inf). Only a
# body with one of these needs the walk that finds non-finite numbers.
_SUSPECT_NUMBER = re.compile(rb"NaN|Infinity|[eE][+]?0*[1-9][0-9]{2,}")


class JsonBodyError(ValueError):
    """What is wrong with a document, said for the client that sent it."""


def load_json(raw: bytes | str) -> Any:
    """`raw` parsed as JSON nested at most MAX_JSON_DEPTH deep; JsonBodyError otherwise.

    NaN, Infinity and overflowing numbers are read as floats: callers refuse them where they
    would be stored (`non_finite_path`), per entry in a batch so one entry cannot sink the rest.
    """
    try:
        document = json.loads(raw)
    except RecursionError as exc:
        raise JsonBodyError(_too_deep_text()) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonBodyError(f"not valid JSON: {exc}") from exc
    # Fewer openers than the limit cannot nest deeper than it: spares single triggers the walk.
    openers = raw.count(b"{" if isinstance(raw, bytes) else "{") + raw.count(
        b"[" if isinstance(raw, bytes) else "["
    )
    if openers > MAX_JSON_DEPTH and too_deep(document):
        raise JsonBodyError(_too_deep_text())
    return document


def _too_deep_text() -> str:
    return (
        f"objects and lists are nested more than {MAX_JSON_DEPTH} levels deep; "
        f"the limit is {MAX_JSON_DEPTH}: flatten the data."
    )


def may_hold_non_finite(raw: bytes) -> bool:
    """False when `raw` certainly holds no NaN, Infinity or overflowing number (cheap test)."""
    return _SUSPECT_NUMBER.search(raw) is not None


def non_finite_text(path: str) -> str:
    return (
        f"{path} is not a finite number (NaN, Infinity or too large, such as 1e400), which "
        "cannot be stored: send a finite number, or the value as a string."
    )


def unstorable_character(raw: bytes, document: Any) -> str | None:
    """What in `document` (parsed from `raw`) the database cannot store, said for a client.

    PostgreSQL stores U+0000 neither in text nor in jsonb, and half of a UTF-16 surrogate pair
    (a \\ud800–\\udfff escape without its partner) in neither either; refusing such input with
    a clear answer beats failing at INSERT time with a 500. None when there is nothing.
    """
    if not _SUSPECT_ESCAPE.search(raw):
        return None
    return unstorable_text(document)


class BodyFramingError(Exception):
    """The request does not say how long its body is in a way this server can read."""

    def __init__(self, http_status: int, text: str):
        super().__init__(text)
        self.http_status = http_status
        self.text = text


def declared_length(meta: Mapping[str, Any]) -> int | None:
    """The body's Content-Length (None: no body declared); BodyFramingError if unreadable.

    Django's WSGI request reads exactly Content-Length bytes: a chunked body (Transfer-Encoding,
    no Content-Length) reads as empty, so it is refused (411) rather than taken as "no body". A
    length beyond 64 bits is returned as such, so it is refused as too large, not as malformed.
    """
    text = (meta.get("CONTENT_LENGTH") or "").strip()
    if not text:
        if meta.get("HTTP_TRANSFER_ENCODING", "").strip():
            raise BodyFramingError(
                411,
                "The body was sent without Content-Length (Transfer-Encoding: "
                f"{meta['HTTP_TRANSFER_ENCODING'].strip()[:40]}), which this server cannot "
                "read: send the body with a Content-Length header.",
            )
        return None
    length = ascii_int(text)
    if length is None:
        if text.isascii() and text.isdigit():
            return BIGINT_MAX + 1
        raise BodyFramingError(
            400, f"Content-Length {text[:40]!r} is not a number of bytes: send the body's size."
        )
    return length


def storable_entry(entry: dict[str, Any], *, suspect: bool = True) -> dict[str, Any]:
    """One entry of a call (a contact, a recipient) ready to store; JsonBodyError if it is not.

    A `data` given as a string holding JSON (as some Emarsys clients send it) is parsed here with
    the same limits as the body. `suspect`: the body may hold non-finite numbers
    (`may_hold_non_finite`); when False the walk looking for them is skipped.
    """
    data = entry.get("data")
    if isinstance(data, str) and data.strip():
        try:
            parsed = load_json(data)
        except JsonBodyError as exc:
            raise JsonBodyError(f"data is {exc}") from exc
        unstorable = unstorable_character(data.encode("utf-8", "surrogatepass"), parsed)
        if unstorable:
            raise JsonBodyError(f"data contains {unstorable}, which cannot be stored.")
        if isinstance(parsed, dict):
            # Anything else stays a string, for the caller's "must be an object" refusal.
            entry = {**entry, "data": parsed}
            suspect = True
    if suspect:
        path = non_finite_path(entry)
        if path is not None:
            raise JsonBodyError(non_finite_text(path))
    return entry
