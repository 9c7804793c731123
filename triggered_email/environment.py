"""Typed reads of environment variables for settings.py.

Every reader names the variable in its error, so a bad deployment fails at start-up with a message
an operator can act on instead of misbehaving later.
"""

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is invalid: expected {expected}."
        ) from exc


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    def parse(raw: str) -> bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(raw)

    return _read(name, default, parse, "one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    def parse(raw: str) -> int:
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ValueError(raw)
        return value

    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    return _read(name, default, parse, expected)


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    def parse(raw: str) -> float:
        value = float(raw)
        if minimum is not None and value < minimum:
            raise ValueError(raw)
        return value

    expected = "a number" + (f" >= {minimum}" if minimum is not None else "")
    return _read(name, default, parse, expected)


def env_list(name: str, default: list[str]) -> list[str]:
    def parse(raw: str) -> list[str]:
        return [item.strip() for item in raw.split(",") if item.strip()]

    return _read(name, default, parse, "a comma-separated list")


def env_choice(name: str, default: str, choices: set[str]) -> str:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return _read(name, default, parse, "one of " + ", ".join(sorted(choices)))


def env_prefixed(prefix: str) -> dict[str, str]:
    """All variables starting with `prefix`, keyed by the rest of their name (ANYMAIL_*)."""
    return {
        key[len(prefix) :]: value
        for key, value in os.environ.items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }
