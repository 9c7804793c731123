"""Admin → Sender domains: add a domain, see the exact records to publish, check them, rotate.

Private keys never appear here: the page shows the public key only, inside its DNS record.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from senders import key_storage
from senders.dns_checks import check_domain
from senders.dns_records import expected_records
from senders.keys import activate_pending, ensure_keys, start_rotation
from senders.models import DnsRecordCheck, SenderDomain


class SenderDomainForm(forms.ModelForm):
    vouch = forms.BooleanField(
        required=False,
        label="Verified by an operator",
        help_text="Let streams send from this domain without a passing DNS check (records "
        "managed where this app cannot see them). Say why in the note; it is kept.",
    )

    class Meta:
        model = SenderDomain
        fields = ["name", "return_path_domain", "mta_dkim_selector", "operator_note"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("vouch") and not (cleaned.get("operator_note") or "").strip():
            self.add_error("operator_note", "Say why this domain may send without a DNS check.")
        return cleaned


@admin.register(SenderDomain)
class SenderDomainAdmin(admin.ModelAdmin):
    form = SenderDomainForm
    list_display = ["name", "verification", "records_ok", "checked_at"]
    list_filter = ["verification", "records_ok"]
    search_fields = ["name"]
    actions = ["check_records", "rotate_keys", "activate_keys"]
    readonly_fields = ["verification", "verified_at", "checked_at", "records", "keys"]

    def get_fieldsets(self, request: HttpRequest, obj: SenderDomain | None = None):
        main = ["name", "return_path_domain", "mta_dkim_selector"]
        if obj is None:
            return [(None, {"fields": main})]
        verification = ["verification", "verified_at", "operator_note"]
        if self.has_change_permission(request, obj):
            # A form-only field: a read-only page has nothing to show for it.
            verification.insert(2, "vouch")
        return [
            (None, {"fields": main}),
            ("DNS records to publish", {"fields": ["records", "checked_at"]}),
            ("DKIM keys", {"fields": ["keys"]}),
            ("Verification", {"fields": verification}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: SenderDomain | None = None):
        # The name is what keys and records were made for: a new name is a new domain.
        return [*self.readonly_fields, "name"] if obj is not None else self.readonly_fields

    @admin.display(description="Records")
    def records(self, obj: SenderDomain) -> str:
        checks = {(check.kind, check.name): check for check in obj.record_checks.all()}
        rows = []
        for record in expected_records(obj):
            check = checks.get((record.kind, record.name))
            state = f"{check.get_status_display()}: {check.reason}" if check else "not checked yet"
            rows.append(
                (
                    DnsRecordCheck.Kind(record.kind).label,
                    "required" if record.required else "recommended",
                    record.zone_line(),
                    state,
                )
            )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code style='word-break:break-all'>{}</code></td>"
            "<td>{}</td></tr>",
            rows,
        )
        return format_html(
            "<table><thead><tr><th>Record</th><th></th><th>Publish (zone-file form)</th>"
            "<th>Last check</th></tr></thead><tbody>{}</tbody></table>"
            "<p>Or run <code>python manage.py dns_records {}</code>.</p>",
            body,
            obj.name,
        )

    @admin.display(description="Keys")
    def keys(self, obj: SenderDomain) -> str:
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (key.selector, key.get_algorithm_display(), key.get_state_display(),
                     key.created_at.strftime("%Y-%m-%d %H:%M"))
                    for key in obj.dkim_keys.all()
                ),
            ),
        )  # fmt: skip

    def save_model(self, request, obj: SenderDomain, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        ensure_keys(obj)
        if form.cleaned_data.get("vouch") and not obj.is_verified:
            obj.vouch(form.cleaned_data["operator_note"])

    @admin.action(description="Check DNS records now", permissions=["change"])
    def check_records(self, request: HttpRequest, queryset: QuerySet[SenderDomain]) -> None:
        for domain in queryset:
            checks = check_domain(domain)
            bad = [check for check in checks if check.required and check.status != "ok"]
            if bad:
                self.message_user(
                    request,
                    f"{domain.name}: " + "; ".join(f"{check}: {check.reason}" for check in bad),
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"{domain.name}: every required record is published.")

    @admin.action(
        description="Start a DKIM key rotation (new pending selector)", permissions=["change"]
    )
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[SenderDomain]) -> None:
        for domain in queryset:
            key = start_rotation(domain, key_storage.RSA)
            self.message_user(
                request,
                f"{domain.name}: publish {key.record_name} (shown on the domain's page), check "
                "DNS, then activate the pending key.",
            )

    @admin.action(description="Activate the pending DKIM key", permissions=["change"])
    def activate_keys(self, request: HttpRequest, queryset: QuerySet[SenderDomain]) -> None:
        for domain in queryset:
            try:
                key = activate_pending(domain, key_storage.RSA)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"{domain.name}: {key.selector} signs from now on.")
