"""Status webhook subscriptions over the API (under /api/v2/webhook). Views parse, call one
service function, shape output. A client system cannot allow internal addresses: that stays
with operators (admin, add_webhook --allow-private)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from events.api.base import ApiView
from events.api.envelope import ok
from events.models import ExternalEvent
from events.reply_codes import ReplyCode, ReplyError
from status_webhooks.models import WebhookSubscription
from status_webhooks.subscriptions import create_subscription
from streams.models import MailStream
from triggered_email.numbers import ascii_int
from triggered_email.row_lookup import first_where


def subscription_json(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.pk,
        "name": subscription.name,
        "url": subscription.url,
        "events": list(subscription.event_types or []),
        "streams": sorted(s.pk for s in subscription.streams.all()),
        "external_events": sorted(e.pk for e in subscription.external_events.all()),
        "enabled": subscription.enabled,
        "disabled_reason": subscription.disabled_reason or None,
        "failing_since": subscription.failing_since.isoformat()
        if subscription.failing_since
        else None,
        "created_at": subscription.created_at.isoformat(),
    }


def get_subscription(subscription_id: str) -> WebhookSubscription:
    number = ascii_int(subscription_id)
    found = first_where(WebhookSubscription, id=number) if number is not None else None
    if found is None:
        raise ReplyError(
            ReplyCode.NOT_FOUND,
            f"No webhook subscription {subscription_id}: GET /api/v2/webhook lists them.",
            http_status=404,
        )
    return found


def _id_list(body: dict[str, Any], key: str, model: Any) -> list[int]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in value
    ):
        raise ReplyError(ReplyCode.INVALID_FIELD, f"{key} must be a list of ids.")
    known = set(model.objects.filter(pk__in=value).values_list("pk", flat=True))
    unknown = sorted(set(value) - known)
    if unknown:
        raise ReplyError(
            ReplyCode.INVALID_FIELD, f"{key}: no such id(s): {', '.join(map(str, unknown))}."
        )
    return value


def _text(body: dict[str, Any], key: str, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ReplyError(
            ReplyCode.INVALID_FIELD,
            f"{key} must be a string" + (" and is required." if required else "."),
        )
    if "\x00" in value:
        raise ReplyError(ReplyCode.INVALID_FIELD, f"{key} holds a NUL character.")
    return value


class WebhookListView(ApiView):
    """GET lists the subscriptions; POST creates one and answers with its secret (only here)."""

    def get(self, request: Request) -> Response:
        subscriptions = WebhookSubscription.objects.prefetch_related("streams", "external_events")
        return ok([subscription_json(s) for s in subscriptions])

    def post(self, request: Request) -> Response:
        body = self.json_object(request)
        events = body.get("events")
        if events is not None and not (
            isinstance(events, list) and all(isinstance(e, str) for e in events)
        ):
            raise ReplyError(ReplyCode.INVALID_FIELD, "events must be a list of event types.")
        try:
            subscription = create_subscription(
                _text(body, "url", required=True),
                event_types=events,
                name=_text(body, "name"),
                stream_ids=_id_list(body, "streams", MailStream),
                external_event_ids=_id_list(body, "external_events", ExternalEvent),
            )
        except ValidationError as exc:
            raise ReplyError(ReplyCode.INVALID_FIELD, " ".join(exc.messages)) from exc
        return ok({**subscription_json(subscription), "secret": subscription.secret})


class WebhookDetailView(ApiView):
    """GET shows one subscription (without its secret)."""

    def get(self, request: Request, subscription_id: str) -> Response:
        return ok(subscription_json(get_subscription(subscription_id)))


class WebhookDeleteView(ApiView):
    """POST deletes a subscription and its delivery log."""

    def post(self, request: Request, subscription_id: str) -> Response:
        subscription = get_subscription(subscription_id)
        pk = subscription.pk
        subscription.delete()
        return ok({"id": pk})
