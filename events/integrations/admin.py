"""Admin for integrations: presets, write-only secrets with rotation, the call log."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from events.integrations.models import Integration, IntegrationCall
from events.integrations.presets import PRESETS

RECENT_CALLS = 20


class IntegrationForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False,
        strip=True,
        # The secret's column holds 255 characters: longer is a form error, not a 500.
        max_length=Integration._meta.get_field("secret").max_length,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste the sender's signing secret (Shopify: the app's client secret or the "
        "webhook signing key; Stripe: the endpoint's whsec_… secret). Setting a new one keeps "
        "the old one valid as the previous secret until you forget it below. Secrets are never "
        "shown again.",
    )
    forget_previous_secret = forms.BooleanField(
        required=False, help_text="Tick once the sender signs with the new secret only."
    )

    class Meta:
        model = Integration
        # The secrets themselves are write-only: see new_secret.
        fields = [
            "name",
            "slug",
            "event",
            "is_enabled",
            "preset",
            "verification",
            "signature_header",
            "tolerance_seconds",
            "event_type_path",
            "accepted_types",
            "recipient_path",
            "recipient_key",
            "trigger_id_path",
            "data_paths",
            "unknown_recipient",
            "email_path",
            "first_name_path",
            "last_name_path",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A preset fills these in, so they may be left empty when one is chosen.
        self.fields["recipient_path"].required = False

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("preset")
        if preset in PRESETS and ("preset" in self.changed_data or not self.instance.pk):
            cleaned.update(PRESETS[preset])
        if not cleaned.get("recipient_path"):
            self.add_error("recipient_path", "Say where the recipient is in the body.")
        if not self.instance.secret and not cleaned.get("new_secret"):
            self.add_error("new_secret", "Paste the secret the sender signs its calls with.")
        return cleaned

    def _post_clean(self):
        # Before the model's validation, which must see the new secret (the preset's values
        # are in cleaned_data already and reach the instance with the other fields).
        new_secret = self.cleaned_data.get("new_secret")
        if new_secret and new_secret != self.instance.secret:
            if self.instance.secret:
                self.instance.previous_secret = self.instance.secret
            self.instance.secret = new_secret
        if self.cleaned_data.get("forget_previous_secret"):
            self.instance.previous_secret = ""
        super()._post_clean()


class IntegrationCallAdmin(admin.ModelAdmin):
    list_display = ["received_at", "integration", "outcome", "http_status", "recipient", "trigger"]
    list_filter = ["outcome", "integration"]
    search_fields = ["recipient", "client_trigger_id"]
    date_hierarchy = "received_at"
    raw_id_fields = ["trigger"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "slug", "event", "verification", "is_enabled", "last_call"]
    list_filter = ["is_enabled", "verification"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["webhook_url", "secrets_set", "recent_calls"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "webhook_url", "event", "is_enabled", "preset"]}),
        (
            "Verifying the sender",
            {
                "fields": [
                    "verification",
                    "signature_header",
                    "new_secret",
                    "secrets_set",
                    "forget_previous_secret",
                    "tolerance_seconds",
                ]
            },
        ),
        (
            "Mapping the body to a trigger",
            {
                "description": "Paths name fields of the JSON body with dots (customer.email, "
                "line_items.0.title); alternatives are separated by |. Choosing a preset fills "
                "these in when you save.",
                "fields": [
                    "event_type_path",
                    "accepted_types",
                    "recipient_path",
                    "recipient_key",
                    "trigger_id_path",
                    "data_paths",
                ],
            },
        ),
        (
            "Recipients not in the contact database",
            {
                "fields": [
                    "unknown_recipient",
                    "email_path",
                    "first_name_path",
                    "last_name_path",
                ]
            },
        ),
        ("Calls received", {"fields": ["recent_calls"]}),
    ]

    @admin.display(description="webhook URL")
    def webhook_url(self, obj: Integration) -> str:
        if not obj.pk:
            return "shown once saved"
        return f"{settings.SITE_URL}/hooks/{obj.slug}/"

    @admin.display(description="secrets")
    def secrets_set(self, obj: Integration) -> str:
        if not obj.secret:
            return "none yet"
        return "current and previous (rotation)" if obj.previous_secret else "current"

    @admin.display(description="last call")
    def last_call(self, obj: Integration) -> str:
        call = obj.calls.first()
        return f"{call.received_at:%Y-%m-%d %H:%M} {call.outcome}" if call else "—"

    @admin.display(description=f"last {RECENT_CALLS} calls")
    def recent_calls(self, obj: Integration) -> str:
        calls = list(obj.calls.select_related("trigger")[:RECENT_CALLS]) if obj.pk else []
        if not calls:
            return "No calls yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{c.received_at:%Y-%m-%d %H:%M:%S}",
                    c.http_status,
                    c.get_outcome_display(),
                    c.recipient or "—",
                    f"#{c.trigger_id}" if c.trigger_id else "—",
                    c.detail,
                )
                for c in calls
            ),
        )
        every = (
            reverse("admin:events_integrationcall_changelist") + f"?integration__id__exact={obj.pk}"
        )
        return format_html(
            "<table><tr><th>received</th><th>HTTP</th><th>outcome</th><th>recipient</th>"
            "<th>trigger</th><th>detail</th></tr>{}</table><p><a href='{}'>All calls</a></p>",
            rows,
            every,
        )


admin.site.register(IntegrationCall, IntegrationCallAdmin)
