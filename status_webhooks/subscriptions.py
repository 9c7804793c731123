"""Creating and checking subscriptions: one function every entry point (admin, API, command)
calls."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from status_webhooks.endpoint_addresses import AddressRefused, check_literal
from status_webhooks.event_types import WebhookEventType
from status_webhooks.models import WebhookSubscription


def checked_event_types(values: Iterable[str] | None) -> list[str]:
    """The event types, each one known; None or empty means all of them."""
    chosen = [v.strip() for v in (values or []) if v and v.strip()]
    unknown = sorted({v for v in chosen if v not in WebhookEventType.values})
    if unknown:
        raise ValidationError(
            f"Unknown event type(s): {', '.join(unknown)}. Known: "
            f"{', '.join(WebhookEventType.values)}."
        )
    return list(dict.fromkeys(chosen)) or list(WebhookEventType.values)


def checked_url(url: str, allow_private: bool) -> str:
    url = (url or "").strip()
    if len(url) > 2000:
        raise ValidationError("The URL is longer than 2000 characters.")
    try:
        check_literal(url, allow_private)
    except AddressRefused as exc:
        raise ValidationError(f"The endpoint URL is not allowed: {exc}.") from exc
    return url


def create_subscription(
    url: str,
    *,
    event_types: Iterable[str] | None = None,
    name: str = "",
    allow_private: bool = False,
    stream_ids: Iterable[int] = (),
    external_event_ids: Iterable[int] = (),
) -> WebhookSubscription:
    """A new enabled subscription with a fresh secret (the caller shows it once)."""
    subscription = WebhookSubscription(
        url=checked_url(url, allow_private),
        name=(name or "")[:200],
        event_types=checked_event_types(event_types),
        allow_private=allow_private,
    )
    with transaction.atomic():
        subscription.save()
        if stream_ids:
            subscription.streams.set(list(stream_ids))
        if external_event_ids:
            subscription.external_events.set(list(external_event_ids))
    return subscription
