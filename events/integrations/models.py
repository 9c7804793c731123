"""Integrations: a third-party system's own webhook (Shopify, Stripe, any HMAC-signing sender)
triggers an external event, with no code on the sender's side.

Imported by events.models so Django registers the models under the `events` app.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from events.json_paths import PathSyntaxError, check_path


class Integration(models.Model):
    """An inbound webhook at `/hooks/<slug>/`: how to verify the sender and map its JSON body."""

    class Verification(models.TextChoices):
        HMAC_HEX = "hmac_hex", "HMAC-SHA256 of the body, hex, in a header"
        HMAC_BASE64 = "hmac_base64", "HMAC-SHA256 of the body, base64, in a header"
        SHOPIFY = "shopify", "Shopify (X-Shopify-Hmac-Sha256)"
        STRIPE = "stripe", "Stripe (Stripe-Signature, with replay tolerance)"

    class Preset(models.TextChoices):
        CUSTOM = "custom", "custom mapping"
        SHOPIFY_ORDER = "shopify_order", "Shopify order webhook (orders/create, orders/paid, …)"
        STRIPE_CHECKOUT = "stripe_checkout", "Stripe checkout.session.completed"
        STRIPE_INVOICE = "stripe_invoice", "Stripe invoice.paid"

    class RecipientKey(models.TextChoices):
        EMAIL = "email", "email address"
        EXTERNAL_ID = "external_id", "external id"
        ID = "id", "contact id"

    class UnknownRecipient(models.TextChoices):
        CREATE = "create", "create the contact from the payload"
        REFUSE = "refuse", "refuse the call (422) and log it"

    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="Part of the webhook URL: /hooks/your-slug/."
    )
    event = models.ForeignKey(
        "events.ExternalEvent",
        on_delete=models.PROTECT,
        related_name="integrations",
        help_text="The external event each accepted call triggers.",
    )
    is_enabled = models.BooleanField(
        default=True, help_text="A disabled integration answers 404, as if it did not exist."
    )
    preset = models.CharField(max_length=32, choices=Preset.choices, default=Preset.CUSTOM)

    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.HMAC_HEX
    )
    signature_header = models.CharField(
        max_length=100,
        default="X-Signature",
        blank=True,
        help_text="For the HMAC schemes: the header carrying the signature. Shopify and Stripe "
        "use their own headers.",
    )
    # Stored as given: an HMAC needs the shared secret itself. Never shown in the admin.
    secret = models.CharField(max_length=255)
    previous_secret = models.CharField(
        max_length=255,
        blank=True,
        help_text="Still accepted while a rotation is under way; clear it once the sender signs "
        "with the new secret only.",
    )
    tolerance_seconds = models.PositiveIntegerField(
        default=300,
        help_text="Stripe: refuse signatures whose timestamp is further than this from now "
        "(replayed calls).",
    )

    event_type_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="Path of the sender's event type in the body (Stripe: type). Empty: every "
        "call is accepted.",
    )
    accepted_types = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated event types to accept; others are answered 200 and logged as "
        "ignored, so the sender does not retry them.",
    )
    recipient_path = models.CharField(
        max_length=255,
        help_text="Path to the recipient in the body, e.g. customer.email; alternatives "
        "separated by |, e.g. email|customer.email.",
    )
    recipient_key = models.CharField(
        max_length=16,
        choices=RecipientKey.choices,
        default=RecipientKey.EMAIL,
        help_text="Which contact field the recipient value is.",
    )
    trigger_id_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="Path to a value unique per business event (the order id): a retried call "
        "with the same value sends nothing again.",
    )
    data_paths = models.TextField(
        blank=True,
        help_text="One `name = path` per line; each becomes {{ event.name }} in the templates. "
        "Empty: the whole body is the event data.",
    )
    unknown_recipient = models.CharField(
        max_length=16,
        choices=UnknownRecipient.choices,
        default=UnknownRecipient.CREATE,
        help_text="What to do when the recipient is not in the contact database.",
    )
    email_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="Where a new contact's email is, when the recipient is not an email address.",
    )
    first_name_path = models.CharField(max_length=255, blank=True)
    last_name_path = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.secret, self.previous_secret) if s]

    @property
    def accepted_type_list(self) -> list[str]:
        return [t.strip() for t in self.accepted_types.split(",") if t.strip()]

    def data_mapping(self) -> dict[str, str]:
        """`data_paths` as {name: path}; raises ValidationError naming the bad line."""
        mapping: dict[str, str] = {}
        for number, line in enumerate(self.data_paths.splitlines(), start=1):
            if not line.strip() or line.strip().startswith("#"):
                continue
            name, equals, path = line.partition("=")
            name, path = name.strip(), path.strip()
            if not equals or not name or not path:
                raise ValidationError(
                    {"data_paths": f"line {number} ({line.strip()!r}): write `name = path`."}
                )
            try:
                check_path(path)
            except PathSyntaxError as exc:
                raise ValidationError({"data_paths": f"line {number}: {exc}"}) from exc
            mapping[name] = path
        return mapping

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name in (
            "recipient_path",
            "trigger_id_path",
            "event_type_path",
            "email_path",
            "first_name_path",
            "last_name_path",
        ):
            value = getattr(self, name)
            if value:
                try:
                    check_path(value)
                except PathSyntaxError as exc:
                    errors[name] = str(exc)
        if (
            self.verification in (self.Verification.HMAC_HEX, self.Verification.HMAC_BASE64)
            and not self.signature_header.strip()
        ):
            errors["signature_header"] = "Name the header the sender puts its signature in."
        if self.accepted_types and not self.event_type_path:
            errors["event_type_path"] = "Say where the event type is, to filter on it."
        if errors:
            raise ValidationError(errors)
        self.data_mapping()


class IntegrationCall(models.Model):
    """One received webhook call and what came of it, for the admin to inspect."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "accepted"
        DUPLICATE = "duplicate", "duplicate (already triggered)"
        IGNORED = "ignored", "ignored (event type not accepted)"
        DISABLED = "disabled", "refused: integration disabled"
        BAD_SIGNATURE = "bad_signature", "refused: bad or missing signature"
        INVALID_BODY = "invalid_body", "refused: body is not a JSON object"
        TOO_LARGE = "too_large", "refused: body too large"
        NO_RECIPIENT = "no_recipient", "refused: no recipient in the body"
        NO_CONTACT = "no_contact", "refused: recipient not in the contact database"
        NOT_LINKED = "not_linked", "refused: nothing linked to the event"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="calls")
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField()
    detail = models.TextField(blank=True)
    trigger = models.ForeignKey(
        "events.Trigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recipient = models.CharField(max_length=254, blank=True)
    client_trigger_id = models.CharField(max_length=255, blank=True)
    # The start of the body for refused calls, to see why a mapping found nothing. Unverified
    # bodies are not kept: anyone can send those.
    body_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # Serves the admin: one integration's calls, newest first.
            models.Index(fields=["integration", "received_at"], name="integration_call_recent_idx"),
            # Serves the periodic purge of calls past INTEGRATION_CALL_LOG_DAYS.
            models.Index(fields=["received_at"], name="integration_call_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration} at {self.received_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
