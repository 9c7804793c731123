from django.contrib import admin

from streams.models import EmailCampaign, MailStream, StreamVersion


@admin.register(EmailCampaign)
class EmailCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "subject", "sender_email", "updated_at"]
    search_fields = ["name", "subject"]


class StreamVersionInline(admin.TabularInline):
    model = StreamVersion
    fields = ["number", "subject", "published_at", "author"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MailStream)
class MailStreamAdmin(admin.ModelAdmin):
    list_display = ["name", "event", "kind", "status", "lane", "current_version"]
    list_filter = ["status", "kind", "lane"]
    search_fields = ["name"]
    raw_id_fields = ["current_version", "source_campaign"]
    inlines = [StreamVersionInline]


@admin.register(StreamVersion)
class StreamVersionAdmin(admin.ModelAdmin):
    list_display = ["stream", "number", "subject", "published_at"]
    list_filter = ["stream"]
    readonly_fields = ["html_inlined", "published_at"]
