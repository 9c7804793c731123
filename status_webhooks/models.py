"""Status webhooks: subscriptions of client systems, one delivery per event and endpoint, and
every attempt at it (Saleor's delivery/attempt split). Not to be confused with the *incoming*
ESP webhooks in delivery/webhooks.py."""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from status_webhooks.event_types import WebhookEventType

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def all_event_types() -> list[str]:
    return list(WebhookEventType.values)


class WebhookSubscription(models.Model):
    """A client system's endpoint and what it wants to be told."""

    name = models.CharField(max_length=200, blank=True)
    url = models.URLField(
        "endpoint URL",
        max_length=2000,
        help_text="HTTPS endpoint of the client system; every event is POSTed to it, signed.",
    )
    event_types = models.JSONField(
        default=all_event_types,
        help_text="Event types sent to the endpoint: " + ", ".join(WebhookEventType.values),
    )
    streams = models.ManyToManyField(
        "streams.MailStream",
        blank=True,
        related_name="+",
        help_text="Only events of these mail streams (none: every stream).",
    )
    external_events = models.ManyToManyField(
        "events.ExternalEvent",
        blank=True,
        related_name="+",
        help_text="Only events of messages triggered by these external events (none: all).",
    )
    # Shown once (admin message, API answer, add_webhook output); kept because every request is
    # signed with it.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    enabled = models.BooleanField(default=True)
    allow_private = models.BooleanField(
        "allow internal addresses",
        default=False,
        help_text="Let the URL resolve to loopback, private, link-local or metadata addresses. "
        "Only for endpoints inside your own network.",
    )
    # Set by the first failure after a success, cleared by a success: five days of failures
    # disable the subscription.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "status webhook subscription"
        indexes = [
            # Serves the dispatcher's "is anyone subscribed?" check before each scan.
            models.Index(fields=["enabled"], condition=Q(enabled=True), name="webhook_sub_on_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.url

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class WebhookDelivery(models.Model):
    """One event for one endpoint. Its body is fixed when it is created, so every attempt and
    every redelivery sends the same bytes under the same `webhook-id`."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # SET_NULL: the delivery log (which keeps its own copy of the body) outlives a purge of old
    # messages, and such a purge never races the lane's attempts. The database sets it too
    # (migration 0002), for deliveries created while a delete runs. Indexed on its own in Meta.
    delivery_event = models.ForeignKey(
        "delivery.DeliveryEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    event_type = models.CharField(max_length=16, choices=WebhookEventType.choices)
    webhook_id = models.CharField("webhook-id", max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # When the lane was last handed this delivery: a task lost with the broker is handed again.
    handed_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "status webhook deliveries"
        constraints = [
            # Makes the dispatcher's re-scans idempotent: an event reaches an endpoint once.
            models.UniqueConstraint(
                fields=["subscription", "delivery_event"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            # Serves the lane's beat: pending deliveries whose attempt is due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            # Serves the beat: deliveries whose worker's lease ran out (few rows).
            models.Index(
                fields=["lease_until"],
                condition=Q(status="sending"),
                name="webhook_delivery_lease_idx",
            ),
            # Serves the beat's count of deliveries handed to the lane and not answered yet.
            models.Index(
                fields=["handed_at"],
                condition=Q(status="pending", handed_at__isnull=False),
                name="webhook_delivery_handed_idx",
            ),
            # Serves deleting delivery events (retention purge, admin): Django's SET_NULL and the
            # foreign key's ON DELETE find the deliveries of the deleted events. Without it each
            # purge batch scanned the whole delivery log (~100 ms at a million deliveries).
            models.Index(fields=["delivery_event"], name="webhook_delivery_event_idx"),
            # Serves redelivery of what failed for one endpoint since a time, and the admin's
            # list of one subscription's deliveries.
            models.Index(
                fields=["subscription", "status", "created_at"],
                name="webhook_delivery_sub_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id} → {self.subscription_id}"


class WebhookAttempt(models.Model):
    """One HTTP request to an endpoint and what came of it."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "delivered (2xx)"
        RETRY = "retry", "will retry"
        PERMANENT = "permanent", "permanent failure"
        GAVE_UP = "gave_up", "gave up (schedule exhausted)"
        REFUSED = "refused", "refused (address not allowed)"

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["delivery", "attempted_at", "id"]
        indexes = [
            # Serves a delivery's attempt list (admin inline).
            models.Index(fields=["delivery", "attempted_at"], name="webhook_attempt_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class WebhookOutboxPosition(models.Model):
    """How far the dispatcher has read `delivery.DeliveryEvent`: the highest id seen, and the
    ids below it not seen yet (PostgreSQL commits ids out of order: a lower id may appear after
    a higher one). A missing id is looked for again until it is older than the lag window."""

    name = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    # {"<id>": "<ISO time first missed>"}
    gaps = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id}"
