"""The one triggering function: every entry point (API, broadcast, integrations, automation,
test sends) ends here, and here the outbox rows are written.

A recipient of a trigger becomes one Message per stream, in the same transaction as the Trigger,
and the queued ones are handed to their lane only after commit. What is not sent is still
written, with the reason: held (stream paused), discarded (paused with the discard policy),
skipped (suppressed, missing attachment). A repeated client `trigger_id` writes nothing new.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from delivery import copy_insert
from delivery.models import DeliveryEvent, Message, MessageAttachment, Suppression
from delivery.queue import enqueue_on_commit
from streams.models import MailStream
from triggered_email.row_instances import instance
from triggered_email.row_lookup import any_of


@dataclass(frozen=True)
class StoredAttachment:
    """A trigger's attachment, already in storage (written before the transaction opens)."""

    name: str
    filename: str
    content_type: str
    size: int


@dataclass
class Recipient:
    email: str
    contact: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    trigger_id: str = ""
    attachments: Sequence[StoredAttachment] = ()
    event_time: Any = None


@dataclass(frozen=True)
class Written:
    """What became of one recipient for one stream."""

    recipient: Recipient
    stream: MailStream
    message: Message
    duplicate: bool = False


def store_attachment(filename: str, content: bytes, content_type: str) -> StoredAttachment:
    """Write a trigger's file to the default storage. Call before opening the transaction:
    with S3 this is network I/O."""
    folder = f"message-attachments/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}"
    name = default_storage.save(f"{folder}/{filename}", ContentFile(content))
    return StoredAttachment(name, filename, content_type, len(content))


def discard_stored(attachments: Sequence[StoredAttachment]) -> None:
    """Remove files stored for a trigger whose transaction did not commit."""
    for attachment in attachments:
        default_storage.delete(attachment.name)


def dedup_key(event_id: int | None, stream: MailStream, recipient: Recipient) -> str | None:
    if not recipient.trigger_id:
        return None
    who = f"c{recipient.contact.pk}" if recipient.contact is not None else recipient.email.lower()
    raw = f"{event_id or 0}\x1f{stream.pk}\x1f{who}\x1f{recipient.trigger_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def new_uuids(count: int) -> list[uuid.UUID]:
    """`count` uuid4s from one read of os.urandom: one read per uuid (uuid.uuid4) was 6 % of a
    batch call's CPU."""
    random = os.urandom(16 * count)
    return [uuid.UUID(bytes=random[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


def _sender_domain(stream: MailStream) -> str:
    return stream.sender_email.rpartition("@")[2].lower() or "localhost"


def _suppressed(emails: set[str], streams: Sequence[MailStream]) -> set[tuple[str, int | None]]:
    """(email, stream id or None for all streams) of the suppressions that apply."""
    if not emails:
        return set()
    # Written out: this runs on every trigger call, and building it with the ORM cost ten times
    # the CPU of running it (measured in 34e8364).
    meta, qn = Suppression._meta, connection.ops.quote_name
    email, stream = qn(meta.get_field("email").column), qn(meta.get_field("stream").column)
    scope = f"{stream} IS NULL"
    if streams:
        scope += f" OR {stream} IN ({', '.join(['%s'] * len(streams))})"
    match, email_params = any_of(connection, list(emails))
    # Only quoted column names and placeholders are put into the text; values are parameters.
    sql = f"SELECT {email}, {stream} FROM {qn(meta.db_table)} WHERE {email} {match}"  # noqa: S608
    sql += f" AND ({scope})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*email_params, *(s.pk for s in streams)])
        return {(row[0], row[1]) for row in cursor.fetchall()}


def _initial_state(
    stream: MailStream, recipient: Recipient, suppressed: set[tuple[str, int | None]]
) -> tuple[str, str]:
    email = recipient.email.lower()
    if (email, None) in suppressed or (email, stream.pk) in suppressed:
        return Message.Status.SKIPPED, Message.SkipReason.SUPPRESSED
    if stream.require_attachment and not recipient.attachments:
        return Message.Status.SKIPPED, Message.SkipReason.MISSING_ATTACHMENT
    if stream.status == MailStream.Status.PAUSED:
        if stream.pause_policy == MailStream.PausePolicy.DISCARD:
            return Message.Status.DISCARDED, ""
        return Message.Status.HELD, ""
    return Message.Status.QUEUED, ""


# The related objects a new message is handed, cached on it as Message(...) would: the caller
# can read message.stream, .trigger and .contact without a query.
_RELATED = ("trigger", "stream", "contact")


@dataclass(frozen=True)
class _MessageLayout:
    """Message's columns in order: their names, the position of each, the default of those
    whose default is a constant (the callable ones must be given), and the related fields."""

    attnames: list[str]
    position: dict[str, int]
    defaults: tuple[Any, ...]
    must_give: frozenset[str]
    related: dict[str, Any]


@lru_cache(maxsize=1)
def _message_layout() -> _MessageLayout:
    fields = Message._meta.concrete_fields
    attnames = [field.attname for field in fields]
    generated = {f.attname for f in fields if f.has_default() and callable(f.default)}
    return _MessageLayout(
        attnames=attnames,
        position={name: index for index, name in enumerate(attnames)},
        defaults=tuple(None if f.attname in generated else f.get_default() for f in fields),
        must_give=frozenset(generated),
        related={name: Message._meta.get_field(name) for name in _RELATED},
    )


def new_message(**values: Any) -> Message:
    """Message(**values), built from a full row without Model.__init__
    (triggered_email.row_instances).

    Django's keyword path cost 27 µs per object here, its positional one 18 µs, this about 6,
    and a batch call builds a thousand of them (measured in ee4d975 and ef50d2b).
    """
    layout = _message_layout()
    related = {name: values.pop(name) for name in _RELATED if name in values}
    missing = layout.must_give - values.keys()
    if missing:
        raise TypeError(f"new_message() needs {', '.join(sorted(missing))}")
    row = list(layout.defaults)
    for name, value in related.items():
        row[layout.position[f"{name}_id"]] = None if value is None else value.pk
    for name, value in values.items():
        row[layout.position[name]] = value
    message = instance(Message, layout.attnames, row, db=None)
    for name, value in related.items():
        # What the descriptor's __set__ ends with. Going through it asked the database router
        # twice per object, a fifth of a batch call's CPU; the ids are in the row already.
        layout.related[name].set_cached_value(message, value)
    return message


def write_outbox(
    *,
    trigger: Any,
    streams: Sequence[MailStream],
    recipients: Sequence[Recipient],
    event_id: int | None,
    is_test: bool = False,
) -> list[Written]:
    """Write one Message per (stream, recipient) and enqueue the queued ones after commit.

    Must run inside the caller's transaction, which also holds the Trigger row.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("write_outbox() must run inside transaction.atomic()")
    now = timezone.now()
    pairs = [(stream, recipient) for recipient in recipients for stream in streams]
    keys = {dedup_key(event_id, s, r) for s, r in pairs} - {None}
    existing = {m.dedup_key: m for m in Message.objects.filter(dedup_key__in=keys)} if keys else {}
    suppressed = _suppressed({r.email.lower() for r in recipients}, streams)

    written: list[Written] = []
    new_messages: list[Message] = []
    seen_keys: dict[str, Message] = {}
    uuids = new_uuids(len(pairs))
    for (stream, recipient), message_uuid in zip(pairs, uuids, strict=True):
        key = dedup_key(event_id, stream, recipient)
        duplicate_of = (existing.get(key) or seen_keys.get(key)) if key else None
        if duplicate_of is not None:
            written.append(Written(recipient, stream, duplicate_of, duplicate=True))
            continue
        status, skip_reason = _initial_state(stream, recipient, suppressed)
        queued = now if status == Message.Status.QUEUED else None
        message = new_message(
            trigger=trigger,
            stream=stream,
            version_id=stream.current_version_id,
            contact=recipient.contact,
            recipient=recipient.email,
            data=recipient.data,
            lane=stream.lane,
            status=status,
            skip_reason=skip_reason,
            is_test=is_test,
            uuid=message_uuid,
            message_id=f"<{message_uuid.hex}@{_sender_domain(stream)}>",
            dedup_key=key,
            client_trigger_id=recipient.trigger_id,
            event_time=recipient.event_time,
            received_at=now,
            next_attempt_at=queued,
            queued_at=queued,
        )
        if key:
            seen_keys[key] = message
        new_messages.append(message)
        written.append(Written(recipient, stream, message))

    copy_insert.insert(Message, new_messages)
    MessageAttachment.objects.bulk_create(
        MessageAttachment(
            message=entry.message,
            file=stored.name,
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
        )
        for entry in written
        if not entry.duplicate
        for stored in entry.recipient.attachments
    )

    by_lane: dict[str, list[int]] = defaultdict(list)
    paused: list[Message] = []
    for message in new_messages:
        if message.status == Message.Status.QUEUED:
            by_lane[message.lane].append(message.pk)
        elif message.status in _PAUSED_STEPS:
            paused.append(message)
    if paused:
        _record_paused_steps(paused, now)
    enqueue_on_commit(by_lane)
    return written


# What a paused stream did with a new message, for its timeline.
_PAUSED_STEPS = {
    Message.Status.HELD: (
        DeliveryEvent.Type.HELD,
        "its stream is paused; it is sent when the stream resumes",
    ),
    Message.Status.DISCARDED: (
        DeliveryEvent.Type.DISCARDED,
        "its stream was paused with the discard policy",
    ),
}


def _record_paused_steps(messages: list[Message], now: Any) -> None:
    events = []
    for message in messages:
        step, description = _PAUSED_STEPS[message.status]
        events.append(
            DeliveryEvent(
                message_id=message.pk,
                event_type=step,
                occurred_at=now,
                received_at=now,
                description=description,
                provider="outbox",
            )
        )
    DeliveryEvent.objects.bulk_create(events)
