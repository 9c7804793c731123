"""Triggering an external event for contacts: resolve recipients, then write the outbox.

The API, integrations and automation programs all call `trigger_event`; it hands recipients to
`delivery.outbox.write_outbox`, the one function that writes messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from delivery import copy_insert
from delivery.lane_priority import note_time_critical_work
from delivery.outbox import (
    Recipient,
    StoredAttachment,
    Written,
    discard_stored,
    store_attachment,
    write_outbox,
)
from events.contacts import KeyField, find_contacts, normalise_key_value
from events.models import ApiCredential, Contact, ExternalEvent, Trigger
from events.programs.models import Program
from events.programs.runs import PROGRAM_ENTRY_STATUSES, Entered, enter_programs, entry_programs
from events.reply_codes import ReplyCode, ReplyError
from streams.filenames import clean_filename, content_type_for
from streams.models import MailStream
from triggered_email.row_instances import RowReader

EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


@dataclass(frozen=True)
class AttachmentUpload:
    filename: str
    content: bytes
    content_type: str


@dataclass
class TriggerItem:
    """One contact of a trigger call, validated."""

    key: str
    trigger_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    attachments: list[AttachmentUpload] = field(default_factory=list)
    event_time: datetime | None = None


@dataclass(frozen=True)
class ItemError:
    key: str
    code: ReplyCode
    text: str


@dataclass
class TriggerResult:
    trigger: Trigger
    written: list[Written]
    errors: list[ItemError]
    contacts: list[Contact]
    # Runs started in automation programs whose entry event this is.
    runs: list[Entered] = field(default_factory=list)


# --- validating what a client sent -----------------------------------------------------------


def parse_data(value: Any) -> dict[str, Any]:
    """`data` may be an object or a string holding one (some Emarsys clients send the latter)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ReplyError(ReplyCode.INVALID_DATA_JSON, f"data is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ReplyError(
            ReplyCode.DATA_NOT_OBJECT,
            f"data must be a JSON object of template variables, not {type(value).__name__}.",
        )
    return value


def parse_event_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not EVENT_TIME.match(value):
        raise ReplyError(
            ReplyCode.INVALID_EVENT_TIME,
            f"event_time {value!r} is invalid: use UTC as YYYY-MM-DDTHH:MM:SS[.mmm]Z.",
        )
    try:
        return datetime.strptime(value.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=UTC
        )
    except ValueError as exc:
        raise ReplyError(ReplyCode.INVALID_EVENT_TIME, f"event_time {value!r}: {exc}") from exc


def parse_trigger_id(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReplyError(ReplyCode.INVALID_FIELD, "trigger_id must be a string or a number.")
    text = str(value)
    if len(text) > 255:
        raise ReplyError(ReplyCode.INVALID_FIELD, "trigger_id is longer than 255 characters.")
    return text


def parse_attachments(value: Any) -> list[AttachmentUpload]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReplyError(
            ReplyCode.INVALID_ATTACHMENT,
            'attachment must be a list of {"filename": …, "data": <base64>} objects.',
        )
    uploads = []
    for index, entry in enumerate(value):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("filename"), str)
            or not (isinstance(entry.get("data"), str))
        ):
            raise ReplyError(
                ReplyCode.INVALID_ATTACHMENT,
                f"attachment[{index}] needs a string filename and base64 string data.",
            )
        try:
            # Line breaks are allowed: MIME-style encoders wrap base64 at 76 characters.
            content = base64.b64decode("".join(entry["data"].split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ReplyError(
                ReplyCode.INVALID_ATTACHMENT,
                f"attachment[{index}] ({entry['filename']!r}): data is not valid base64.",
            ) from exc
        filename = clean_filename(entry["filename"])
        uploads.append(AttachmentUpload(filename, content, content_type_for(filename)))
    return uploads


def check_event_size(entry: Any, raw_size: int | None = None) -> None:
    size = raw_size if raw_size is not None else len(json.dumps(entry, separators=(",", ":")))
    limit = settings.API_MAX_EVENT_BYTES
    if size > limit:
        raise ReplyError(
            ReplyCode.EVENT_TOO_LARGE,
            f"The event is {size} bytes including its attachments; the limit is {limit} bytes. "
            "Send smaller attachments or link to the files instead.",
            http_status=413,
        )


def parse_item(
    entry: Mapping[str, Any], key_field: KeyField, raw_size: int | None = None
) -> TriggerItem:
    """Validate one contact entry (`external_id`, `trigger_id`, `data`, `attachment`).

    `raw_size`: the entry's size as sent, or a bound of it (the request body's); None: measure
    the entry.
    """
    check_event_size(entry, raw_size)
    key = normalise_key_value(key_field, entry.get("external_id"))
    if key is None:
        raise ReplyError(
            ReplyCode.NO_KEY_VALUE,
            "external_id is missing or empty: give the value of the key field (key_id).",
        )
    return TriggerItem(
        key=key,
        trigger_id=parse_trigger_id(entry.get("trigger_id")),
        data=parse_data(entry.get("data")),
        attachments=parse_attachments(entry.get("attachment")),
        event_time=parse_event_time(entry.get("event_time")),
    )


# --- triggering ---------------------------------------------------------------------------


def linked_streams(event: ExternalEvent, kind: str = MailStream.Kind.CONTACT) -> list[MailStream]:
    """Streams a trigger of `event` sends: live (sent) and paused (held or discarded).

    Each carries `event_has_programs`: whether automation programs take this event as their
    entry, asked in the same query because a trigger call needs both and programs are rare.
    """
    # Written out: this runs on every trigger call, and building the same query with the ORM
    # cost 3-4 times the CPU of running it (measured in 34e8364).
    sql, reader = _linked_streams_statement()
    params = [
        event.pk,
        *PROGRAM_ENTRY_STATUSES,
        event.pk,
        kind,
        MailStream.Status.LIVE,
        MailStream.Status.PAUSED,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    streams = []
    for *values, event_has_programs in rows:
        stream = reader(values, connection)
        stream.event_has_programs = event_has_programs
        streams.append(stream)
    return streams


@lru_cache(maxsize=1)
def _linked_streams_statement() -> tuple[str, RowReader]:
    meta, qn = MailStream._meta, connection.ops.quote_name
    fields = list(meta.concrete_fields)
    column = {name: qn(meta.get_field(name).column) for name in ("event", "kind", "status")}
    program = Program._meta
    entry_event = qn(program.get_field("entry_event").column)
    program_status = qn(program.get_field("status").column)
    # Only quoted names go into the text; values are parameters.
    columns = ", ".join(qn(f.column) for f in fields)
    sql = (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {qn(program.db_table)} "  # noqa: S608
        f"WHERE {entry_event} = %s AND {program_status} IN (%s, %s)) AS event_has_programs "
        f"FROM {qn(meta.db_table)} WHERE {column['event']} = %s"
        f" AND {column['kind']} = %s AND {column['status']} IN (%s, %s)"
        f" AND {qn(meta.get_field('current_version').column)} IS NOT NULL"
        f" ORDER BY {qn(meta.pk.column)}"
    )
    return sql, RowReader(MailStream, fields, connection)


def _store(items: Sequence[TriggerItem]) -> dict[int, list[StoredAttachment]]:
    stored: dict[int, list[StoredAttachment]] = {}
    for index, item in enumerate(items):
        stored[index] = [
            store_attachment(upload.filename, upload.content, upload.content_type)
            for upload in item.attachments
        ]
    return stored


def trigger_event(
    event: ExternalEvent,
    key_field: KeyField,
    items: Sequence[TriggerItem],
    *,
    errors: Sequence[ItemError] = (),
    source: str = Trigger.Source.API,
    credential: ApiCredential | None = None,
    idempotency_key: str = "",
    all_or_nothing: bool = False,
) -> TriggerResult:
    """Trigger `event` for the contacts named in `items`; per-contact problems become errors.

    Each contact also enters the active (and paused) automation programs with this entry event.
    Raises ReplyError(5005) when neither a live or paused stream nor such a program is linked to
    the event, and with `all_or_nothing` the first contact's problem instead of writing anything.
    """
    streams = linked_streams(event)
    programs = entry_programs(event) if not streams or streams[0].event_has_programs else []
    if not streams and not programs:
        raise ReplyError(
            ReplyCode.NO_LIVE_STREAM,
            f"No live mail stream or active automation program is linked to event {event.pk} "
            f"({event.name}): launch a stream or activate a program for this event in the admin "
            "first.",
        )
    if any(stream.lane == MailStream.Lane.TRANSACTIONAL for stream in streams):
        # Marked before this call's own work, so the bulk lane holds back while the call runs
        # and while its messages are sent (delivery.lane_priority).
        note_time_critical_work()
    errors = list(errors)
    # What triggering reads of a contact: its key fields and the address. Loading the rest (the
    # free fields, two datetimes) was most of the cost of a batch call's contact lookup.
    found = find_contacts(key_field, [item.key for item in items], only=("email", "external_id"))
    accepted: list[tuple[TriggerItem, Contact]] = []
    for item in items:
        contacts = found[item.key]
        if not contacts:
            errors.append(
                ItemError(
                    item.key,
                    ReplyCode.CONTACT_NOT_FOUND,
                    f"No contact found with the external id: {key_field.value} - {item.key}",
                )
            )
        elif len(contacts) > 1:
            errors.append(
                ItemError(
                    item.key,
                    ReplyCode.MULTIPLE_CONTACTS,
                    f"More than one contact has {key_field.value} {item.key}; use a unique "
                    "key field such as id or external_id.",
                )
            )
        else:
            accepted.append((item, contacts[0]))
    if errors and all_or_nothing:
        raise ReplyError(errors[0].code, errors[0].text)

    stored = _store([item for item, _ in accepted])
    try:
        recipients = [
            Recipient(
                email=contact.email,
                contact=contact,
                data=item.data,
                trigger_id=item.trigger_id,
                attachments=stored[index],
                event_time=item.event_time,
            )
            for index, (item, contact) in enumerate(accepted)
        ]
        trigger, written, runs = _write(
            event=event,
            streams=streams,
            programs=programs,
            recipients=recipients,
            source=source,
            credential=credential,
            idempotency_key=idempotency_key,
            trigger_id=items[0].trigger_id if len(items) == 1 else "",
            event_time=items[0].event_time if len(items) == 1 else None,
            error_count=len(errors),
        )
    except BaseException:
        discard_stored([a for files in stored.values() for a in files])
        raise
    return TriggerResult(trigger, written, errors, [contact for _, contact in accepted], runs)


def _write(
    *,
    event,
    streams,
    programs,
    recipients,
    source,
    credential,
    idempotency_key,
    trigger_id,
    event_time,
    error_count,
) -> tuple[Trigger, list[Written], list[Entered]]:
    # Two concurrent calls with the same trigger_id both find no earlier message and race on the
    # unique dedup key; the loser runs once more and then sees the winner's rows.
    for attempt in range(2):
        try:
            with transaction.atomic():
                # Written with the count it has unless a recipient turns out to be a repeated
                # trigger_id: then (only then) a second write corrects it.
                expected = len(recipients) * len(streams)
                trigger = Trigger(
                    event=event,
                    source=source,
                    credential=credential,
                    trigger_id=trigger_id,
                    idempotency_key=idempotency_key,
                    event_time=event_time,
                    recipient_count=len(recipients) + error_count,
                    error_count=error_count,
                    message_count=expected,
                )
                # Written out (delivery.copy_insert): the ORM's INSERT cost a one-recipient
                # call more to build than to run.
                copy_insert.insert(Trigger, [trigger])
                written = write_outbox(
                    trigger=trigger, streams=streams, recipients=recipients, event_id=event.pk
                )
                trigger.message_count = sum(1 for w in written if not w.duplicate)
                if trigger.message_count != expected:
                    trigger.save(update_fields=["message_count"])
                runs = enter_programs(programs, trigger, recipients)
                return trigger, written, runs
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
