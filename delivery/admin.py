from django.contrib import admin

from delivery.models import DeliveryEvent, Message, Suppression


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


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email", "reason", "stream", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email"]
    raw_id_fields = ["source_message", "stream"]
