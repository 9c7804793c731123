import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Message(models.Model):
    """One email to one recipient from one stream version: the outbox row.

    The row is the source of truth. Tasks carry only ids; whatever a worker does is decided by
    the row's status, so a task delivered twice or a worker that dies never sends twice or loses
    a message.
    """

    class Status(models.TextChoices):
        HELD = "held", "held (stream paused)"
        QUEUED = "queued", "queued"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        DISCARDED = "discarded", "discarded (stream paused)"
        SKIPPED = "skipped", "skipped"

    class SkipReason(models.TextChoices):
        MISSING_ATTACHMENT = "missing_attachment", "missing attachment"
        SUPPRESSED = "suppressed", "suppressed"
        EXPIRED = "expired", "expired while held"

    class Outcome(models.TextChoices):
        # Ordered from least to most telling; delivery.tracking.OUTCOME_RANK ranks them.
        DEFERRED = "deferred", "deferred"
        DELIVERED = "delivered", "delivered"
        BOUNCED = "bounced", "bounced"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"
        OPENED = "opened", "opened"
        CLICKED = "clicked", "clicked"
        UNSUBSCRIBED = "unsubscribed", "unsubscribed"
        COMPLAINED = "complained", "complained"

    class BounceKind(models.TextChoices):
        HARD = "hard", "hard"
        SOFT = "soft", "soft"
        BLOCK = "block", "block"

    trigger = models.ForeignKey(
        "events.Trigger", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    # Not indexed on its own: message_stream_received_idx starts with it and serves every
    # query by stream. Each index costs every write of the row (three per message).
    stream = models.ForeignKey(
        "streams.MailStream", on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    version = models.ForeignKey(
        "streams.StreamVersion", on_delete=models.PROTECT, related_name="messages"
    )
    contact = models.ForeignKey(
        "events.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    recipient = models.EmailField(max_length=254)
    # The trigger's personalisation data (`data` of the API call).
    data = models.JSONField(default=dict, blank=True)
    lane = models.CharField(max_length=16, default="transactional")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True)
    is_test = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    # Until when the worker that claimed it owns it: set at the claim, pushed on while the
    # worker still works on the task, so the sweep revives only the rows of a worker that died.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Random (uuid4) and never looked up: the unique Message-ID made from it is the row's
    # identifier outside, so it carries no index of its own.
    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    # RFC 5322 Message-ID, fixed when the row is written so every attempt carries the same one.
    # Unique by a constraint, not unique=True: that would add a second index for LIKE queries
    # nothing runs.
    message_id = models.CharField(max_length=255)
    esp_message_id = models.CharField(max_length=255, blank=True)
    # sha256 of (event, stream, recipient, client trigger_id): a repeated trigger_id sends nothing.
    # NULL without a trigger_id; unique where set (message_dedup_key_unique).
    dedup_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    client_trigger_id = models.CharField(max_length=255, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_error = models.TextField(blank=True)
    # What happened after the send, from ESP webhooks and our own tracking (delivery.tracking).
    # `outcome` is the latest meaningful state: a late event never makes it look worse.
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The worst bounce seen: hard over block over soft.
    bounce_kind = models.CharField(max_length=8, choices=BounceKind.choices, blank=True)
    # First open and first click: "unique" opens and clicks are the messages that have one.
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("resend_message", "Can resend failed messages"),
            ("release_message", "Can release held messages"),
        ]
        constraints = [
            # Serves ESP webhooks and the message log's search by Message-ID.
            models.UniqueConstraint(fields=["message_id"], name="message_message_id_unique"),
            # Serves the outbox's repeated-trigger_id check; most messages have no key and
            # stay out of the index.
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(dedup_key__isnull=False),
                name="message_dedup_key_unique",
            ),
        ]
        indexes = [
            # Serves the sweep: queued messages whose (re)try time has come.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="queued"),
                name="message_queued_due_idx",
            ),
            # Serves the sweep: messages in `sending` whose worker's lease ran out (few rows:
            # only what the lanes are sending right now).
            models.Index(
                fields=["lease_until"],
                condition=Q(status="sending"),
                name="message_sending_lease_idx",
            ),
            # Serves resume: the held messages of one stream, oldest first.
            models.Index(
                fields=["stream", "received_at"],
                condition=Q(status="held"),
                name="message_held_stream_idx",
            ),
            # Serves the message log and the dashboard: one stream's messages over time.
            models.Index(fields=["stream", "received_at"], name="message_stream_received_idx"),
            # Serves the message log's date filter and the dashboard's overall series.
            models.Index(fields=["received_at"], name="message_received_idx"),
            # Serves search by recipient and the suppression check's history.
            models.Index(fields=["recipient"], name="message_recipient_idx"),
            # Serves the message log's status filter, newest first.
            models.Index(fields=["status", "received_at"], name="message_status_received_idx"),
            # Serves the message log's search by the client's trigger id.
            models.Index(
                fields=["client_trigger_id"],
                condition=~Q(client_trigger_id=""),
                name="message_client_trigger_idx",
            ),
            # Serves the message log's "test sends" filter (test sends are few).
            models.Index(
                fields=["received_at"], condition=Q(is_test=True), name="message_test_idx"
            ),
            # Serves ESP webhooks: map the provider's message id back to the row.
            models.Index(
                fields=["esp_message_id"],
                condition=~Q(esp_message_id=""),
                name="message_esp_id_idx",
            ),
            # Serves the dashboard's table of a stream's recent failures.
            models.Index(
                fields=["stream", "-received_at"],
                condition=Q(status="failed"),
                name="message_failed_stream_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"message #{self.pk} to {self.recipient} ({self.status})"


def message_attachment_path(instance: "MessageAttachment", filename: str) -> str:
    return f"message-attachments/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}/{filename}"


class MessageAttachment(models.Model):
    """A file sent with the trigger (API `attachment`), stored through the default storage."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=message_attachment_path, max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return self.filename


class DeliveryEvent(models.Model):
    """A normalised event in a message's life, named with Anymail's EventType vocabulary."""

    class Type(models.TextChoices):
        QUEUED = "queued", "queued"
        SENT = "sent", "sent"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"
        BOUNCED = "bounced", "bounced"
        DEFERRED = "deferred", "deferred"
        DELIVERED = "delivered", "delivered"
        AUTORESPONDED = "autoresponded", "autoresponded"
        OPENED = "opened", "opened"
        CLICKED = "clicked", "clicked"
        COMPLAINED = "complained", "complained"
        UNSUBSCRIBED = "unsubscribed", "unsubscribed"
        SUBSCRIBED = "subscribed", "subscribed"
        UNKNOWN = "unknown", "unknown"
        # Our own steps while a stream is paused, recorded with the status change (provider
        # "outbox"): held on arrival or taken back from the lane, released on resume, or
        # discarded under the discard policy.
        HELD = "held", "held"
        RELEASED = "released", "released"
        DISCARDED = "discarded", "discarded"

    BounceKind = Message.BounceKind

    # Not indexed on its own: event_message_time_idx starts with it.
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )
    event_type = models.CharField(max_length=16, choices=Type.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    bounce_kind = models.CharField(max_length=8, choices=BounceKind.choices, blank=True)
    description = models.TextField(blank=True)
    mta_response = models.TextField(blank=True)
    user_agent = models.TextField(blank=True)
    url = models.TextField(blank=True)
    # "smtp" for our own sends, "tracking" for our own opens/clicks, "outbox" for what the
    # outbox decided not to send (suppressed, expired), else the ESP's name.
    provider = models.CharField(max_length=32, default="smtp")
    # NULL, not "": our own events have no provider id and must not collide in the unique index.
    provider_event_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"],
                condition=Q(provider_event_id__isnull=False),
                name="delivery_event_provider_unique",
            ),
        ]
        indexes = [
            # Serves a message's event timeline (API and admin).
            models.Index(fields=["message", "occurred_at"], name="event_message_time_idx"),
            # Serves the dashboard: counts of one event type over a time range.
            models.Index(fields=["event_type", "occurred_at"], name="event_type_time_idx"),
            # Serves the rollup refresh: events that arrived since the last refresh.
            models.Index(fields=["received_at"], name="event_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Suppression(models.Model):
    """An address not to be sent to: hard bounces and complaints, or added by hand."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "hard bounce"
        COMPLAINT = "complaint", "complaint"
        MANUAL = "manual", "manual"

    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    # Empty: every stream. Otherwise only this stream.
    stream = models.ForeignKey(
        "streams.MailStream",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="suppressions",
    )
    source_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(stream__isnull=True),
                name="suppression_email_all_streams_unique",
            ),
            models.UniqueConstraint(
                fields=["email", "stream"],
                condition=Q(stream__isnull=False),
                name="suppression_email_stream_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class RollupCounts(models.Model):
    """What became of a set of messages: the counts the dashboard shows, and their latency."""

    stream = models.ForeignKey("streams.MailStream", on_delete=models.CASCADE, related_name="+")
    triggered = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    bounced_hard = models.PositiveIntegerField(default=0)
    bounced_soft = models.PositiveIntegerField(default=0)
    bounced_block = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # Trigger → sent latency of the sent messages: {milliseconds (two significant digits):
    # count}. Percentiles over any range merge these without touching the messages.
    latency_ms = models.JSONField(default=dict, blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class StreamHourStats(RollupCounts):
    """One stream's messages triggered in one hour, counted by what became of them.

    A rollup the dashboard reads instead of aggregating millions of rows per page view. Each row
    is recomputed whole from the messages of its hour (delivery.rollups), so refreshing is
    idempotent and late events simply make their hour be recomputed.
    """

    hour = models.DateTimeField()

    class Meta:
        ordering = ["stream", "hour"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "hour"], name="stream_hour_stats_unique"),
        ]
        indexes = [
            # Serves the dashboard overview: every stream's hours in a time range.
            models.Index(fields=["hour"], name="stream_hour_stats_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} {self.hour:%Y-%m-%d %H:00}"


class StreamDayStats(RollupCounts):
    """The same counts per local day (TIME_ZONE), summed from the day's hours.

    Ranges longer than two days read whole days from here and only their partial first and last
    days from the hours: a 30-day overview reads a few hundred rows instead of thousands.
    """

    day = models.DateField()
    # The day's first instant and the next day's (23 or 25 hours apart on DST changes).
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["stream", "day"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "day"], name="stream_day_stats_unique"),
        ]
        indexes = [
            # Serves the dashboard: every stream's whole days inside a time range.
            models.Index(fields=["starts_at"], name="stream_day_stats_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} {self.day:%Y-%m-%d}"


class StreamMinuteStats(RollupCounts):
    """The same counts per minute, for the last two days only (delivery.rollups).

    What makes the refresh incremental: each minute it recomputes only the minutes that changed
    (a few thousand messages at 50,000 an hour) and sums the hour from its minutes, instead of
    recomputing every message of the hour.
    """

    minute = models.DateTimeField()

    class Meta:
        ordering = ["stream", "minute"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "minute"], name="stream_minute_stats_unique"),
        ]
        indexes = [
            # Serves the refresh: every stream's minutes of one hour (summed into the hour),
            # the minutes it recomputes, and the pruning of minutes older than two days.
            models.Index(fields=["minute"], name="stream_minute_stats_minute_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} {self.minute:%Y-%m-%d %H:%M}"


class RollupWatermark(models.Model):
    """How far the rollup refresh has looked at new messages and events (one row per rollup)."""

    name = models.CharField(max_length=64, primary_key=True)
    checked_until = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} until {self.checked_until:%Y-%m-%d %H:%M:%S}"


class LaneHeartbeat(models.Model):
    """When a lane's workers last showed they are alive (one row per lane, delivery.heartbeats).

    django-q2 keeps its own cluster stats in the broker only for the main cluster, not for our
    lanes (ALT_CLUSTERS), and not at all with the ORM broker: readiness and metrics read this row.
    """

    lane = models.CharField(max_length=16, primary_key=True)
    seen_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["lane"]

    def __str__(self) -> str:
        return f"{self.lane} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
