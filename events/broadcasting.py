"""Broadcast streams: email to addresses given in the call, not taken from the contact database.

`POST /api/v2/email/{stream_id}/broadcast` with `{"email", "data"}` (Emarsys' shape) or
`{"recipients": [{"email", "data"?, "trigger_id"?, "attachment"?} | "address", …]}` (≤ 1000).
Invalid recipients are reported one by one; the valid ones are written to the outbox in one
transaction and sent on the bulk lane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from delivery.outbox import (
    Recipient,
    StoredAttachment,
    Written,
    discard_stored,
    store_attachment,
    write_outbox,
)
from events.json_bodies import JsonBodyError, storable_entry
from events.models import ApiCredential, Trigger
from events.reply_codes import ReplyCode, ReplyError
from events.triggering import (
    AttachmentUpload,
    ItemError,
    check_event_size,
    parse_attachments,
    parse_data,
    parse_trigger_id,
)
from streams.models import MailStream
from triggered_email.numbers import ascii_int

MAX_ADDRESS_CHARS = 254


@dataclass
class BroadcastItem:
    email: str
    data: dict[str, Any]
    trigger_id: str = ""
    attachments: Sequence[AttachmentUpload] = ()


@dataclass
class BroadcastResult:
    trigger: Trigger | None
    written: list[Written]
    errors: list[ItemError]


def get_broadcast_stream(stream_id: str) -> MailStream:
    number = ascii_int(stream_id)
    stream = MailStream.objects.filter(pk=number).first() if number is not None else None
    if stream is None:
        raise ReplyError(
            ReplyCode.INVALID_STREAM,
            f"Invalid mail stream id: {stream_id}. The stream's id is on its page in the admin.",
            http_status=404,
        )
    if stream.kind != MailStream.Kind.BROADCAST:
        raise ReplyError(
            ReplyCode.INVALID_STREAM,
            f"Mail stream {stream.pk} ({stream.name}) is not a broadcast stream: trigger it "
            "through its event (POST /api/v2/event/{id}/trigger), or make it a broadcast stream.",
        )
    if not stream.accepts_triggers or stream.current_version_id is None:
        raise ReplyError(
            ReplyCode.NO_LIVE_STREAM,
            f"Mail stream {stream.pk} ({stream.name}) is {stream.status}: launch it first.",
        )
    return stream


def parse_recipient(
    entry: Any, shared_data: Mapping[str, Any] | None = None, *, suspect: bool = True
) -> BroadcastItem:
    """One recipient: an address, or {"email", "data"?, "trigger_id"?, "attachment"?}.

    `suspect`: the body may hold NaN/Infinity (json_bodies.may_hold_non_finite).
    """
    if isinstance(entry, str):
        entry = {"email": entry}
    if not isinstance(entry, dict):
        raise ReplyError(
            ReplyCode.INVALID_RECIPIENT, 'each recipient is an address or {"email": …, "data": …}'
        )
    try:
        entry = storable_entry(entry, suspect=suspect)
    except JsonBodyError as exc:
        raise ReplyError(ReplyCode.INVALID_DATA_JSON, str(exc)) from exc
    check_event_size(entry)
    email = entry.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ReplyError(ReplyCode.INVALID_RECIPIENT, "email is missing")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ReplyError(
            ReplyCode.INVALID_RECIPIENT, f"{email[:100]!r} is not a valid address"
        ) from exc
    # Valid addresses go up to 320 characters; the outbox column (RFC 5321's path limit) is 254.
    if len(email) > MAX_ADDRESS_CHARS:
        raise ReplyError(
            ReplyCode.INVALID_RECIPIENT,
            f"the address is {len(email)} characters long; at most {MAX_ADDRESS_CHARS} can be sent",
        )
    data = parse_data(entry.get("data"))
    if shared_data:
        data = {**shared_data, **data}
    return BroadcastItem(
        email=email,
        data=data,
        trigger_id=parse_trigger_id(entry.get("trigger_id")),
        attachments=parse_attachments(entry.get("attachment")),
    )


def parse_broadcast(
    body: Mapping[str, Any], *, suspect: bool = True
) -> tuple[list[BroadcastItem], list[ItemError]]:
    """The recipients of a broadcast call, and the errors of those that cannot be sent.

    `suspect`: the body may hold NaN/Infinity (json_bodies.may_hold_non_finite).
    """
    if "recipients" not in body:
        # Emarsys' single-recipient shape: a bad address refuses the whole call.
        return [parse_recipient(body, suspect=suspect)], []
    recipients = body["recipients"]
    if not isinstance(recipients, list) or not recipients:
        raise ReplyError(ReplyCode.INVALID_FIELD, "recipients must be a non-empty list.")
    if len(recipients) > settings.API_MAX_BATCH:
        raise ReplyError(
            ReplyCode.BATCH_TOO_LARGE,
            f"The request exceeded the maximum batch size of {settings.API_MAX_BATCH} "
            f"({len(recipients)} recipients): split it into several requests.",
        )
    try:
        shared = parse_data(storable_entry({"data": body.get("data")}, suspect=suspect)["data"])
    except JsonBodyError as exc:
        raise ReplyError(ReplyCode.INVALID_DATA_JSON, str(exc)) from exc
    items: list[BroadcastItem] = []
    errors: list[ItemError] = []
    for index, entry in enumerate(recipients):
        try:
            items.append(parse_recipient(entry, shared, suspect=suspect))
        except ReplyError as exc:
            label = entry.get("email") if isinstance(entry, dict) else entry
            label = label if isinstance(label, str) and label.strip() else f"#{index}"
            errors.append(ItemError(label, exc.code, exc.text))
    return items, errors


def broadcast(
    stream: MailStream,
    items: Sequence[BroadcastItem],
    *,
    errors: Sequence[ItemError] = (),
    credential: ApiCredential | None = None,
    idempotency_key: str = "",
) -> BroadcastResult:
    """Write one message per valid recipient (one Trigger for the call) and send after commit."""
    if not items:
        return BroadcastResult(None, [], list(errors))
    stored: list[list[StoredAttachment]] = []
    try:
        for item in items:
            stored.append(
                [store_attachment(a.filename, a.content, a.content_type) for a in item.attachments]
            )
        recipients = [
            Recipient(
                email=item.email,
                data=item.data,
                trigger_id=item.trigger_id,
                attachments=files,
            )
            for item, files in zip(items, stored, strict=True)
        ]
        trigger, written = _write(stream, recipients, credential, idempotency_key, len(errors))
    except BaseException:
        discard_stored([a for files in stored for a in files])
        raise
    return BroadcastResult(trigger, written, list(errors))


def _write(
    stream: MailStream,
    recipients: list[Recipient],
    credential: ApiCredential | None,
    idempotency_key: str,
    error_count: int,
) -> tuple[Trigger, list[Written]]:
    # As in events.triggering: a concurrent call with the same trigger_id loses the race on the
    # unique dedup key once, and then finds the winner's messages.
    for attempt in range(2):
        try:
            with transaction.atomic():
                trigger = Trigger.objects.create(
                    event_id=stream.event_id,
                    source=Trigger.Source.BROADCAST,
                    credential=credential,
                    idempotency_key=idempotency_key,
                    trigger_id=recipients[0].trigger_id if len(recipients) == 1 else "",
                    recipient_count=len(recipients) + error_count,
                    error_count=error_count,
                )
                written = write_outbox(
                    trigger=trigger,
                    streams=[stream],
                    recipients=recipients,
                    event_id=stream.event_id,
                )
                trigger.message_count = sum(1 for w in written if not w.duplicate)
                trigger.save(update_fields=["message_count"])
                return trigger, written
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
