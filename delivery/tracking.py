"""Recording what happened to a message after the send: one function for every source.

ESP webhooks (delivery.webhooks) and our own open pixel and click redirects
(delivery.tracking_views) both end in `record_event`. It stores the DeliveryEvent (once per
provider event id: replays change nothing), moves the message's engagement fields forward, and
suppresses the address after a hard bounce or a complaint.

Events arrive out of order (a `delivered` webhook may come after the recipient clicked), so the
message's fields only ever move forward: first open and first click keep the earliest time, the
bounce kind keeps the worst bounce, and `outcome` moves only to a state that tells at least as much.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from delivery.models import DeliveryEvent, Message, Suppression
from delivery.suppressions import suppress

Type = DeliveryEvent.Type
Outcome = Message.Outcome
BounceKind = Message.BounceKind

# How much an outcome tells about a message: a later event replaces the outcome only with one of
# at least the same rank. An open proves arrival, so it outranks delivered and a (misattributed)
# bounce; a complaint is what deliverability cares about most.
OUTCOME_RANK: dict[str, int] = {
    "": 0,
    Outcome.DEFERRED: 1,
    Outcome.DELIVERED: 2,
    Outcome.BOUNCED: 3,
    Outcome.REJECTED: 3,
    Outcome.FAILED: 3,
    Outcome.OPENED: 4,
    Outcome.CLICKED: 5,
    Outcome.UNSUBSCRIBED: 6,
    Outcome.COMPLAINED: 7,
}
# A message's bounce kind keeps the worst bounce seen.
BOUNCE_RANK: dict[str, int] = {"": 0, BounceKind.SOFT: 1, BounceKind.BLOCK: 2, BounceKind.HARD: 3}
# First times kept per event type (the earliest wins when events come out of order).
FIRST_TIME_FIELD: dict[str, str] = {
    Type.DELIVERED: "delivered_at",
    Type.OPENED: "opened_at",
    Type.CLICKED: "clicked_at",
    Type.COMPLAINED: "complained_at",
}


@dataclass
class TrackedEvent:
    """A normalised event, whatever its source."""

    event_type: str
    occurred_at: datetime
    provider: str
    provider_event_id: str | None = None
    bounce_kind: str = ""
    description: str = ""
    mta_response: str = ""
    user_agent: str = ""
    url: str = ""
    recipient: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def record_event(message: Message | None, event: TrackedEvent) -> DeliveryEvent | None:
    """Store `event` for `message` (None: a message we do not know) and act on it.

    Returns the stored DeliveryEvent, or None when the provider had sent this event before.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = DeliveryEvent.objects.create(
                    message=message,
                    event_type=event.event_type,
                    occurred_at=event.occurred_at,
                    bounce_kind=event.bounce_kind if event.event_type == Type.BOUNCED else "",
                    description=event.description,
                    mta_response=event.mta_response,
                    user_agent=event.user_agent,
                    url=event.url,
                    provider=event.provider,
                    provider_event_id=event.provider_event_id,
                    raw=event.raw,
                )
        except IntegrityError:
            if event.provider_event_id is None:
                raise
            return None  # a replay: stored once already
        if message is not None:
            apply_to_message(message.pk, event)
            _act_on(message, event)
    return stored


def apply_to_message(message_id: int, event: TrackedEvent) -> None:
    """Move the message's engagement fields forward; never backwards (conditional UPDATEs)."""
    when = event.occurred_at
    messages = Message.objects.filter(pk=message_id)
    outcome = event.event_type if event.event_type in OUTCOME_RANK else ""
    if outcome:
        rank = OUTCOME_RANK[outcome]
        lower = [name for name, r in OUTCOME_RANK.items() if r < rank]
        messages.filter(
            Q(outcome__in=lower)
            | Q(outcome=outcome, outcome_at__lt=when)
            | Q(outcome=outcome, outcome_at__isnull=True)
        ).update(outcome=outcome, outcome_at=when)
    first = FIRST_TIME_FIELD.get(event.event_type)
    if first:
        messages.filter(Q(**{f"{first}__isnull": True}) | Q(**{f"{first}__gt": when})).update(
            **{first: when}
        )
    if event.event_type == Type.BOUNCED and event.bounce_kind:
        worse_than = [k for k, r in BOUNCE_RANK.items() if r < BOUNCE_RANK[event.bounce_kind]]
        messages.filter(bounce_kind__in=worse_than).update(bounce_kind=event.bounce_kind)


def _act_on(message: Message, event: TrackedEvent) -> None:
    # Soft bounces, blocks and deferrals say nothing lasting about the address.
    if event.event_type == Type.BOUNCED and event.bounce_kind == BounceKind.HARD:
        suppress(
            event.recipient or message.recipient,
            Suppression.Reason.HARD_BOUNCE,
            source_message=message,
            note=(event.mta_response or event.description)[:1000],
        )
    elif event.event_type == Type.COMPLAINED:
        suppress(
            event.recipient or message.recipient,
            Suppression.Reason.COMPLAINT,
            source_message=message,
            note=f"complaint reported by {event.provider}",
        )


def first_open_recorded(message: Message, user_agent: str) -> bool:
    """Our own pixel: record the first open only (images reload on every view of the mail)."""
    now = timezone.now()
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now):
            return False
        record_event(
            message,
            TrackedEvent(
                event_type=Type.OPENED,
                occurred_at=now,
                provider="tracking",
                user_agent=user_agent,
            ),
        )
    return True


def record_click(message: Message, url: str, user_agent: str) -> DeliveryEvent | None:
    """Our own click redirect: every click is recorded, with the URL that was followed."""
    return record_event(
        message,
        TrackedEvent(
            event_type=Type.CLICKED,
            occurred_at=timezone.now(),
            provider="tracking",
            user_agent=user_agent,
            url=url,
        ),
    )
