"""Claiming a chunk of messages, with what a send reads of them, in one statement.

The claim is the first thing every task does. With the ORM it is two statements (the
conditional UPDATE, then a SELECT joining stream and contact), and building those two queries
cost more CPU than anything else in a one-message task: about 4 ms of the 5 a time-critical
single spent in the worker (measured in ee4d975). On PostgreSQL one statement, written out once
per process, does both: an UPDATE … RETURNING feeding the SELECT of the joined rows, atomic on
its own. Other databases (SQLite on a laptop) keep the ORM path in delivery.tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import Model

from delivery.models import Message, MessageAttachment
from events.models import Contact
from streams.models import MailStream, StreamAttachment
from triggered_email.row_instances import RowReader
from triggered_email.row_lookup import any_of

# What rendering, sending and recording a message read of it, its stream and its contact. A
# field missing here is still loaded when read, one query per message (as with .only()):
# tests/test_query_counts.py notices.
MESSAGE_FIELDS = (
    "id",
    "stream_id",
    # Only for log lines about the message (JSON logs): 8 bytes a row.
    "trigger_id",
    "version_id",
    "contact_id",
    "recipient",
    "data",
    "status",
    "attempts",
    "uuid",
    "message_id",
    "received_at",
    "claimed_at",
)
STREAM_FIELDS = (
    "id",
    "name",
    "sender_name",
    "sender_email",
    "reply_to",
    "track_opens",
    "track_clicks",
)
CONTACT_FIELDS = ("id", "email", "external_id", "first_name", "last_name", "fields")


def lease_end(now: datetime) -> datetime:
    """When a claim made (or renewed) at `now` lapses unless its worker renews it again."""
    return now + timedelta(seconds=settings.TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class _Statement:
    sql: str
    message: RowReader
    stream: RowReader
    contact: RowReader


def _fields(model: type[Model], attnames: tuple[str, ...]) -> tuple:
    # In the model's order: Model.from_db takes the values of the fields it is given in it.
    return tuple(f for f in model._meta.concrete_fields if f.attname in attnames)


@lru_cache(maxsize=2)
def _statement(match: str) -> _Statement:
    qn = connection.ops.quote_name
    message, stream, contact = Message._meta, MailStream._meta, Contact._meta
    message_fields = _fields(Message, MESSAGE_FIELDS)
    stream_fields = _fields(MailStream, STREAM_FIELDS)
    contact_fields = _fields(Contact, CONTACT_FIELDS)

    def column(name: str) -> str:
        return qn(message.get_field(name).column)

    pk = qn(message.pk.column)
    attachment, stream_attachment = MessageAttachment._meta, StreamAttachment._meta
    selected = [
        *(f"claimed.{qn(f.column)}" for f in message_fields),
        *(f"s.{qn(f.column)}" for f in stream_fields),
        *(f"c.{qn(f.column)}" for f in contact_fields),
        # Most messages have no files: asking here spares two lookups per task.
        f"EXISTS (SELECT 1 FROM {qn(attachment.db_table)} a "  # noqa: S608
        f"WHERE a.{qn(attachment.get_field('message').column)} = claimed.{pk})",
        f"EXISTS (SELECT 1 FROM {qn(stream_attachment.db_table)} sa "  # noqa: S608
        f"WHERE sa.{qn(stream_attachment.get_field('stream').column)} "
        f"= claimed.{column('stream')})",
    ]
    # Only quoted names and placeholders go into the text; values are parameters.
    sql = (
        f"WITH claimed AS (UPDATE {qn(message.db_table)} SET {column('status')} = %s, "  # noqa: S608
        f"{column('claim_token')} = %s, {column('claimed_at')} = %s, {column('lease_until')} = %s, "
        f"{column('attempts')} = {column('attempts')} + 1 "
        # `status || ''`: the partial index of due queued messages must not serve this
        # statement. Planned from statistics taken while few messages were queued, PostgreSQL
        # picked it and then scanned the whole queue for each claim: with a broadcast's 50,000
        # queued, 16-26 ms for a one-message claim instead of 1 (measured in ee4d975).
        f"WHERE {pk} {match} AND {column('status')} || '' = %s "
        f"AND {column('next_attempt_at')} <= %s "
        f"RETURNING {', '.join(qn(f.column) for f in message_fields)}) "
        f"SELECT {', '.join(selected)} FROM claimed "
        f"JOIN {qn(stream.db_table)} s ON s.{qn(stream.pk.column)} = claimed.{column('stream')} "
        f"LEFT JOIN {qn(contact.db_table)} c "
        f"ON c.{qn(contact.pk.column)} = claimed.{column('contact')} "
        f"ORDER BY claimed.{pk}"
    )
    return _Statement(
        sql,
        RowReader(Message, message_fields, connection),
        RowReader(MailStream, stream_fields, connection),
        RowReader(Contact, contact_fields, connection),
    )


def claim_rows(
    message_ids: list[int], token: uuid.UUID, now: datetime, lease_until: datetime | None = None
) -> list[Message]:
    """Take the due, queued ones among `message_ids` for `token` until `lease_until` (the
    worker renews it while it works); each with its stream (one
    instance per stream), its contact, and `has_attachments`/`stream_has_attachments`.

    PostgreSQL only (a data-modifying WITH); elsewhere delivery.tasks claims with the ORM.
    """
    if lease_until is None:
        lease_until = lease_end(now)
    match, ids = any_of(connection, message_ids)
    statement = _statement(match)
    with connection.cursor() as cursor:
        cursor.execute(
            statement.sql,
            [Message.Status.SENDING, token, now, lease_until, *ids, Message.Status.QUEUED, now],
        )
        rows = cursor.fetchall()
    sizes = (len(statement.message), len(statement.stream), len(statement.contact))
    streams: dict[int, MailStream] = {}
    messages = []
    for row in rows:
        message_values = row[: sizes[0]]
        stream_values = row[sizes[0] : sizes[0] + sizes[1]]
        contact_values = row[sizes[0] + sizes[1] : sum(sizes)]
        message = statement.message(message_values, connection)
        stream = streams.get(message.stream_id)
        if stream is None:
            stream = streams[message.stream_id] = statement.stream(stream_values, connection)
        message.stream = stream
        message.contact = (
            statement.contact(contact_values, connection)
            if message.contact_id is not None
            else None
        )
        message.has_attachments, message.stream_has_attachments = row[sum(sizes) :]
        messages.append(message)
    return messages
