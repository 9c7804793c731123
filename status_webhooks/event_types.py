"""The event types a client system can subscribe to, and how delivery events map onto them.

`delivery.DeliveryEvent` rows are the outbox of status webhooks: every state change of a message
writes one in the transaction that makes the change. Their types use Anymail's vocabulary; the
webhook types are the product's own, which differ in two places: a `rejected` event the outbox
wrote itself (suppressed, expired while held) means the message was skipped, and an ESP's
`rejected` means it failed.
"""

from __future__ import annotations

from django.db import models

from delivery.models import DeliveryEvent


class WebhookEventType(models.TextChoices):
    SENT = "sent", "sent"
    DELIVERED = "delivered", "delivered"
    DEFERRED = "deferred", "deferred"
    BOUNCED = "bounced", "bounced"
    FAILED = "failed", "failed"
    OPENED = "opened", "opened"
    CLICKED = "clicked", "clicked"
    COMPLAINED = "complained", "complained"
    UNSUBSCRIBED = "unsubscribed", "unsubscribed"
    HELD = "held", "held (stream paused)"
    DISCARDED = "discarded", "discarded (stream paused)"
    SKIPPED = "skipped", "skipped"


# Delivery event types that become a webhook event of the same name. `held` and `discarded` are
# taken by value only where delivery records them (a stream paused), so nothing here breaks while
# DeliveryEvent has no such type.
_SAME_NAME = {value for value in WebhookEventType.values if value in set(DeliveryEvent.Type.values)}
OUTBOX_PROVIDER = "outbox"

# Every delivery event type the dispatcher must look at.
RELEVANT_DELIVERY_TYPES = frozenset(_SAME_NAME | {DeliveryEvent.Type.REJECTED.value})


def webhook_type_of(event_type: str, provider: str) -> str | None:
    """The webhook event type for a delivery event, or None when clients are not told."""
    if event_type == DeliveryEvent.Type.REJECTED:
        return WebhookEventType.SKIPPED if provider == OUTBOX_PROVIDER else WebhookEventType.FAILED
    if event_type in _SAME_NAME:
        return event_type
    return None
