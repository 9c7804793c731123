from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils import timezone


class ExternalEvent(models.Model):
    """An identifier clients trigger by number (`/api/v2/event/{id}/trigger`)."""

    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class Contact(models.Model):
    """The contact database.

    `opt_in` is kept and shown, but operational mail ignores it: a password reset must arrive.
    """

    email = models.EmailField(max_length=254)
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    first_name = models.CharField(max_length=200, blank=True)
    last_name = models.CharField(max_length=200, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="Further fields, by name.")
    opt_in = models.BooleanField(
        null=True, blank=True, help_text="Shown for reference; ignored for sending."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email", "id"]
        indexes = [
            # Serves key_id 3/email lookups of the trigger API and the admin's search.
            models.Index(fields=["email"], name="contact_email_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        # Lookups compare lowercase; storing lowercase keeps them on the plain index.
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


# Emarsys's ids of the standard contact fields this product knows; custom fields take others.
STANDARD_FIELD_IDS = {1: "first_name", 2: "last_name", 3: "email", 31: "opt_in"}
# Names a custom field cannot take: the contact's own columns and key fields.
RESERVED_FIELD_NAMES = {*STANDARD_FIELD_IDS.values(), "id", "external_id", "uid"}


def validate_custom_field_id(value: int) -> None:
    if value in STANDARD_FIELD_IDS:
        raise ValidationError(
            f"Field id {value} is Emarsys's {STANDARD_FIELD_IDS[value]}: choose another id."
        )


def validate_custom_field_name(value: str) -> None:
    if value in RESERVED_FIELD_NAMES:
        raise ValidationError(f"{value} is a standard contact field: choose another name.")


class ContactField(models.Model):
    """A custom contact field, addressed by its Emarsys field id (as clients send it) or its name.

    Values live in `Contact.fields` under `name`. A field marked unique holds a different value
    for every contact and may identify contacts (`key_id` = its id or name), like Emarsys's
    custom key fields.
    """

    class Type(models.TextChoices):
        SHORTTEXT = "shorttext", "short text"
        LONGTEXT = "longtext", "long text"
        NUMERIC = "numeric", "number"
        DATE = "date", "date"

    id = models.PositiveIntegerField(
        primary_key=True,
        # PostgreSQL's integer; SQLite would store more and PostgreSQL refuse it.
        validators=[validate_custom_field_id, MaxValueValidator(2**31 - 1)],
        help_text="The Emarsys field id clients send (e.g. the id this field has in Emarsys).",
    )
    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
                "Lowercase letters, digits and single underscores, starting with a letter.",
            ),
            validate_custom_field_name,
        ],
        help_text="The key in the contact's fields and in templates (contact.<name>).",
    )
    label = models.CharField(max_length=200, blank=True)
    application_type = models.CharField(max_length=16, choices=Type.choices, default=Type.SHORTTEXT)
    unique = models.BooleanField(
        default=False,
        help_text="Every contact has a different value: the field can identify contacts (key_id).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class ApiCredential(models.Model):
    """A client system's credential for the trigger API.

    The secret is stored as given because the WSSE digest is computed from it; the token is
    stored only as a hash. Neither is shown in the admin.
    """

    name = models.CharField(max_length=200)
    username = models.CharField(max_length=150, unique=True)
    secret = models.CharField(max_length=128)
    token_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        verbose_name = "API credential"

    def __str__(self) -> str:
        return self.username

    # DRF's IsAuthenticated asks request.user; the credential stands in for a user.
    is_authenticated = True


class WsseNonce(models.Model):
    """A WSSE nonce already used: each nonce is accepted once."""

    nonce = models.CharField(max_length=255, primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # Serves the periodic purge of nonces older than the Created window.
            models.Index(fields=["created_at"], name="wsse_nonce_created_idx"),
        ]

    def __str__(self) -> str:
        return self.nonce


class Trigger(models.Model):
    """One accepted call: from the API, an integration, an automation step or a test send."""

    class Source(models.TextChoices):
        API = "api", "API"
        BROADCAST = "broadcast", "broadcast API"
        INTEGRATION = "integration", "integration"
        AUTOMATION = "automation", "automation"
        TEST = "test", "test send"

    event = models.ForeignKey(
        ExternalEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="triggers"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    credential = models.ForeignKey(
        ApiCredential, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    # The client's dedup key for single calls (batches carry one per contact on each message).
    trigger_id = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    message_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # Serves the admin's and dashboard's "triggers of this event over time".
            models.Index(fields=["event", "received_at"], name="trigger_event_received_idx"),
        ]

    def __str__(self) -> str:
        return f"trigger #{self.pk} ({self.get_source_display()})"


class IdempotentRequest(models.Model):
    """The first response to a request carrying an `Idempotency-Key`, replayed on retries."""

    credential = models.ForeignKey(ApiCredential, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "key"], name="idempotent_request_key_unique"
            ),
        ]
        indexes = [
            # Serves the periodic purge of keys past API_IDEMPOTENCY_TTL_HOURS.
            models.Index(fields=["created_at"], name="idempotent_created_idx"),
        ]

    def __str__(self) -> str:
        return self.key


# Integrations and automation programs keep their models in their own packages (issue 6).
from events.integrations.models import Integration, IntegrationCall  # noqa: E402, F401
from events.programs.models import (  # noqa: E402, F401
    Program,
    ProgramRun,
    ProgramRunStep,
    ProgramStep,
)
