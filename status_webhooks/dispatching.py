"""The dispatcher: delivery events become webhook deliveries.

`delivery.DeliveryEvent` is the outbox. Every state change of a message writes its event in the
transaction that makes the change, so an event exists exactly when its change was committed;
none is emitted for a rolled-back change, and none is lost if a worker dies, because the
dispatcher works from the rows alone. The send path is not touched: the webhook lane reads
events after a watermark (by id) and writes WebhookDelivery rows, one per event and matching
subscription. On PostgreSQL ids become visible out of order (a transaction that took a lower id
may commit after one that took a higher), so ids skipped below the watermark are remembered and
looked for again for WEBHOOKS_OUTBOX_LAG_SECONDS; the unique constraint (subscription, event)
makes every re-scan harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from delivery.models import DeliveryEvent
from status_webhooks.event_types import RELEVANT_DELIVERY_TYPES, webhook_type_of
from status_webhooks.models import WebhookDelivery, WebhookOutboxPosition, WebhookSubscription
from status_webhooks.signing import envelope

POSITION_NAME = "delivery_events"
# More remembered gaps than this means something else is going on (a sequence jumped): the
# oldest are given up first.
MAX_GAPS = 10_000

_EVENT_FIELDS = (
    "id",
    "event_type",
    "provider",
    "occurred_at",
    "received_at",
    "bounce_kind",
    "description",
    "mta_response",
    "url",
    "user_agent",
    "message_id",
    "message__recipient",
    "message__stream_id",
    "message__stream__name",
    "message__stream__event_id",
    "message__trigger_id",
    "message__client_trigger_id",
    "message__message_id",
    "message__is_test",
)


@dataclass(frozen=True)
class Audience:
    """An enabled subscription, as the dispatcher matches events against it."""

    pk: int
    event_types: frozenset[str]
    streams: frozenset[int]
    external_events: frozenset[int]
    since: datetime

    def wants(self, event_type: str, row: dict[str, Any]) -> bool:
        return (
            event_type in self.event_types
            and (not self.streams or row["message__stream_id"] in self.streams)
            and (
                not self.external_events or row["message__stream__event_id"] in self.external_events
            )
            and row["received_at"] >= self.since
        )


def audiences() -> list[Audience]:
    found = []
    for subscription in WebhookSubscription.objects.filter(enabled=True).prefetch_related(
        "streams", "external_events"
    ):
        found.append(
            Audience(
                pk=subscription.pk,
                event_types=frozenset(subscription.event_types or []),
                streams=frozenset(s.pk for s in subscription.streams.all()),
                external_events=frozenset(e.pk for e in subscription.external_events.all()),
                since=subscription.created_at,
            )
        )
    return found


def webhook_id_for(delivery_event_id: int) -> str:
    """Stable per event: a duplicate or a redelivery carries the same `webhook-id`."""
    return f"evt_{delivery_event_id}"


def event_data(row: dict[str, Any], event_type: str) -> dict[str, Any]:
    detail = {
        key: row[key]
        for key in ("description", "bounce_kind", "mta_response", "url", "user_agent")
        if row[key]
    }
    return {
        "message_id": row["message_id"],
        "type": event_type,
        "occurred_at": row["occurred_at"].isoformat().replace("+00:00", "Z"),
        "stream": {"id": row["message__stream_id"], "name": row["message__stream__name"]},
        "event": {"id": row["message__stream__event_id"]},
        "recipient": row["message__recipient"],
        "trigger": row["message__trigger_id"],
        "trigger_id": row["message__client_trigger_id"] or None,
        "rfc_message_id": row["message__message_id"],
        "test": row["message__is_test"],
        "detail": detail,
    }


def deliveries_for(
    rows: Iterable[dict[str, Any]], found: list[Audience], now: datetime
) -> list[WebhookDelivery]:
    created = []
    for row in rows:
        event_type = webhook_type_of(row["event_type"], row["provider"])
        if event_type is None or row["message_id"] is None:
            continue
        matching = [audience for audience in found if audience.wants(event_type, row)]
        if not matching:
            continue
        webhook_id = webhook_id_for(row["id"])
        payload = envelope(webhook_id, event_type, row["occurred_at"], event_data(row, event_type))
        created.extend(
            WebhookDelivery(
                subscription_id=audience.pk,
                delivery_event_id=row["id"],
                event_type=event_type,
                webhook_id=webhook_id,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for audience in matching
        )
    return created


def _start_position(found: list[Audience]) -> int:
    """Where a new position starts: just before the first event any subscription wants (no gaps
    for the history before it), or after the last event when nobody is subscribed."""
    events = DeliveryEvent.objects.order_by("id").values_list("id", flat=True)
    if found:
        first = events.filter(received_at__gte=min(a.since for a in found)).first()
        if first is not None:
            return first - 1
    return events.order_by("-id").first() or 0


def _claimed_position(found: list[Audience]) -> WebhookOutboxPosition | None:
    """The position row, locked; None while another dispatcher holds it (PostgreSQL)."""
    if not WebhookOutboxPosition.objects.filter(name=POSITION_NAME).exists():
        WebhookOutboxPosition.objects.get_or_create(
            name=POSITION_NAME, defaults={"last_id": _start_position(found)}
        )
    # Django's SQLite backend leaves FOR UPDATE out: one writer at a time there.
    rows = WebhookOutboxPosition.objects.filter(name=POSITION_NAME)
    return rows.select_for_update(skip_locked=True).first()


def dispatch(now: datetime | None = None) -> int:
    """Read delivery events past the watermark (and the gaps below it); create the deliveries.
    Returns how many deliveries were created (or found created already)."""
    now = now or timezone.now()
    found = audiences()
    with transaction.atomic():
        position = _claimed_position(found)
        if position is None:
            return 0
        if not found:
            # Nobody listens: move past everything recorded so far with one index lookup.
            latest = DeliveryEvent.objects.order_by("-id").values_list("id", flat=True).first()
            if (latest and latest > position.last_id) or position.gaps:
                position.last_id = max(position.last_id, latest or 0)
                position.gaps = {}
                position.save(update_fields=["last_id", "gaps", "updated_at"])
            return 0
        gaps = _live_gaps(position.gaps, now)
        seen_again = list(
            DeliveryEvent.objects.filter(id__in=[int(k) for k in gaps]).values_list("id", flat=True)
        )
        for pk in seen_again:
            gaps.pop(str(pk), None)
        new_ids = list(
            DeliveryEvent.objects.filter(id__gt=position.last_id)
            .order_by("id")
            .values_list("id", "event_type")[: settings.WEBHOOKS_DISPATCH_BATCH]
        )
        expected = position.last_id + 1
        stamp = now.isoformat()
        for pk, _ in new_ids:
            for missing in range(max(expected, pk - MAX_GAPS), pk):
                gaps[str(missing)] = stamp
            expected = pk + 1
        if len(gaps) > MAX_GAPS:
            gaps = dict(sorted(gaps.items(), key=lambda item: int(item[0]))[-MAX_GAPS:])
        wanted = seen_again + [pk for pk, kind in new_ids if kind in RELEVANT_DELIVERY_TYPES]
        rows = DeliveryEvent.objects.filter(id__in=wanted).order_by("id").values(*_EVENT_FIELDS)
        created = deliveries_for(rows, found, now) if wanted else []
        try:
            with transaction.atomic():
                WebhookDelivery.objects.bulk_create(created, ignore_conflicts=True, batch_size=500)
                # Foreign keys are checked at commit: check them here, where a failure can be
                # handled without losing the whole look.
                connection.check_constraints(table_names=[WebhookDelivery._meta.db_table])
        except IntegrityError:
            # An event was purged between the read and the write: leave the gone ones out.
            alive = set(
                DeliveryEvent.objects.filter(
                    id__in={d.delivery_event_id for d in created}
                ).values_list("id", flat=True)
            )
            created = [d for d in created if d.delivery_event_id in alive]
            WebhookDelivery.objects.bulk_create(created, ignore_conflicts=True, batch_size=500)
        if new_ids or gaps != position.gaps:
            position.last_id = max(position.last_id, new_ids[-1][0] if new_ids else 0)
            position.gaps = gaps
            position.save(update_fields=["last_id", "gaps", "updated_at"])
    return len(created)


def _live_gaps(gaps: dict[str, str], now: datetime) -> dict[str, str]:
    """The remembered gaps younger than the lag window (older ones were rolled back)."""
    horizon = now - timedelta(seconds=settings.WEBHOOKS_OUTBOX_LAG_SECONDS)
    live = {}
    for pk, first_missed in gaps.items():
        when = parse_datetime(first_missed)
        if when is not None and when >= horizon:
            live[pk] = first_missed
    return live
