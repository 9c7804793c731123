"""Trigger data shown as nested tables on the message page, every value escaped as text."""

from __future__ import annotations

import json
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# The API accepts JSON 64 levels deep; deeper than this the rest is shown as JSON text.
MAX_DEPTH = 12


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _cell(value: Any, depth: int) -> SafeString:
    if isinstance(value, dict | list) and value and depth < MAX_DEPTH:
        return data_table(value, depth + 1)
    if isinstance(value, dict | list):
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False))
    return format_html("{}", _scalar(value))


def data_table(data: Any, depth: int = 0) -> SafeString:
    """A dict as key/value rows, a list as numbered rows, nested values as tables inside."""
    if isinstance(data, dict):
        rows = [(str(key), _cell(value, depth)) for key, value in data.items()]
    elif isinstance(data, list):
        rows = [(str(index), _cell(value, depth)) for index, value in enumerate(data)]
    else:
        return format_html("{}", _scalar(data))
    if not rows:
        return format_html('<span class="te-data-empty">{}</span>', "no data")
    body = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows)
    return format_html('<table class="te-data-table">{}</table>', body)
