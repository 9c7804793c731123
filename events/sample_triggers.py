"""Test triggers, the admin's "Trigger test" of an external event: the event fired for one
address with sample data. Product code, not a test module.

It takes the same path as a trigger from the API (live streams send, paused ones hold or
discard, suppressions apply), and every message it writes is marked as a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from delivery.outbox import Recipient, Written, write_outbox
from events.models import Contact, ExternalEvent, Trigger
from events.reply_codes import ReplyCode, ReplyError
from events.triggering import linked_streams


@dataclass(frozen=True)
class TestTriggerResult:
    trigger: Trigger
    written: list[Written]
    contact: Contact | None


def trigger_test(event: ExternalEvent, email: str, data: dict[str, Any]) -> TestTriggerResult:
    """Fire `event` for `email` (the contact with that address, if there is one) with `data`."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ReplyError(
            ReplyCode.INVALID_RECIPIENT, f"{email!r} is not an email address."
        ) from exc
    streams = linked_streams(event)
    if not streams:
        raise ReplyError(
            ReplyCode.NO_LIVE_STREAM,
            f"No live or paused mail stream is linked to {event}: launch one first.",
        )
    contacts = list(Contact.objects.filter(email=email)[:2])
    contact = contacts[0] if len(contacts) == 1 else None
    with transaction.atomic():
        trigger = Trigger.objects.create(event=event, source=Trigger.Source.TEST, recipient_count=1)
        written = write_outbox(
            trigger=trigger,
            streams=streams,
            recipients=[Recipient(email=email, contact=contact, data=data)],
            event_id=event.pk,
            is_test=True,
        )
        trigger.message_count = len(written)
        trigger.save(update_fields=["message_count"])
    return TestTriggerResult(trigger, written, contact)
