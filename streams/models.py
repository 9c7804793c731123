import re
from email.utils import formataddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from senders.sender_addresses import sender_domain_problem
from streams.sanitizing import clean_template_html

# CR and LF end a header line (a sender name with "\r\nBcc: …" would add a header); the
# other characters Python's str.splitlines() treats as line ends are refused with them.
_LINE_BREAK = re.compile("[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def has_line_break(value: str) -> bool:
    return bool(value) and _LINE_BREAK.search(value) is not None


def sender_domain_allowed(address: str) -> bool:
    """True when `address` is on a verified sender domain (senders.SenderDomain)."""
    if has_line_break(address):
        # "x\r\nBcc: y@z\r\nme@example.com" ends in an allowed domain.
        return False
    return sender_domain_problem(address) is None


def sender_problem(address: str) -> str:
    """Why `address` cannot be a stream's sender (for an address sender_domain_allowed refuses)."""
    if has_line_break(address):
        return "The sender address must be on one line."
    return sender_domain_problem(address) or ""


def refuse_line_breaks(instance: object, labels: dict[str, str]) -> None:
    """Raise ValidationError naming each field (of `labels`) whose value holds a line break.

    These values become email headers; a line break would let one value add headers. Called
    from clean() (forms show it by the field) and from save() (every other path: copies,
    commands, scripts), because a stored one fails every send of the stream.
    """
    errors = {
        name: f"The {label} must be on one line: remove the line break from {value!r}."
        for name, label in labels.items()
        if has_line_break(value := getattr(instance, name) or "")
    }
    if errors:
        raise ValidationError(errors)


class EmailCampaign(models.Model):
    """An existing (marketing) email: the source a marketer copies into a mail stream."""

    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=998)
    sender_name = models.CharField(max_length=200, blank=True)
    sender_email = models.EmailField()
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    HEADER_FIELDS = {
        "subject": "subject",
        "sender_name": "sender name",
        "sender_email": "sender address",
    }

    def save(self, *args, **kwargs) -> None:
        refuse_line_breaks(self, self.HEADER_FIELDS)
        # Marketer-authored HTML is cleaned whenever it is saved (streams.sanitizing).
        self.html = clean_template_html(self.html)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        refuse_line_breaks(self, self.HEADER_FIELDS)


def default_retention_days() -> int:
    return settings.TRIGGERED_EMAIL_RETENTION_DAYS


def default_sample_contact() -> dict:
    return {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.org"}


class MailStream(models.Model):
    """Event-driven email: what is sent, from whom and how, when its external event fires."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "contact (recipients from the contact database)"
        BROADCAST = "broadcast", "broadcast (addresses given in the API call)"

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        LIVE = "live", "live"
        PAUSED = "paused", "paused"

    class PausePolicy(models.TextChoices):
        HOLD = "hold", "hold (keep and send on resume)"
        DISCARD = "discard", "discard (record and drop)"

    class Lane(models.TextChoices):
        TRANSACTIONAL = "transactional", "transactional (time-critical)"
        BULK = "bulk", "bulk"

    name = models.CharField(max_length=200, unique=True)
    event = models.ForeignKey(
        "events.ExternalEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="streams",
        help_text="Triggers of this external event send the stream.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CONTACT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    pause_policy = models.CharField(
        max_length=16, choices=PausePolicy.choices, default=PausePolicy.HOLD
    )
    lane = models.CharField(max_length=16, choices=Lane.choices, default=Lane.TRANSACTIONAL)
    sender_name = models.CharField(max_length=200, blank=True)
    sender_email = models.EmailField(
        help_text="Must be on a verified sender domain (Admin → Sender domains)."
    )
    reply_to = models.EmailField(blank=True)
    require_attachment = models.BooleanField(
        default=False,
        help_text="Refuse to send a message whose trigger carried no attachment.",
    )
    track_opens = models.BooleanField(default=False)
    track_clicks = models.BooleanField(default=False)
    esp_message_stream = models.CharField(
        "ESP message stream",
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9_-]*$", "Letters, digits, hyphens and underscores only (an ESP's id)."
            )
        ],
        help_text=(
            "ESP path only: the ESP's message stream for this stream's messages (Postmark's "
            "MessageStream id). Empty: broadcast streams use the ESP's broadcast stream, "
            "others the ESP's default."
        ),
    )
    current_version = models.ForeignKey(
        "StreamVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The published version new triggers are rendered from.",
    )
    source_campaign = models.ForeignKey(
        EmailCampaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="streams",
    )
    # What the admin's live preview and test sends render the draft with.
    sample_data = models.JSONField(
        default=dict,
        blank=True,
        help_text="Sample event data (the API call's `data`) for the preview and test sends.",
    )
    sample_contact = models.JSONField(
        default=default_sample_contact,
        blank=True,
        help_text="Sample contact for the preview and test sends: first_name, last_name, email, "
        "external_id and any further fields.",
    )
    retention_days = models.PositiveIntegerField(
        default=default_retention_days,
        validators=[MinValueValidator(1), MaxValueValidator(36_500)],
        help_text="Days its messages, their events and attachments are kept; the dashboard's "
        "counts stay.",
    )
    # Messages received before this were purged (delivery.retention): the rollups of those hours
    # are final and never recomputed from the rows that are left (there are none).
    purged_before = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # Serves the trigger path: live and paused streams linked to one event.
            models.Index(fields=["event", "status"], name="stream_event_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    HEADER_FIELDS = {
        "sender_name": "sender name",
        "sender_email": "sender address",
        "reply_to": "reply-to address",
    }

    def save(self, *args, **kwargs) -> None:
        refuse_line_breaks(self, self.HEADER_FIELDS)
        # Broadcasts go to many addresses at once: they run on the bulk lane, so they never
        # delay a time-critical message on the transactional one.
        if self.kind == self.Kind.BROADCAST:
            self.lane = self.Lane.BULK
            if kwargs.get("update_fields") is not None and "kind" in kwargs["update_fields"]:
                kwargs["update_fields"] = {*kwargs["update_fields"], "lane"}
        super().save(*args, **kwargs)

    @property
    def accepts_triggers(self) -> bool:
        """Live streams send; paused ones hold or discard; drafts are not linked yet."""
        return self.status in (self.Status.LIVE, self.Status.PAUSED)

    @property
    def from_address(self) -> str:
        return formataddr((self.sender_name, self.sender_email))

    def launch_problems(self) -> list[str]:
        """Why this stream cannot send now (empty when it can go live)."""
        problems = []
        if not sender_domain_allowed(self.sender_email):
            problems.append(
                f"The sender address {self.sender_email or '(none)'} is not on a verified "
                f"sender domain: {sender_problem(self.sender_email)}"
            )
        if self.current_version_id is None:
            problems.append("No version is published yet: publish the draft first.")
        if self.kind == self.Kind.CONTACT and self.event_id is None:
            problems.append("No external event is linked: choose the event that triggers it.")
        return problems

    def clean(self) -> None:
        refuse_line_breaks(self, self.HEADER_FIELDS)
        if self.sender_email and not sender_domain_allowed(self.sender_email):
            raise ValidationError({"sender_email": sender_problem(self.sender_email)})


class StreamVersion(models.Model):
    """One version of a stream's content; immutable once published.

    Every message records the version it was rendered from, so the log shows exactly what was
    sent even after the stream has been edited.
    """

    stream = models.ForeignKey(MailStream, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    subject = models.CharField(max_length=998)
    html_source = models.TextField(blank=True)
    text = models.TextField(blank=True)
    # The HTML with CSS already inlined: computed once at publish time, never per send.
    html_inlined = models.TextField(blank=True, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["stream", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "number"], name="stream_version_number_unique"
            ),
            models.UniqueConstraint(
                fields=["stream"],
                condition=Q(published_at__isnull=True),
                name="stream_version_single_draft",
            ),
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else "draft"
        return f"{self.stream} v{self.number} ({state})"

    def save(self, *args, **kwargs) -> None:
        if (
            self.pk
            and StreamVersion.objects.filter(pk=self.pk, published_at__isnull=False).exists()
        ):
            raise ValidationError(
                f"Version {self.number} of {self.stream} is published and cannot change; "
                "write a new draft version instead."
            )
        # The subject source becomes the Subject header (rendered subjects are joined into one
        # line too, streams.rendering.clean_subject).
        refuse_line_breaks(self, {"subject": "subject"})
        # Marketer-authored HTML is cleaned whenever it is saved (streams.sanitizing).
        self.html_source = clean_template_html(self.html_source)
        super().save(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


def stream_attachment_path(instance: "StreamAttachment", filename: str) -> str:
    return f"stream-attachments/{instance.stream_id}/{filename}"


class StreamAttachment(models.Model):
    """A static file attached to every message of a stream."""

    stream = models.ForeignKey(MailStream, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=stream_attachment_path)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stream", "filename"]

    def __str__(self) -> str:
        return self.filename
