"""The events admin: external events (with their streams, automation usages and test
triggers), the contact database (search, CSV import), triggers and API credentials."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from delivery.admin_paging import CappedCountPaginator
from events.admin_forms import ContactImportForm, TestTriggerForm
from events.contact_import import ImportFileError, apply_import, decode, plan_import
from events.credentials import rotate_credential
from events.models import ApiCredential, Contact, ContactField, ExternalEvent, Trigger
from events.reply_codes import ReplyError
from events.sample_triggers import trigger_test
from triggered_email.json_form_fields import StorableJSONField


def automation_usages(event: ExternalEvent) -> list[tuple[str, list[Any]]]:
    """What else refers to the event besides its streams and triggers (automation programs,
    integrations), found through the model's relations so new kinds show up by themselves."""
    usages = []
    for relation in ExternalEvent._meta.related_objects:
        model = relation.related_model
        if relation.name in ("streams", "triggers") or not relation.one_to_many:
            continue
        related = list(model._default_manager.filter(**{relation.field.name: event})[:10])
        if related:
            usages.append((str(model._meta.verbose_name_plural), related))
    return usages


@admin.register(ExternalEvent)
class ExternalEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "stream_list", "usage_list", "created_at"]
    search_fields = ["name"]
    change_form_template = "admin/events/externalevent/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("streams")

    @admin.display(description="mail streams")
    def stream_list(self, event: ExternalEvent) -> str:
        streams = list(event.streams.all())
        if not streams:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            (
                (reverse("admin:streams_mailstream_change", args=[s.pk]), s.name, s.status)
                for s in streams
            ),
        )

    @admin.display(description="automation usages")
    def usage_list(self, event: ExternalEvent) -> str:
        usages = automation_usages(event)
        if not usages:
            return "—"
        return "; ".join(
            f"{label}: {', '.join(str(item) for item in items)}" for label, items in usages
        )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.trigger_test_view)
        return [
            path("<path:object_id>/trigger-test/", view, name="events_externalevent_test"),
            *super().get_urls(),
        ]

    def has_test_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("streams.change_mailstream")

    def trigger_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # get_object answers None for an id that is not a number (a mistyped or stale link),
        # where a lookup by pk would raise and answer 500.
        event = self.get_object(request, object_id)
        if event is None:
            raise Http404(f"No external event with id {object_id!r}.")
        if not self.has_test_permission(request):
            raise PermissionDenied
        streams = list(event.streams.all())
        sample = next((s.sample_data for s in streams if s.sample_data), {})
        form = TestTriggerForm(
            request.POST or None,
            initial={"email": request.user.email, "data": json.dumps(sample, indent=2)},
        )
        if request.method == "POST" and form.is_valid():
            try:
                result = trigger_test(event, form.cleaned_data["email"], form.cleaned_data["data"])
            except ReplyError as exc:
                self.message_user(request, f"Nothing triggered: {exc.text}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    format_html(
                        "Test trigger #{} for {}: {}",
                        result.trigger.pk,
                        form.cleaned_data["email"],
                        format_html_join(
                            "; ",
                            '{} → <a href="{}">message #{}</a> {}',
                            (
                                (
                                    w.stream.name,
                                    reverse("admin:delivery_message_change", args=[w.message.pk]),
                                    w.message.pk,
                                    w.message.status
                                    + (
                                        f" ({w.message.get_skip_reason_display()})"
                                        if w.message.skip_reason
                                        else ""
                                    ),
                                )
                                for w in result.written
                            ),
                        ),
                    ),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:events_externalevent_change", args=[event.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Trigger a test of {event}",
            "opts": self.opts,
            "original": event,
            "form": form,
            "streams": streams,
        }
        return TemplateResponse(request, "admin/events/externalevent/trigger_test.html", context)


@admin.register(ContactField)
class ContactFieldAdmin(admin.ModelAdmin):
    """Custom contact fields: the Emarsys id clients send and templates use (`contact.4711`),
    and the name values are kept under (`contact.loyalty_tier`)."""

    list_display = ["id", "name", "label", "application_type", "unique", "created_at"]
    list_filter = ["application_type", "unique"]
    search_fields = ["name", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Renaming or renumbering would orphan the values stored under the old name and break
        # clients and templates that use the id: a field is defined once.
        return ["id", "name"] if obj is not None else []


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "external_id", "first_name", "last_name", "opt_in_shown", "updated_at"]
    search_fields = ["=email", "=external_id"]
    search_help_text = "An exact email address or external id."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    change_list_template = "admin/events/contact/change_list.html"
    fields = ["email", "external_id", "first_name", "last_name", "fields", "opt_in"]
    # NaN, 1e999, \u0000 or deep nesting typed into the free fields: a form error, not a 500.
    formfield_overrides = {models.JSONField: {"form_class": StorableJSONField}}

    @admin.display(description="opt-in (ignored for sending)", boolean=True, ordering="opt_in")
    def opt_in_shown(self, contact: Contact) -> bool | None:
        return contact.opt_in

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str):
        # Emails are stored lowercase (Contact.save): an exact match on the lowercased term
        # uses contact_email_idx; `=` in search_fields would compare case-insensitively.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(email=term.lower()) | queryset.filter(external_id=term), False

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="events_contact_import"), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = ContactImportForm(request.POST or None, request.FILES or None)
        plan = None
        if request.method == "POST" and form.is_valid():
            try:
                upload = form.cleaned_data["file"]
                text = decode(upload.read()) if upload else form.cleaned_data["content"]
                if not text:
                    raise ImportFileError("Choose a CSV file to import.")
                plan = plan_import(text, form.key_field())
            except ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                if "_confirm" in request.POST and not upload:
                    return self._apply(request, plan)
                form = ContactImportForm(initial={"key": form.cleaned_data["key"], "content": text})
        context = {
            **self.admin_site.each_context(request),
            "title": "Import contacts from CSV",
            "opts": self.opts,
            "form": form,
            "plan": plan,
            "preview_rows": [
                (row, [row.values.get(column, "") for column in plan.columns])
                for row in (plan.rows[:500] if plan else [])
            ],
        }
        return TemplateResponse(request, "admin/events/contact/import.html", context)

    def _apply(self, request: HttpRequest, plan: Any) -> HttpResponse:
        result = apply_import(plan)
        level = messages.WARNING if result.errors else messages.SUCCESS
        errors = ""
        if result.errors:
            errors = " Not imported: " + "; ".join(
                f"line {row.line}: {row.error}" for row in result.errors[:20]
            )
            if len(result.errors) > 20:
                errors += f"; and {len(result.errors) - 20} more"
        self.message_user(
            request,
            f"Imported contacts: {result.created} created, {result.updated} updated.{errors}",
            level,
        )
        return HttpResponseRedirect(reverse("admin:events_contact_changelist"))


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "source", "received_at", "message_count", "error_count"]
    list_filter = ["source"]
    search_fields = ["=trigger_id", "=idempotency_key"]
    raw_id_fields = ["event", "credential"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    """Secrets never appear here, except once: right after create_api_user or a rotation."""

    list_display = ["username", "name", "is_active", "created_at", "last_used_at"]
    fields = ["name", "username", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["username", "created_at", "last_used_at"]
    actions = ["rotate_secrets"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(
        description="Rotate secret and token of selected API credentials (old ones stop working)",
        permissions=["change"],
    )
    def rotate_secrets(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        """Ask first; on confirmation rotate and show the new values on this one response.

        The values are in no URL, log or message: once this page is left they are gone, as with
        create_api_user. `no-store` keeps the browser from showing them again from its cache.
        """
        credentials = list(queryset.order_by("username"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "credentials": credentials,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        if request.POST.get("_confirm") != "rotate":
            context["title"] = "Rotate API credentials?"
            return TemplateResponse(request, "admin/api_credentials/rotate_confirm.html", context)
        with transaction.atomic():
            issued = [rotate_credential(credential) for credential in credentials]
            for credential in credentials:
                self.log_change(request, credential, "Rotated the WSSE secret and the token.")
        context["title"] = "New API secrets and tokens"
        context["issued"] = issued
        response = TemplateResponse(request, "admin/api_credentials/rotated.html", context)
        response["Cache-Control"] = "no-store"
        return response


# Integrations and automation programs (issue 6) register their admin in their own packages.
from events.integrations import admin as integrations_admin  # noqa: E402, F401
from events.programs import admin as programs_admin  # noqa: E402, F401
