"""Admin for status webhooks: subscriptions (the secret shown once, on the page after adding),
their deliveries with every attempt, and redelivery. Operators only: subscriptions hold signing
secrets, so the Marketers group has no permission here."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from status_webhooks.event_types import WebhookEventType
from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from status_webhooks.redelivery import redeliver, redeliver_failed
from status_webhooks.subscriptions import checked_url


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=2000,
        assume_scheme="https",
        help_text=WebhookSubscription._meta.get_field("url").help_text,
    )
    event_types = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(WebhookEventType.values),
        help_text="The events the endpoint is sent.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "name",
            "url",
            "event_types",
            "streams",
            "external_events",
            "enabled",
            "allow_private",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("url"):
            try:
                cleaned["url"] = checked_url(cleaned["url"], bool(cleaned.get("allow_private")))
            except ValidationError as exc:
                self.add_error("url", exc)
        return cleaned


class RedeliverSinceForm(forms.Form):
    since = forms.DateTimeField(
        help_text="Failed deliveries created at or after this time (YYYY-MM-DD HH:MM, in "
        "the server's time zone) are sent again."
    )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["__str__", "url", "state", "event_list", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    filter_horizontal = ["streams", "external_events"]
    readonly_fields = ["state", "failing_since", "disabled_at", "created_at"]
    actions = ["redeliver_failed_since"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(SubscriptionForm.Meta.fields)
        return fields if obj is None else [*fields, "state", "failing_since", "created_at"]

    @admin.display(description="state")
    def state(self, obj: WebhookSubscription) -> str:
        if obj.enabled:
            if obj.failing_since:
                return f"enabled, failing since {obj.failing_since:%Y-%m-%d %H:%M}"
            return "enabled"
        return obj.disabled_reason or "disabled"

    @admin.display(description="events")
    def event_list(self, obj: WebhookSubscription) -> str:
        chosen = obj.event_types or []
        return "all" if set(chosen) >= set(WebhookEventType.values) else ", ".join(chosen)

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form, change) -> None:
        if change and obj.enabled and "enabled" in form.changed_data:
            # Enabled again by an operator: a fresh start for the five-day rule.
            obj.failing_since = None
            obj.disabled_at = None
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: WebhookSubscription, post_url_continue=None):
        """The secret, this once, on a page no cache keeps; never in a message or URL."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Webhook subscription added",
            "subscription": obj,
        }
        response = TemplateResponse(request, "admin/status_webhooks/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(
        description="Redeliver failed deliveries of selected subscriptions since a time…",
        permissions=["change"],
    )
    def redeliver_failed_since(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = RedeliverSinceForm(
            request.POST if "_since" in request.POST else None,
            initial={"since": timezone.localtime() - timedelta(days=1)},
        )
        if form.is_valid():
            total = sum(
                redeliver_failed(subscription.pk, form.cleaned_data["since"])
                for subscription in queryset
            )
            self.message_user(request, f"Queued {total} failed deliveries again.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Redeliver failed webhook deliveries",
            "form": form,
            "subscriptions": list(queryset),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/status_webhooks/redeliver_since.html", context)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = [
        "attempted_at",
        "outcome",
        "response_status",
        "duration_ms",
        "error",
        "response_excerpt",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "webhook_id",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["=webhook_id"]
    date_hierarchy = "created_at"
    list_select_related = ["subscription"]
    fields = [
        "webhook_id",
        "subscription",
        "delivery_event",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "body",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["redeliver_selected"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="body")
    def body(self, obj: WebhookDelivery) -> str:
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            json.dumps(obj.payload, indent=2, ensure_ascii=False),
        )

    @admin.action(description="Redeliver selected deliveries", permissions=["change"])
    def redeliver_selected(self, request: HttpRequest, queryset: Any) -> None:
        count = redeliver(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Queued {count} deliveries again.", messages.SUCCESS)
