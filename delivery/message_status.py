"""A message's status and event timeline, as `GET /api/v2/message/{id}` returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from delivery.models import Message


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def message_status(message_id: int) -> dict[str, Any] | None:
    """Everything a client may ask about one message; None if there is no such message."""
    message = Message.objects.select_related("stream", "version").filter(pk=message_id).first()
    if message is None:
        return None
    events = message.events.order_by("occurred_at", "id")
    return {
        "id": message.pk,
        "status": message.status,
        "skip_reason": message.skip_reason or None,
        "outcome": message.outcome or None,
        "bounce_kind": message.bounce_kind or None,
        "recipient": message.recipient,
        "stream": {"id": message.stream_id, "name": message.stream.name},
        "version": {"id": message.version_id, "number": message.version.number},
        "trigger_id": message.trigger_id,
        "client_trigger_id": message.client_trigger_id or None,
        "message_id": message.message_id,
        "esp_message_id": message.esp_message_id or None,
        "attempts": message.attempts,
        "last_error": message.last_error or None,
        "timestamps": {
            "received_at": _iso(message.received_at),
            "event_time": _iso(message.event_time),
            "queued_at": _iso(message.queued_at),
            "sent_at": _iso(message.sent_at),
            "delivered_at": _iso(message.delivered_at),
            "opened_at": _iso(message.opened_at),
            "clicked_at": _iso(message.clicked_at),
            "complained_at": _iso(message.complained_at),
        },
        "events": [
            {
                "type": event.event_type,
                "occurred_at": _iso(event.occurred_at),
                "provider": event.provider,
                "bounce_kind": event.bounce_kind or None,
                "description": event.description or None,
                "mta_response": event.mta_response or None,
                "url": event.url or None,
                "user_agent": event.user_agent or None,
            }
            for event in events
        ],
    }
