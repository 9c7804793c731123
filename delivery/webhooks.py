"""ESP tracking webhooks: Anymail's views parse every ESP's payload; we only store what they say.

`/anymail/<esp>/tracking/` (Anymail's own URLs) dispatch Anymail's `tracking` signal with one
normalised AnymailTrackingEvent per ESP event. The receiver here turns each into a DeliveryEvent
through delivery.tracking.record_event. It is fast (one insert and a few conditional updates) and
never raises on data it does not understand: what it cannot map is stored as an `unknown` event
with the raw payload. It does let database errors through, so the webhook answers 500 and the ESP
delivers the event again later instead of it being lost.

The webhooks only answer when ANYMAIL_WEBHOOK_SECRET is set (basic auth, checked by Anymail);
without it anyone could report bounces and have addresses suppressed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.utils import timezone

from delivery.models import DeliveryEvent, Message
from delivery.tracking import TrackedEvent, record_event

logger = logging.getLogger(__name__)

Type = DeliveryEvent.Type
BounceKind = Message.BounceKind

# --- URLs ---------------------------------------------------------------------------------------


def webhook_secret_configured() -> bool:
    return bool(getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"))


def require_webhook_secret(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse webhook calls while no basic-auth secret is configured.

    503, not 403: an ESP retries 5xx answers for days, so events sent while an operator sets
    the secret are delivered again instead of lost.
    """

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not webhook_secret_configured():
            logger.error("ESP webhook refused: ANYMAIL_WEBHOOK_SECRET is not set")
            return HttpResponse(
                "Webhooks are disabled until ANYMAIL_WEBHOOK_SECRET is set.",
                status=503,
                content_type="text/plain",
            )
        return view(request, *args, **kwargs)

    guarded.csrf_exempt = True  # type: ignore[attr-defined]  # ESPs post without a CSRF token
    return guarded


def anymail_urls() -> tuple[list[URLPattern | URLResolver], str]:
    """Anymail's own URL patterns (all its ESPs), each behind `require_webhook_secret`.

    Use as `path("anymail/", include(anymail_urls()))`: the same URLs and names as
    `include("anymail.urls")`.
    """
    from anymail import urls

    patterns: list[URLPattern | URLResolver] = []
    for pattern in urls.urlpatterns:
        if isinstance(pattern, URLPattern):
            pattern = URLPattern(
                pattern.pattern,
                require_webhook_secret(pattern.callback),
                pattern.default_args,
                pattern.name,
            )
        patterns.append(pattern)
    return patterns, urls.app_name


# --- Bounce kinds -------------------------------------------------------------------------------

# Enhanced status codes (RFC 3463): 5.7.x is a policy refusal (blocked), other 5.x.x permanent,
# 4.x.x transient. Plain reply codes (550, 421) when no enhanced code is given.
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.\d{1,3}\b")
_REPLY = re.compile(r"(?:^|\D)([45])\d\d(?:\D|$)")

# Fields some ESPs use to say what kind of bounce it was; Anymail keeps them in the raw event.
_ESP_HINTS: dict[str, Callable[[Any], str]] = {}


def _hint(esp: str) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    def register(function: Callable[[Any], str]) -> Callable[[Any], str]:
        _ESP_HINTS[esp] = function
        return function

    return register


@_hint("postmark")
def _postmark(raw: Any) -> str:
    return {
        "HardBounce": BounceKind.HARD,
        "SoftBounce": BounceKind.SOFT,
        "BadEmailAddress": BounceKind.HARD,
        "Blocked": BounceKind.BLOCK,
        "DMARCPolicy": BounceKind.BLOCK,
    }.get(raw.get("Type"), "")


@_hint("brevo")
def _brevo(raw: Any) -> str:
    return {
        "hard_bounce": BounceKind.HARD,
        "soft_bounce": BounceKind.SOFT,
        "invalid_email": BounceKind.HARD,
        "blocked": BounceKind.BLOCK,
    }.get(raw.get("event"), "")


_ESP_HINTS["sendinblue"] = _brevo


@_hint("amazonses")
def _amazon_ses(raw: Any) -> str:
    message = raw.get("Message") if isinstance(raw.get("Message"), Mapping) else raw
    bounce = (message or {}).get("bounce") or {}
    return {"Permanent": BounceKind.HARD, "Transient": BounceKind.SOFT}.get(
        bounce.get("bounceType"), ""
    )


@_hint("sendgrid")
def _sendgrid(raw: Any) -> str:
    return {"blocked": BounceKind.BLOCK, "bounce": BounceKind.HARD}.get(raw.get("type"), "")


@_hint("sparkpost")
def _sparkpost(raw: Any) -> str:
    # SparkPost bounce classes: 10, 30, 90 hard; 20-25, 40, 70, 100 soft; 50-54 blocks.
    detail = next(iter(raw.get("msys", {}).values()), {}) if isinstance(raw, Mapping) else {}
    try:
        bounce_class = int(detail.get("bounce_class"))
    except (TypeError, ValueError):
        return ""
    if bounce_class in (10, 30, 90):
        return BounceKind.HARD
    if 50 <= bounce_class <= 54:
        return BounceKind.BLOCK
    return BounceKind.SOFT


@_hint("mandrill")
def _mandrill(raw: Any) -> str:
    return {"hard_bounce": BounceKind.HARD, "soft_bounce": BounceKind.SOFT}.get(
        raw.get("event"), ""
    )


@_hint("mailjet")
def _mailjet(raw: Any) -> str:
    if raw.get("blocked"):
        return BounceKind.BLOCK
    if "hard_bounce" in raw:
        return BounceKind.HARD if raw.get("hard_bounce") else BounceKind.SOFT
    return ""


def bounce_kind(esp_name: str, event: AnymailTrackingEvent) -> str:
    """Hard, soft or block for a `bounced` event: the ESP's own word where it has one, else
    the SMTP codes in the MTA response, else Anymail's reject reason; a bounce is hard unless
    something says otherwise (Anymail reports temporary failures as `deferred`)."""
    raw = event.esp_event
    hint = _ESP_HINTS.get(esp_name.lower().replace(" ", ""))
    if hint is not None and isinstance(raw, Mapping):
        try:
            kind = hint(raw)
        except Exception:  # an ESP payload shape we have not seen: fall back to the codes
            kind = ""
        if kind:
            return kind
    reason = event.reject_reason or ""
    if reason in ("blocked", "spam"):
        return BounceKind.BLOCK
    text = " ".join(str(part) for part in (event.mta_response, event.description) if part)
    enhanced = _ENHANCED.search(text)
    if enhanced:
        klass, subject = enhanced.groups()
        if klass == "4":
            return BounceKind.SOFT
        if klass == "5" and subject == "7":
            return BounceKind.BLOCK
        if klass == "5":
            return BounceKind.HARD
    reply = _REPLY.search(text)
    if reply:
        return BounceKind.SOFT if reply.group(1) == "4" else BounceKind.HARD
    if reason == "timed_out":
        return BounceKind.SOFT
    return BounceKind.HARD


# --- The receiver -------------------------------------------------------------------------------


def _jsonable(raw: Any) -> dict[str, Any]:
    """The ESP's payload as JSON (form posts arrive as a QueryDict)."""
    if hasattr(raw, "lists"):
        raw = {key: values[0] if len(values) == 1 else values for key, values in raw.lists()}
    try:
        value = json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError):
        value = {"unparsed": repr(raw)}
    return value if isinstance(value, dict) else {"payload": value}


def provider_event_id(event: AnymailTrackingEvent, raw: dict[str, Any]) -> str:
    """The ESP's event id, or a fingerprint of the payload for ESPs that send none (Postmark
    opens and clicks, Brevo): a replayed webhook carries the same payload."""
    if event.event_id:
        return str(event.event_id)[:255]
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def find_message(event: AnymailTrackingEvent) -> Message | None:
    """The ESP's message id recorded at send, else our RFC Message-ID, else our id in metadata."""
    esp_id = str(event.message_id or "").strip()
    if esp_id:
        message = Message.objects.filter(esp_message_id=esp_id).first()
        if message is None and esp_id.startswith("<"):
            message = Message.objects.filter(message_id=esp_id).first()
        if message is not None:
            return message
    metadata = event.metadata if isinstance(event.metadata, Mapping) else {}
    ours = str(metadata.get("message_id", "")).strip()
    if ours.isdigit():
        return Message.objects.filter(pk=int(ours)).first()
    return None


def _text(value: Any, limit: int = 10_000) -> str:
    return str(value)[:limit] if value else ""


def tracked_event(event: AnymailTrackingEvent, esp_name: str) -> TrackedEvent:
    """Map Anymail's normalised event to ours; whatever is missing stays empty."""
    raw = _jsonable(event.esp_event)
    event_type = event.event_type if event.event_type in Type.values else Type.UNKNOWN
    occurred_at = event.timestamp if isinstance(event.timestamp, datetime) else None
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, timezone.get_default_timezone())
    return TrackedEvent(
        event_type=event_type,
        occurred_at=occurred_at or timezone.now(),
        provider=esp_name.lower()[:32],
        provider_event_id=provider_event_id(event, raw),
        bounce_kind=bounce_kind(esp_name, event) if event_type == Type.BOUNCED else "",
        description=_text(event.description),
        mta_response=_text(event.mta_response),
        user_agent=_text(event.user_agent, 1000),
        url=_text(event.click_url, 4000),
        recipient=_text(event.recipient, 254),
        raw=raw,
    )


def store_tracking_event(
    sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    """Anymail `tracking` signal receiver: store the event, linked to its message if known."""
    try:
        tracked = tracked_event(event, esp_name)
    except Exception:
        # Data we do not understand is kept, not refused: the raw payload is the record.
        logger.warning("Could not map a %s tracking event; stored as unknown", esp_name)
        raw = _jsonable(getattr(event, "esp_event", None))
        tracked = TrackedEvent(
            event_type=Type.UNKNOWN,
            occurred_at=timezone.now(),
            provider=str(esp_name).lower()[:32],
            provider_event_id=provider_event_id(event, raw),
            raw=raw,
        )
    message = find_message(event)
    record_event(message, tracked)


def connect() -> None:
    tracking.connect(store_tracking_event, dispatch_uid="delivery.store_tracking_event")
