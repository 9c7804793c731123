"""Dotted paths into JSON documents, as integrations and programs name their fields.

`customer.email` reads `{"customer": {"email": …}}`; a number reads a list position
(`line_items.0.title`); `email|customer.email` tries each alternative in turn and takes the first
that has a value, because senders do not always fill the same field (Shopify's order `email` may be
empty while `customer.email` is not).
"""

from __future__ import annotations

import re
from typing import Any

from triggered_email.numbers import ascii_int

_MISSING = object()
_PATH = re.compile(r"^[A-Za-z0-9_\-$@]+(\.[A-Za-z0-9_\-$@]+)*$")


class PathSyntaxError(ValueError):
    pass


def check_path(path: str) -> None:
    """Raise PathSyntaxError naming what is wrong with `path` (for admin validation)."""
    alternatives = [part.strip() for part in path.split("|")]
    for alternative in alternatives:
        if not _PATH.match(alternative):
            raise PathSyntaxError(
                f"{alternative!r} is not a path: use field names separated by dots, e.g. "
                "customer.email or line_items.0.title; separate alternatives with |."
            )


def _resolve(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and (index := ascii_int(part, len(value) - 1)) is not None:
            value = value[index]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def read_path(document: Any, path: str, default: Any = None) -> Any:
    """The value at `path` (first alternative that is present and not null/empty), or `default`."""
    for alternative in path.split("|"):
        value = _resolve(document, alternative.strip())
        if value is not _MISSING and value is not None and value != "":
            return value
    return default


def has_path(document: Any, path: str) -> bool:
    return read_path(document, path, _MISSING) is not _MISSING
