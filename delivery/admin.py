from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from delivery.models import DeliveryEvent, Message, Suppression
from delivery.suppressions import remove_suppression


class DeliveryEventInline(admin.TabularInline):
    model = DeliveryEvent
    fields = ["event_type", "occurred_at", "bounce_kind", "description", "mta_response"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "recipient",
        "stream",
        "status",
        "skip_reason",
        "lane",
        "received_at",
        "sent_at",
    ]
    list_filter = ["status", "lane", "stream"]
    search_fields = ["=recipient", "=client_trigger_id", "=message_id"]
    # The log grows to millions of rows: no full count, no sorting the whole table by default.
    show_full_result_count = False
    list_select_related = ["stream"]
    raw_id_fields = ["trigger", "stream", "version", "contact"]
    date_hierarchy = None
    inlines = [DeliveryEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RemoveSuppressionForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why may this address receive mail again? Kept in the admin's history.",
    )


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Suppressed addresses with reason and the message that caused them.

    Removing one goes through a confirmation page that asks for an audit note (the plain delete
    is switched off so no removal goes unexplained).
    """

    list_display = ["email", "reason", "scope", "source", "created_at", "remove"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email"]
    raw_id_fields = ["source_message", "stream"]
    readonly_fields = ["created_at"]
    list_select_related = ["stream"]
    show_full_result_count = False

    @admin.display(description="scope", ordering="stream")
    def scope(self, obj: Suppression) -> str:
        return str(obj.stream) if obj.stream_id else "all streams"

    @admin.display(description="source message")
    def source(self, obj: Suppression) -> str:
        if not obj.source_message_id:
            return "—"
        url = reverse("admin:delivery_message_change", args=[obj.source_message_id])
        return format_html('<a href="{}">#{}</a>', url, obj.source_message_id)

    @admin.display(description="")
    def remove(self, obj: Suppression) -> str:
        url = reverse("admin:delivery_suppression_remove", args=[obj.pk])
        return format_html('<a href="{}">remove…</a>', url)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/remove/",
                self.admin_site.admin_view(self.remove_view),
                name="delivery_suppression_remove",
            ),
            *super().get_urls(),
        ]

    def remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("delivery.delete_suppression"):
            raise PermissionDenied
        suppression = get_object_or_404(Suppression, pk=pk)
        form = RemoveSuppressionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            remove_suppression(suppression, removed_by=request.user, note=form.cleaned_data["note"])
            self.message_user(
                request, f"{suppression.email} may receive mail again.", messages.SUCCESS
            )
            return redirect("admin:delivery_suppression_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Remove the suppression of {suppression.email}?",
            "suppression": suppression,
            "form": form,
        }
        return TemplateResponse(request, "admin/delivery/suppression/remove.html", context)
