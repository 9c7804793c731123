"""Custom contact fields by their Emarsys id, so templates reach them as `contact.4711` too.

Values are stored under the field's name (events.ContactField); Emarsys templates address
custom fields by id. The name → id map is read once per process and read again after a field
is defined or removed in this process, or after REFRESH_SECONDS for fields another process
defined (a web process's POST /api/v2/field reaches the lanes within that time).
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps

REFRESH_SECONDS = 30.0

_ids: dict[str, str] = {}
_read_at = float("-inf")


def custom_field_ids() -> dict[str, str]:
    """Custom field name → its Emarsys id as text (the key a template's `contact.4711` finds)."""
    global _ids, _read_at
    now = time.monotonic()
    if now - _read_at > REFRESH_SECONDS:
        # By label: streams never imports events (the dependencies point the other way).
        model = apps.get_model("events", "ContactField")
        _ids = {name: str(pk) for pk, name in model.objects.values_list("pk", "name")}
        _read_at = now
    return _ids


def forget_custom_field_ids(**kwargs: Any) -> None:
    """Signal receiver: a field was defined or removed here, so the next render reads again."""
    global _read_at
    _read_at = float("-inf")
