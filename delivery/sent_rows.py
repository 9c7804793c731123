"""Recording a chunk of messages as sent, with their `sent` delivery events, in one statement.

This is the outcome of nearly every task. Done with the ORM it is four round trips (BEGIN, the
UPDATE, the INSERT of the events, COMMIT) and two compiled queries, more than the rest of a
one-message task spent talking to the database (docs/performance.md). On PostgreSQL one
statement does both: an UPDATE … RETURNING feeding an INSERT, atomic on its own. Other
databases (SQLite on a laptop) keep the ORM path in delivery.tasks.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from delivery.models import DeliveryEvent, Message
from triggered_email.row_lookup import any_of


def _event_columns(given: dict[str, object]) -> tuple[list[str], list[object]]:
    """Every column of DeliveryEvent but the id and the message: given values or defaults."""
    columns, values = [], []
    for field in DeliveryEvent._meta.concrete_fields:
        if field.primary_key or field.name == "message":
            continue
        value = given[field.name] if field.name in given else field.get_default()
        columns.append(field.column)
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


def record_sent(message_ids: list[int], sent_at: datetime, provider: str) -> None:
    """Mark `message_ids` sent at `sent_at` and write one `sent` DeliveryEvent for each.

    PostgreSQL only (a data-modifying WITH); elsewhere delivery.tasks records with the ORM.
    """
    given = {"event_type": DeliveryEvent.Type.SENT, "occurred_at": sent_at, "provider": provider}
    qn = connection.ops.quote_name
    message, event = Message._meta, DeliveryEvent._meta
    columns, values = _event_columns(given)
    match, ids = any_of(connection, message_ids)

    def column(name: str) -> str:
        return qn(message.get_field(name).column)

    # Only quoted names and placeholders go into the text; values are parameters.
    sql = (
        f"WITH sent AS (UPDATE {qn(message.db_table)} SET {column('status')} = %s, "  # noqa: S608
        f"{column('sent_at')} = %s, {column('last_error')} = '', {column('claim_token')} = NULL "
        f"WHERE {qn(message.pk.column)} {match} RETURNING {qn(message.pk.column)} AS id) "
        f"INSERT INTO {qn(event.db_table)} ({qn(event.get_field('message').column)}, "
        f"{', '.join(qn(c) for c in columns)}) "
        f"SELECT sent.id, {', '.join(['%s'] * len(values))} FROM sent"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Message.Status.SENT, sent_at, *ids, *values])
