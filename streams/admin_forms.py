"""Forms of the marketers' admin for campaigns and mail streams."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from senders.sender_addresses import verified_domain_names
from streams.attachments import describe_upload
from streams.models import (
    EmailCampaign,
    MailStream,
    StreamAttachment,
    default_retention_days,
    sender_domain_allowed,
    sender_problem,
)
from streams.publishing import content_of
from streams.rendering import syntax_problems
from streams.sanitizing import clean_template_html
from streams.template_tokens import TokenRoundTripError
from triggered_email.json_form_fields import StorableJSONField

CODE_WIDGET = {"rows": 18, "cols": 80, "spellcheck": "false", "class": "te-code"}


def normalise_newlines(value: str) -> str:
    # Browsers submit textareas with CRLF; templates are stored with LF.
    return value.replace("\r\n", "\n").replace("\r", "\n")


def checked_html(value: str) -> str:
    """The HTML as typed, after making sure cleaning can keep its template syntax."""
    value = normalise_newlines(value)
    try:
        clean_template_html(value)
    except (TokenRoundTripError, ValueError) as exc:
        raise ValidationError(str(exc)) from exc
    return value


def check_sender(address: str) -> str:
    if address and not sender_domain_allowed(address):
        raise ValidationError(sender_problem(address))
    return address


class EmailCampaignForm(forms.ModelForm):
    class Meta:
        model = EmailCampaign
        fields = ["name", "subject", "sender_name", "sender_email", "html", "text"]
        widgets = {
            "html": forms.Textarea(attrs=CODE_WIDGET),
            "text": forms.Textarea(attrs={**CODE_WIDGET, "rows": 10}),
        }

    def clean_html(self) -> str:
        return checked_html(self.cleaned_data["html"])

    def clean_text(self) -> str:
        return normalise_newlines(self.cleaned_data["text"])


class CopyCampaignForm(forms.Form):
    """Copy a campaign into a new draft mail stream."""

    event = forms.ModelChoiceField(
        queryset=None,
        help_text="The external event whose triggers will send the new stream.",
    )
    name = forms.CharField(max_length=200, help_text="The new stream's name.")
    sender_email = forms.EmailField(
        help_text="Sender address; must be on a dedicated sender domain.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event"].queryset = MailStream._meta.get_field("event").related_model.objects
        domains = ", ".join(verified_domain_names())
        self.fields[
            "sender_email"
        ].help_text = f"Must be on a verified sender domain: {domains or 'none is verified yet'}."

    def clean_sender_email(self) -> str:
        return check_sender(self.cleaned_data["sender_email"])


class MailStreamForm(forms.ModelForm):
    """The stream's settings plus its draft content (the version being edited)."""

    subject = forms.CharField(
        max_length=998,
        widget=forms.TextInput(attrs={"class": "vLargeTextField"}),
        help_text="Template syntax works here too: Your order #{{ event.order_id }}",
    )
    html_source = forms.CharField(
        label="HTML",
        required=False,
        # data-editor: the stream editor's bundle enhances it (static/streams/editor/).
        widget=forms.Textarea(attrs={**CODE_WIDGET, "data-editor": "html"}),
        help_text="Cleaned when saved: scripts, event handlers and javascript: links are "
        "removed. Event data is escaped; use {{ event.x|safe_html }} for data meant as HTML.",
    )
    text = forms.CharField(
        label="Text",
        required=False,
        widget=forms.Textarea(attrs={**CODE_WIDGET, "rows": 10, "data-editor": "text"}),
    )

    class Meta:
        model = MailStream
        fields = [
            "name",
            "event",
            "kind",
            "lane",
            "sender_name",
            "sender_email",
            "reply_to",
            "pause_policy",
            "require_attachment",
            "track_opens",
            "track_clicks",
            "esp_message_stream",
            "retention_days",
            "sample_data",
            "sample_contact",
        ]
        # Sample data is stored in JSON columns: NaN, 1e999, U+0000 or deep nesting is a form
        # error here, not a 500 from the database on save.
        field_classes = {"sample_data": StorableJSONField, "sample_contact": StorableJSONField}
        widgets = {
            "sample_data": forms.Textarea(attrs={**CODE_WIDGET, "rows": 8}),
            "sample_contact": forms.Textarea(attrs={**CODE_WIDGET, "rows": 5}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        content = content_of(self.instance) if self.instance.pk else None
        if content is not None:
            self.initial.setdefault("subject", content.subject)
            self.initial.setdefault("html_source", content.html_source)
            self.initial.setdefault("text", content.text)
        self.fields["lane"].help_text = "Broadcast streams always run on the bulk lane."
        # Left empty (a form posted without it, a client that drops it): the installation's
        # default, as for a stream made any other way.
        self.fields["retention_days"].required = False

    def clean_html_source(self) -> str:
        return checked_html(self.cleaned_data["html_source"])

    def clean_text(self) -> str:
        return normalise_newlines(self.cleaned_data["text"])

    def clean_subject(self) -> str:
        return " ".join(self.cleaned_data["subject"].split())

    def clean_retention_days(self) -> int:
        days = self.cleaned_data.get("retention_days")
        return default_retention_days() if days is None else days

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            not (cleaned.get("html_source") or "").strip()
            and not (cleaned.get("text") or "").strip()
        ):
            raise ValidationError("Write the HTML or the text of the email (or both).")
        problems = syntax_problems(
            cleaned.get("subject") or "",
            cleaned.get("html_source") or "",
            cleaned.get("text") or "",
        )
        for part, problem in problems.items():
            field = {"subject": "subject", "html": "html_source", "text": "text"}[part]
            if field not in self.errors:
                self.add_error(field, str(problem))
        for name in ("sample_data", "sample_contact"):
            value = cleaned.get(name)
            if value is None and name not in self.errors:
                cleaned[name] = {}
            elif value is not None and not isinstance(value, dict):
                self.add_error(name, "Must be a JSON object ({…}).")
        return cleaned


class StreamAttachmentForm(forms.ModelForm):
    """Upload a static file; its name, type and size are taken from the upload."""

    class Meta:
        model = StreamAttachment
        fields = ["file"]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload and hasattr(upload, "size") and "file" in self.changed_data:
            describe_upload(self.instance, upload.name, upload.size)
        return upload


class SendTestForm(forms.Form):
    to = forms.EmailField(label="Send to", help_text="The address that receives the test.")
    version = forms.ChoiceField(
        choices=[
            ("draft", "the saved draft (or, without one, the current version)"),
            ("current", "the current (published) version"),
        ],
        initial="draft",
    )
