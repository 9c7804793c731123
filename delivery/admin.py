from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from delivery import message_search
from delivery.admin_paging import CappedCountPaginator
from delivery.data_tables import data_table
from delivery.message_display import render_for_display
from delivery.models import DeliveryEvent, Message, Suppression
from delivery.queue import LANES
from delivery.stream_control import release_held, resend_failed
from delivery.suppressions import remove_suppression
from streams.rendering import TemplateProblem


class DeliveryEventInline(admin.TabularInline):
    model = DeliveryEvent
    fields = ["event_type", "occurred_at", "bounce_kind", "description", "mta_response"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LaneFilter(admin.SimpleListFilter):
    """The lanes by name: no SELECT DISTINCT over millions of messages to find them."""

    title = "lane"
    parameter_name = "lane"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(lane, lane) for lane in LANES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(lane=self.value()) if self.value() else queryset


class TestSendFilter(admin.SimpleListFilter):
    title = "test sends"
    parameter_name = "test"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("only", "only test sends"), ("none", "without test sends")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "only":
            return queryset.filter(is_test=True)
        if self.value() == "none":
            return queryset.filter(is_test=False)
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The message log: read-only, searchable and fast on millions of rows.

    Never counts the whole table (CappedCountPaginator, no full result count), filters only on
    indexed columns with fixed choices, and searches by exact values through indexes.
    """

    list_display = [
        "id",
        "received_at",
        "recipient",
        "stream",
        "version_number",
        "status_label",
        "outcome_label",
        "lane",
        "test_badge",
        "sent_at",
    ]
    list_filter = [
        "status",
        "stream",
        LaneFilter,
        ("received_at", admin.DateFieldListFilter),
        TestSendFilter,
    ]
    search_fields = ["recipient"]
    show_full_result_count = False
    # "Show counts" would count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 100
    list_select_related = ["stream", "version"]
    actions = ["resend_failed_messages", "release_held_messages"]
    inlines = [DeliveryEventInline]
    change_form_template = "admin/delivery/message/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "test_banner",
                    "recipient",
                    "stream",
                    "version",
                    "status_label",
                    "last_error",
                    "lane",
                    "attempts",
                    "message_id",
                    "esp_message_id",
                ]
            },
        ),
        (
            "Trigger",
            {
                "fields": [
                    "trigger_link",
                    "client_trigger_id",
                    "contact",
                    "event_time",
                    "trigger_data",
                ]
            },
        ),
        (
            "Timeline",
            {"fields": ["received_at", "queued_at", "sent_at", "outcome_label", "updated_at"]},
        ),
        ("Attachments", {"fields": ["attachment_list"]}),
    ]
    # Everything is read-only: the log shows what happened, it is not edited.
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("data", "last_error")

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # The detail page shows the data the list does not load.
        queryset = Message.objects.select_related("stream", "version", "contact", "trigger")
        try:
            return queryset.get(pk=int(object_id))
        except (ValueError, Message.DoesNotExist):
            return None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact values over every message by index, partial ones over the newest rows
        (delivery.message_search says which and why)."""
        return message_search.search(queryset, search_term), False

    @property
    def search_help_text(self) -> str:  # type: ignore[override]
        return message_search.help_text()  # names the bound, which comes from the settings

    @admin.display(description="version")
    def version_number(self, message: Message) -> str:
        return f"v{message.version.number}"

    @admin.display(description="status", ordering="status")
    def status_label(self, message: Message) -> str:
        if message.skip_reason:
            return f"{message.status}: {message.get_skip_reason_display()}"
        return message.get_status_display()

    @admin.display(description="latest outcome", ordering="outcome")
    def outcome_label(self, message: Message) -> str:
        """What happened after the send, most telling first (delivery.tracking ranks them)."""
        if not message.outcome:
            return "—"
        label = message.get_outcome_display()
        if message.outcome == Message.Outcome.BOUNCED and message.bounce_kind:
            label = f"{label} ({message.bounce_kind})"
        if message.outcome_at is None:
            return label
        return f"{label}, {timezone.localtime(message.outcome_at):%Y-%m-%d %H:%M}"

    @admin.display(description="data")
    def trigger_data(self, message: Message) -> str:
        """The trigger's data as a table (nested values as tables inside); all of it text."""
        return format_html(
            '<div class="te-data-scroll" id="te-trigger-data">{}</div>', data_table(message.data)
        )

    @admin.display(description="test", boolean=False)
    def test_badge(self, message: Message) -> str:
        if not message.is_test:
            return ""
        return format_html('<strong style="color:#b45309">{}</strong>', "TEST")

    @admin.display(description="sent by")
    def test_banner(self, message: Message) -> str:
        if not message.is_test:
            return "a trigger (a real message, not a test)"
        return format_html(
            '<strong style="color:#b45309">{}</strong>',
            "TEST SEND — sent by a person from the admin or the command line, not by a trigger.",
        )

    @admin.display(description="trigger")
    def trigger_link(self, message: Message) -> str:
        trigger = message.trigger
        if trigger is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a> ({}, {})',
            reverse("admin:events_trigger_change", args=[trigger.pk]),
            trigger.pk,
            trigger.get_source_display(),
            timezone.localtime(trigger.received_at).strftime("%Y-%m-%d %H:%M:%S"),
        )

    @admin.display(description="files")
    def attachment_list(self, message: Message) -> str:
        per_trigger = [(a.filename, a.content_type, a.size) for a in message.attachments.all()]
        static = [(a.filename, a.content_type, a.size) for a in message.stream.attachments.all()]
        if not per_trigger and not static:
            return "none"
        return format_html_join(
            mark_safe("<br>"),
            "{} ({}, {} bytes) — {}",
            [(*row, "sent with the trigger") for row in per_trigger]
            + [(*row, "static file of the stream (as it is now)") for row in static],
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Message | None = None,
    ) -> HttpResponse:
        if obj is not None:
            try:
                context["rendered"] = render_for_display(obj)
            except TemplateProblem as problem:
                context["render_problem"] = problem
            context["timeline"] = obj.events.all()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("delivery.resend_message")

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("delivery.release_message")

    @admin.action(description="Resend the selected failed messages", permissions=["resend"])
    def resend_failed_messages(self, request: HttpRequest, queryset: QuerySet) -> None:
        result = resend_failed(queryset)
        parts = [f"{result.resent} failed messages queued again"]
        if result.suppressed:
            parts.append(f"{result.suppressed} not resent: the recipient is suppressed")
        if result.not_failed:
            parts.append(f"{result.not_failed} skipped: they had not failed")
        if result.tests:
            parts.append(f"{result.tests} test sends skipped: send a new test instead")
        self.message_user(request, "; ".join(parts) + ".", messages.SUCCESS)

    @admin.action(description="Release the selected held messages", permissions=["release"])
    def release_held_messages(self, request: HttpRequest, queryset: QuerySet) -> None:
        result = release_held(queryset, expire=False)
        self.message_user(
            request,
            f"{result.released} held messages released to their lanes (sent even if their "
            "stream is still paused).",
            messages.SUCCESS,
        )


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
