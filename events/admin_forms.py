"""Forms of the events admin: contact import and test triggers."""

from __future__ import annotations

from typing import Any

from django import forms

from events.contacts import KeyField
from triggered_email.json_form_fields import parse_storable_json


class ContactImportForm(forms.Form):
    file = forms.FileField(
        required=False,
        help_text="CSV with a header line (UTF-8; comma, semicolon or tab separated). Columns: "
        "email, external_id, first_name, last_name, opt_in, and any further fields.",
    )
    key = forms.ChoiceField(
        label="Match contacts by",
        choices=[(KeyField.EMAIL.value, "email"), (KeyField.EXTERNAL_ID.value, "external_id")],
        initial=KeyField.EMAIL.value,
    )
    # The file's text, carried from the preview to the confirmation.
    content = forms.CharField(required=False, widget=forms.HiddenInput)

    def key_field(self) -> KeyField:
        return KeyField(self.cleaned_data["key"])


class TestTriggerForm(forms.Form):
    email = forms.EmailField(
        help_text="Sent to this address. If a contact has it, the contact's data is used.",
    )
    data = forms.CharField(
        label="Event data (JSON)",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "te-code"}),
        initial="{}",
        help_text="What a client would send as `data`.",
    )

    def clean_data(self) -> dict[str, Any]:
        raw = self.cleaned_data["data"].strip() or "{}"
        # Stored as the message's data: refuse what the JSON column would refuse with a 500.
        value = parse_storable_json(raw)
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object ({…}).")
        return value
