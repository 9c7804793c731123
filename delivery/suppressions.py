"""Addresses not to send to: hard bounces and complaints suppress an address for every stream.

The trigger path (delivery.outbox) skips suppressed recipients when it writes the outbox; the send
path checks again for messages that waited (held while a stream was paused, or queued for a retry)
while a suppression arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from delivery.models import DeliveryEvent, Message, Suppression

logger = logging.getLogger(__name__)


def suppress(
    email: str, reason: str, *, source_message: Message | None = None, note: str = ""
) -> Suppression:
    """Suppress `email` for all streams; an address already suppressed keeps its first reason."""
    email = email.strip().lower()
    existing = Suppression.objects.filter(email=email, stream__isnull=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(
                email=email, reason=reason, source_message=source_message, note=note
            )
    except IntegrityError:
        # Two webhooks for the same address at once: the other one won.
        return Suppression.objects.get(email=email, stream__isnull=True)
    logger.info("Suppressed %s (%s)", email, reason)
    return suppression


def remove_suppression(suppression: Suppression, *, removed_by: Any, note: str) -> None:
    """Lift a suppression, leaving an audit note in the admin's log (who, when, why).

    The address receives mail again from the next trigger on.
    """
    from django.contrib.admin.models import DELETION, LogEntry

    note = note.strip()
    if not note:
        raise ValueError("Say why the suppression is removed: the note is the audit record.")
    source = suppression.source_message_id
    cause = suppression.get_reason_display() + (f", source message #{source}" if source else "")
    text = f"Removed suppression of {suppression.email} ({cause}): {note}"
    with transaction.atomic():
        LogEntry.objects.log_actions(
            removed_by.pk,
            Suppression.objects.filter(pk=suppression.pk),
            DELETION,
            change_message=text,
            single_object=True,
        )
        suppression.delete()
    logger.info("Suppression of %s removed by %s: %s", suppression.email, removed_by, note)


RECHECK_AFTER = timedelta(seconds=30)


def skip_suppressed(messages: Sequence[Message]) -> list[Message]:
    """Mark the claimed `messages` whose recipient was suppressed meanwhile as skipped.

    Messages wait between trigger and send (held while their stream is paused, queued for a
    retry), and a bounce or complaint may suppress the address in between. Returns the messages
    that may still be sent.
    """
    # write_outbox checked every recipient when the trigger came in; only messages that waited
    # since (held, retried, or stuck behind a backlog) can have been suppressed meanwhile. Fresh
    # ones skip the query: it is the hot path of every time-critical send.
    waited = [
        m
        for m in messages
        if m.attempts > 1 or m.claimed_at is None or m.claimed_at - m.received_at > RECHECK_AFTER
    ]
    if not waited:
        return list(messages)
    emails = {m.recipient.lower() for m in waited}
    streams = {m.stream_id for m in waited}
    rows = Suppression.objects.filter(email__in=emails).filter(
        Q(stream__isnull=True) | Q(stream__in=streams)
    )
    suppressed = set(rows.values_list("email", "stream_id"))
    if not suppressed:
        return list(messages)
    keep, skipped = [], []
    for message in messages:
        email = message.recipient.lower()
        if (email, None) in suppressed or (email, message.stream_id) in suppressed:
            skipped.append(message)
        else:
            keep.append(message)
    if skipped:
        now = timezone.now()
        with transaction.atomic():
            Message.objects.filter(
                pk__in=[m.pk for m in skipped], status=Message.Status.SENDING
            ).update(
                status=Message.Status.SKIPPED,
                skip_reason=Message.SkipReason.SUPPRESSED,
                claim_token=None,
                updated_at=now,
            )
            # The timeline says why it was not sent, and the dashboard's refresh sees the change.
            DeliveryEvent.objects.bulk_create(
                DeliveryEvent(
                    message=message,
                    event_type=DeliveryEvent.Type.REJECTED,
                    occurred_at=now,
                    description="not sent: the recipient was suppressed after the trigger",
                    provider="outbox",
                )
                for message in skipped
            )
        for message in skipped:
            message.status = Message.Status.SKIPPED
            message.skip_reason = Message.SkipReason.SUPPRESSED
        logger.info("Skipped %d messages to addresses suppressed since trigger", len(skipped))
    return keep
