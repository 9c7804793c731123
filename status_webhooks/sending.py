"""One attempt at one delivery, in the webhook lane: claim the row, POST it signed, record the
attempt and decide what comes next.

2xx within WEBHOOKS_TIMEOUT_SECONDS: delivered. 4xx other than 408, 409, 425 and 429: the
endpoint refuses it for good (permanent). Anything else (no answer, a connection error, 3xx —
redirects are not followed —, 5xx, those four 4xx): retried after WEBHOOKS_RETRY_SECONDS
(Svix's schedule), then failed. The row's status decides: a task handed over twice, or run after
the delivery was already answered, claims nothing and does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from status_webhooks.endpoint_addresses import AddressRefused, parse_endpoint
from status_webhooks.http_requests import Answer, post
from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from status_webhooks.signing import body_bytes, signed_headers

logger = logging.getLogger(__name__)

RETRIED_4XX = frozenset({408, 409, 425, 429})
EXCERPT_CHARS = 1000
Outcome = WebhookAttempt.Outcome
Status = WebhookDelivery.Status


def classify(answer: Answer) -> str:
    """DELIVERED, PERMANENT or RETRY for an endpoint's answer."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Outcome.DELIVERED
    if status is not None and 400 <= status < 500 and status not in RETRIED_4XX:
        return Outcome.PERMANENT
    return Outcome.RETRY


def claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """pending → sending, for this worker only, with a lease; None if it is not ours to send."""
    # The request is cut off at the timeout (http_requests), so the lease only needs a margin.
    lease = now + timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + 15)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, subscription__enabled=True
    ).update(status=Status.SENDING, lease_until=lease, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def deliver(delivery_id: int) -> str | None:
    """The webhook lane's task: one attempt at one delivery. Returns the attempt's outcome."""
    now = timezone.now()
    delivery = claim(delivery_id, now)
    if delivery is None:
        return None
    subscription = delivery.subscription
    body = body_bytes(delivery.payload)
    headers = signed_headers(subscription.secret, delivery.webhook_id, body, now)
    try:
        endpoint = parse_endpoint(subscription.url)
        answer = post(
            endpoint,
            body,
            headers,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            allow_private=subscription.allow_private,
        )
        outcome = classify(answer)
    except AddressRefused as exc:
        answer = Answer(None, "", 0, f"refused: {exc}")
        outcome = Outcome.REFUSED
    return record(delivery, answer, outcome, now)


def record(delivery: WebhookDelivery, answer: Answer, outcome: str, now: datetime) -> str:
    """Store the attempt and the delivery's next state, in one transaction."""
    schedule = settings.WEBHOOKS_RETRY_SECONDS
    if outcome == Outcome.RETRY and delivery.attempts > len(schedule):
        outcome = Outcome.GAVE_UP
    answered = timezone.now()
    error = answer.error or (
        f"HTTP {answer.status}" if outcome != Outcome.DELIVERED and answer.status else ""
    )
    changes: dict = {"lease_until": None, "handed_at": None}
    if outcome == Outcome.DELIVERED:
        changes.update(status=Status.DELIVERED, delivered_at=answered, last_error="")
    elif outcome == Outcome.RETRY:
        delay = schedule[delivery.attempts - 1]
        changes.update(
            status=Status.PENDING,
            next_attempt_at=answered + timedelta(seconds=delay),
            last_error=f"attempt {delivery.attempts}: {error}",
        )
    else:
        reason = {
            Outcome.PERMANENT: f"refused by the endpoint ({error})",
            Outcome.GAVE_UP: f"gave up after {delivery.attempts} attempts: {error}",
            Outcome.REFUSED: error,
        }[outcome]
        changes.update(status=Status.FAILED, last_error=reason)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            duration_ms=answer.duration_ms,
            response_status=answer.status,
            response_excerpt=answer.excerpt[:EXCERPT_CHARS],
            error=answer.error[:EXCERPT_CHARS],
            outcome=outcome,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(**changes)
        _note_endpoint_health(delivery.subscription_id, outcome == Outcome.DELIVERED, answered)
    if outcome != Outcome.DELIVERED:
        logger.info(
            "Webhook %s to subscription %s: %s",
            delivery.webhook_id,
            delivery.subscription_id,
            changes["last_error"],
        )
    return outcome


def _note_endpoint_health(subscription_id: int, succeeded: bool, now: datetime) -> None:
    """A success clears the failing streak; a failure starts it, and five days of it disable
    the subscription."""
    rows = WebhookSubscription.objects.filter(pk=subscription_id)
    if succeeded:
        rows.filter(failing_since__isnull=False).update(failing_since=None)
        return
    rows.filter(failing_since__isnull=True).update(failing_since=now)
    horizon = now - timedelta(days=settings.WEBHOOKS_DISABLE_AFTER_DAYS)
    failing = rows.filter(enabled=True, failing_since__lte=horizon).first()
    if failing is None:
        return
    reason = (
        f"Disabled automatically: every delivery failed for "
        f"{settings.WEBHOOKS_DISABLE_AFTER_DAYS} days (since "
        f"{failing.failing_since:%Y-%m-%d %H:%M} UTC). Fix the endpoint, enable the "
        "subscription again and redeliver what failed."
    )
    if rows.filter(enabled=True).update(enabled=False, disabled_at=now, disabled_reason=reason):
        logger.warning("Webhook subscription %s: %s", subscription_id, reason)
