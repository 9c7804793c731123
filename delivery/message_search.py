"""What the message log's search box finds, and what each kind of search costs.

Exact values are looked up over every message through indexes: the address (as typed and
lower-cased), the client's trigger id, the Message-ID and the message number. Partial values
have no index to serve them (a trigram index would cost every message write), so they are
bounded instead: they read only the newest MESSAGE_LOG_PARTIAL_SEARCH_ROWS messages, a primary
key range, on PostgreSQL and SQLite alike:

- part of an address (`jane@`, `example.org`), case-insensitive;
- a value inside the trigger data, anywhere in it (`10042` finds `{"order_id": "10042"}`);
- `key=value` (or `key:value`): the value at exactly that key (`order_id=10042`,
  `customer.id=7`, `items.0.sku=A-1`), as text or number.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import F, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from delivery.models import Message
from triggered_email.numbers import ascii_int

# `order_id=10042`, `customer.id: 7`: a key path of word characters, then the value.
KEY_VALUE = re.compile(r"^([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*[=:]\s*(\S.*)$")
HELP_TEXT = (
    "An address or part of one, a value in the trigger data (an order id) or key=value "
    "(order_id=10042), a client trigger id, a Message-ID or a message number. Partial "
    "matches look through the newest {rows:,} messages."
)


def help_text() -> str:
    return HELP_TEXT.format(rows=settings.MESSAGE_LOG_PARTIAL_SEARCH_ROWS)


def _exact(term: str) -> Q:
    bare = term.strip("<>")
    condition = (
        Q(recipient__in={term, term.lower()})
        | Q(client_trigger_id=term)
        | Q(message_id__in={term, f"<{bare}>"})
    )
    number = ascii_int(term.lstrip("#"))
    if number is not None:
        condition |= Q(pk=number)
    return condition


def _window_start() -> int:
    """The primary key below which partial searches do not look (the newest N rows)."""
    newest = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
    return max(0, (newest or 0) - settings.MESSAGE_LOG_PARTIAL_SEARCH_ROWS)


def _key_path(path: str) -> KeyTransform:
    """`a.b.0` as a key transform: each part is a bound parameter, never a lookup name.
    Compared as JSON (the value is encoded), so "10042" and 10042 are told apart."""
    expression: KeyTransform | F = F("data")
    for part in path.split("."):
        expression = KeyTransform(part, expression)
    return expression


def search(queryset: QuerySet, search_term: str) -> QuerySet:
    """The messages of `queryset` that `search_term` finds (see the module's docstring)."""
    # NUL cannot be stored in a text value on PostgreSQL (a query with one fails): no match.
    term = search_term.strip()
    if not term:
        return queryset
    if "\x00" in term:
        return queryset.none()
    partial = Q(recipient__icontains=term) | Q(search_data_text__icontains=term)
    queryset = queryset.alias(search_data_text=Cast("data", output_field=TextField()))
    match = KEY_VALUE.match(term)
    if match and "@" not in term:
        path, value = match.group(1), match.group(2).strip()
        queryset = queryset.alias(search_data_value=_key_path(path))
        at_key = Q(search_data_value=value)
        number = ascii_int(value)
        if number is not None:  # an order id sent as a number, or as text
            at_key |= Q(search_data_value=number)
        partial |= at_key
    return queryset.filter(_exact(term) | (Q(pk__gt=_window_start()) & partial))
