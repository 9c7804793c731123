from django.contrib import admin

from events.models import ApiCredential, Contact, ExternalEvent, Trigger


@admin.register(ExternalEvent)
class ExternalEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at"]
    search_fields = ["name"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "external_id", "first_name", "last_name", "opt_in", "updated_at"]
    search_fields = ["email", "external_id"]
    show_full_result_count = False


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "source", "received_at", "message_count", "error_count"]
    list_filter = ["source"]
    search_fields = ["trigger_id", "idempotency_key"]
    raw_id_fields = ["event", "credential"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    """Secrets never appear here: create_api_user prints them once."""

    list_display = ["username", "name", "is_active", "created_at", "last_used_at"]
    fields = ["name", "username", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["username", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False


# Integrations and automation programs (issue 6) register their admin in modules of their own.
from events import admin_integrations, admin_programs  # noqa: E402, F401
