"""What the template editor offers as completions: event keys from the sample data, contact
fields by name and Emarsys id, ESL tags and filters.

The page carries it as json_script data (the CSP forbids inline scripts, not JSON); the editor's
bundle (static/streams/editor/) reads it. Event keys follow the sample data as it is edited, in
the browser; these are the ones saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps

from streams.template_filters import FILTERS

# Nested keys are offered down to this depth, and no more than this many in all: sample data
# is a marketer's example, but nothing stops it from being large.
MAX_DEPTH = 4
MAX_KEYS = 300

# The contact fields every contact has, with their Emarsys ids where Emarsys has one.
BUILT_IN_CONTACT_FIELDS = (
    ("first_name", "1", "first name"),
    ("last_name", "2", "last name"),
    ("email", "3", "email address"),
    ("external_id", "", "external id"),
)

# ESL's tags as a marketer writes them (the dialect rewrites foreach/elseif for Jinja2).
ESL_TAGS = (
    ("if", "{% if event.x %}…{% endif %}"),
    ("elseif", "another condition inside an if"),
    ("else", "otherwise, inside an if or a loop"),
    ("endif", "ends an if"),
    ("foreach", "{% foreach item in event.items limit 5 %}…{% endforeach %}"),
    ("endforeach", "ends a foreach"),
    ("for", "{% for item in event.items %}…{% endfor %}"),
    ("endfor", "ends a for"),
    ("set", "{% set name = value %}"),
)


def event_key_paths(data: Any, prefix: str = "", depth: int = 1) -> list[str]:
    """Dotted paths of the keys in sample event data (`order_id`, `customer.name`), in order."""
    if not isinstance(data, Mapping):
        return []
    paths: list[str] = []
    for key, value in data.items():
        if len(paths) >= MAX_KEYS:
            break
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, Mapping) and depth < MAX_DEPTH:
            paths.extend(event_key_paths(value, f"{path}.", depth + 1))
    return paths[:MAX_KEYS]


def contact_fields() -> list[dict[str, str]]:
    """Every contact field a template can read: built-in ones, then custom ones by name and id."""
    fields = [
        {"name": name, "id": field_id, "label": label}
        for name, field_id, label in BUILT_IN_CONTACT_FIELDS
    ]
    # By label: streams never imports events (the dependencies point the other way).
    custom = apps.get_model("events", "ContactField").objects.order_by("name")
    fields.extend(
        {"name": name, "id": str(pk), "label": f"custom field {name}"}
        for pk, name in custom.values_list("pk", "name")[:MAX_KEYS]
    )
    return fields


def editor_hints(sample_data: Any) -> dict[str, Any]:
    """The completion data for one stream's editor page."""
    data = sample_data if isinstance(sample_data, Mapping) else {}
    keys = event_key_paths(data)
    # Keys under `global` are read as event.x too (streams.rendering merges them).
    keys += [key for key in event_key_paths(data.get("global")) if key not in keys]
    return {
        "event_keys": keys,
        "contact_fields": contact_fields(),
        "tags": [{"name": name, "detail": detail} for name, detail in ESL_TAGS],
        "filters": sorted(name for name in FILTERS if not name.startswith("esl_")),
    }
