"""ESP tracking webhooks: Anymail's views parse every ESP's payload; we only store what they say.

`/anymail/<esp>/tracking/` (Anymail's own URLs) dispatch Anymail's `tracking` signal with one
normalised AnymailTrackingEvent per ESP event. The receiver here turns each into a DeliveryEvent
through delivery.tracking.record_event. It is fast (one insert and a few conditional updates) and
never raises on data it does not understand: what it cannot map is stored as an `unknown` event
with the raw payload. It does let database errors through, so the webhook answers 500 and the ESP
delivers the event again later instead of it being lost.

The webhooks only answer when ANYMAIL_WEBHOOK_SECRET is set (basic auth); without it anyone could
report bounces and have addresses suppressed. ESPs retry 5xx answers, so a 5xx means "try again
later" and nothing else: a missing secret (503) or a database error (500). Whatever the request
gets wrong (auth, an ESP this server has no settings for, a body too large or of a shape Anymail
cannot parse) is a 4xx with a plain-text reason (`guard_webhook`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, tracking
from anymail.utils import get_request_basic_auth
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from delivery.bounce_codes import kind_from_text
from delivery.models import DeliveryEvent, Message
from delivery.tracking import TrackedEvent, record_event
from triggered_email.numbers import ascii_int

logger = logging.getLogger(__name__)

Type = DeliveryEvent.Type
BounceKind = Message.BounceKind

# --- URLs ---------------------------------------------------------------------------------------


def webhook_secret_configured() -> bool:
    return bool(getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"))


def _allowed_basic_auth() -> list[str]:
    secret = getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET") or []
    return [secret] if isinstance(secret, str) else list(secret)


def _text_response(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _esp_name(view: Callable[..., HttpResponse]) -> str:
    view_class = getattr(view, "view_class", None)
    name = getattr(view_class, "esp_name", None)
    return name if isinstance(name, str) else "ESP"


# Anymail's configuration errors say "You must set ANYMAIL = {'MAILGUN_WEBHOOK_SIGNING_KEY': ...}".
_ANYMAIL_SETTING = re.compile(r"ANYMAIL = \{'([A-Z0-9_]+)'")


def _not_configured(esp: str, error: Exception) -> HttpResponse:
    """404 naming the variable to set: Anymail's message names its setting (ANYMAIL = {'X': …}),
    which this installation reads from the environment variable ANYMAIL_X."""
    message = str(error)
    setting = _ANYMAIL_SETTING.search(message)
    hint = (
        f"set the environment variable ANYMAIL_{setting.group(1)} to enable it"
        if setting
        else message
    )
    return _text_response(f"The {esp} webhook is not configured on this server: {hint}.", 404)


def _too_big(limit: int) -> HttpResponse:
    return _text_response(
        f"The body is larger than this server accepts ({limit / 1_000_000:.1f} MB): "
        "send fewer events per call.",
        413,
    )


def guard_webhook(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anymail's webhook view behind the checks that keep it from answering 5xx.

    ESPs retry 5xx answers for days, so a 5xx must mean "try again later": the webhook secret
    is not set yet (503) or the database failed (500, let through). Everything the request
    itself gets wrong is a 4xx with a plain-text reason, so whoever sends it can fix it:
    wrong basic auth (400, checked first, before the body is read or settings are revealed),
    an ESP this server has no settings for (404), a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413),
    a body Anymail cannot parse (400).
    """
    esp = _esp_name(view)

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = _refuse_before_reading(request, esp)
        if refused is not None:
            return refused
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            return view(request, *args, **kwargs)
        except AnymailConfigurationError as exc:
            logger.warning("%s webhook called but not configured: %s", esp, exc)
            return _not_configured(esp, exc)
        except RequestDataTooBig:
            # The body turned out larger when read (no or an understated Content-Length).
            return _too_big(limit or 0)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("%s webhook refused: %s", esp, exc)
            return _text_response(f"The {esp} webhook refused this request: {exc}", 400)
        except DataError:
            # Values the database cannot store (out of range, NUL bytes): the same payload would
            # fail again, so a retry cannot help.
            logger.exception("%s webhook payload holds values the database refuses", esp)
            return _text_response(
                f"The {esp} webhook payload holds values that cannot be stored.", 400
            )
        except DatabaseError:
            raise  # 500: the ESP delivers the event again once the database is back
        except Exception as exc:
            logger.warning("%s webhook body could not be read", esp, exc_info=True)
            return _text_response(_unreadable(esp, exc), 400)

    guarded.csrf_exempt = True  # type: ignore[attr-defined]  # ESPs post without a CSRF token
    return guarded


def _refuse_before_reading(request: HttpRequest, esp: str) -> HttpResponse | None:
    """The answer to a request refused on its headers alone, or None to go on."""
    if not webhook_secret_configured():
        logger.error("ESP webhook refused: ANYMAIL_WEBHOOK_SECRET is not set")
        return _text_response(
            "Webhooks are disabled until ANYMAIL_WEBHOOK_SECRET is set.", status=503
        )
    if request.method == "POST":
        given = get_request_basic_auth(request) or ""
        if not any(constant_time_compare(given, allowed) for allowed in _allowed_basic_auth()):
            logger.warning("%s webhook refused: missing or wrong basic auth", esp)
            return _text_response(
                f"Missing or wrong basic auth for the {esp} webhook: put the user:password "
                "of ANYMAIL_WEBHOOK_SECRET in the webhook URL configured at the ESP.",
                400,
            )
        if _chunked_body_lost(request):
            return _text_response(
                f"The {esp} webhook request had no Content-Length header (a chunked body), and "
                "this server cannot read such a body: send it with a Content-Length.",
                400,
            )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _text_response("The Content-Length header is not a number.", 400)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and declared > limit:
        return _too_big(limit)
    return None


def _chunked_body_lost(request: HttpRequest) -> bool:
    """A WSGI server hands Django no body without a Content-Length (Django reads exactly that
    many bytes), so a chunked webhook would look empty. ASGI reads the whole body."""
    from django.core.handlers.wsgi import WSGIRequest

    return (
        isinstance(request, WSGIRequest)
        and not request.META.get("CONTENT_LENGTH")
        and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


def _unreadable(esp: str, error: Exception) -> str:
    detail = str(error).strip()[:200]
    reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return f"The body is not a {esp} webhook payload this server can read ({reason})."


def anymail_urls() -> tuple[list[URLPattern | URLResolver], str]:
    """Anymail's own URL patterns (all its ESPs), each behind `guard_webhook`.

    Use as `path("anymail/", include(anymail_urls()))`: the same URLs and names as
    `include("anymail.urls")`.
    """
    from anymail import urls

    patterns: list[URLPattern | URLResolver] = []
    for pattern in urls.urlpatterns:
        if isinstance(pattern, URLPattern):
            pattern = URLPattern(
                pattern.pattern,
                guard_webhook(pattern.callback),
                pattern.default_args,
                pattern.name,
            )
        patterns.append(pattern)
    return patterns, urls.app_name


# --- Bounce kinds -------------------------------------------------------------------------------

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
    kind = kind_from_text(text)
    if kind:
        return kind
    if reason == "timed_out":
        return BounceKind.SOFT
    return BounceKind.HARD


# --- The receiver -------------------------------------------------------------------------------


def _storable(value: Any) -> Any:
    """`value` with what PostgreSQL refuses replaced: NUL characters (in text and jsonb) and
    non-finite numbers (`-1e999` parses as -inf; JSON has no such value)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {_storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _jsonable(raw: Any) -> dict[str, Any]:
    """The ESP's payload as JSON (form posts arrive as a QueryDict)."""
    if hasattr(raw, "lists"):
        raw = {key: values[0] if len(values) == 1 else values for key, values in raw.lists()}
    try:
        value = _storable(json.loads(json.dumps(raw, default=str)))
    except (TypeError, ValueError, RecursionError):
        value = {"unparsed": _storable(repr(raw))}
    return value if isinstance(value, dict) else {"payload": value}


def provider_event_id(event: AnymailTrackingEvent, raw: dict[str, Any]) -> str:
    """The ESP's event id, or a fingerprint of the payload for ESPs that send none (Postmark
    opens and clicks, Brevo): a replayed webhook carries the same payload."""
    if event.event_id:
        return _storable(str(event.event_id))[:255]
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def find_message(event: AnymailTrackingEvent) -> Message | None:
    """The ESP's message id recorded at send, else our RFC Message-ID, else our id in metadata."""
    esp_id = _storable(str(event.message_id or "")).strip()
    if esp_id:
        message = Message.objects.filter(esp_message_id=esp_id).first()
        if message is None and esp_id.startswith("<"):
            message = Message.objects.filter(message_id=esp_id).first()
        if message is not None:
            return message
    metadata = event.metadata if isinstance(event.metadata, Mapping) else {}
    ours = str(metadata.get("message_id", "")).strip()
    pk = ascii_int(ours)
    return Message.objects.filter(pk=pk).first() if pk is not None else None


def _text(value: Any, limit: int = 10_000) -> str:
    return _storable(str(value))[:limit] if value else ""


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
        provider=_storable(esp_name.lower())[:32],
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
