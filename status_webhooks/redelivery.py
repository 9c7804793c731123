"""Operators send deliveries again: one, or everything that failed for an endpoint since a
time. The same body goes out under the same `webhook-id`, so a receiver that saw it already can
tell; the attempt count starts again, and every earlier attempt stays recorded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from status_webhooks.models import WebhookDelivery

Status = WebhookDelivery.Status


def redeliver(delivery_ids: Iterable[int]) -> int:
    """Queue these deliveries again (not one being attempted right now). Returns how many."""
    now = timezone.now()
    return (
        WebhookDelivery.objects.filter(pk__in=list(delivery_ids))
        .filter(~Q(status=Status.SENDING))
        .update(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            handed_at=None,
            lease_until=None,
        )
    )


def redeliver_failed(subscription_id: int, since: datetime) -> int:
    """Queue again every failed delivery of one subscription created at or after `since`."""
    ids = WebhookDelivery.objects.filter(
        subscription_id=subscription_id, status=Status.FAILED, created_at__gte=since
    ).values_list("pk", flat=True)
    return redeliver(list(ids))
