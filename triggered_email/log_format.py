"""Log lines for people (the default) or JSON lines for a log pipeline (TRIGGERED_EMAIL_LOG_FORMAT).

A log pipeline joins lines on ids, so every line of the delivery path carries the trigger, the
message, the stream and the lane it is about. The delivery code states them once per unit of
work (`delivery_context(...)` around a task, a message); the filter copies them onto each record,
where a line's own `extra={...}` wins. Lines outside any delivery context carry the keys as null,
so a query for `lane="bulk"` never trips over a missing field.

Loaded by LOGGING before the apps: nothing here may import models.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("trigger_id", "message_id", "stream", "lane")

# Holds an immutable-by-convention dict: each block sets a new one, never changes the old.
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "delivery_log_context", default=None
)


@contextlib.contextmanager
def delivery_context(**fields: Any) -> Iterator[None]:
    """Within this block every log line carries `fields` (nested blocks add to the outer one)."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {', '.join(sorted(unknown))}")
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class DeliveryContextFilter(logging.Filter):
    """Adds the delivery context to every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, context.get(name))
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the delivery
    context fields, and the traceback as text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            line[name] = getattr(record, name, None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # default=str: a context value or message argument that is no JSON type still logs.
        return json.dumps(line, ensure_ascii=False, default=str)
