"""Ready mappings for well-known senders, so setting up Shopify or Stripe is choosing a preset and
pasting the secret. Field names follow the senders' documented payloads."""

from __future__ import annotations

from typing import Any

from events.integrations.models import Integration

Preset = Integration.Preset
Verification = Integration.Verification

PRESETS: dict[str, dict[str, Any]] = {
    # Shopify order topics (orders/create, orders/paid, orders/fulfilled …): one subscription per
    # topic, so no type filter. The order's `email` can be empty (POS orders); customer.email
    # then often has it.
    Preset.SHOPIFY_ORDER: {
        "verification": Verification.SHOPIFY,
        "event_type_path": "",
        "accepted_types": "",
        "recipient_path": "email|customer.email|contact_email",
        "recipient_key": Integration.RecipientKey.EMAIL,
        "trigger_id_path": "id",
        "data_paths": "",
        "email_path": "",
        "first_name_path": "customer.first_name|billing_address.first_name",
        "last_name_path": "customer.last_name|billing_address.last_name",
    },
    # A Stripe endpoint may be subscribed to many types: take only the one this preset maps.
    Preset.STRIPE_CHECKOUT: {
        "verification": Verification.STRIPE,
        "event_type_path": "type",
        "accepted_types": "checkout.session.completed",
        "recipient_path": "data.object.customer_details.email|data.object.customer_email",
        "recipient_key": Integration.RecipientKey.EMAIL,
        "trigger_id_path": "data.object.id",
        "data_paths": "\n".join(
            [
                "session_id = data.object.id",
                "amount_total = data.object.amount_total",
                "amount_subtotal = data.object.amount_subtotal",
                "currency = data.object.currency",
                "payment_status = data.object.payment_status",
                "customer_name = data.object.customer_details.name",
                "customer_email = data.object.customer_details.email",
                "client_reference_id = data.object.client_reference_id",
                "metadata = data.object.metadata",
                "stripe_event_id = id",
                "session = data.object",
            ]
        ),
        "email_path": "",
        "first_name_path": "",
        "last_name_path": "",
    },
    Preset.STRIPE_INVOICE: {
        "verification": Verification.STRIPE,
        "event_type_path": "type",
        "accepted_types": "invoice.paid",
        "recipient_path": "data.object.customer_email",
        "recipient_key": Integration.RecipientKey.EMAIL,
        "trigger_id_path": "data.object.id",
        "data_paths": "\n".join(
            [
                "invoice_id = data.object.id",
                "invoice_number = data.object.number",
                "amount_paid = data.object.amount_paid",
                "currency = data.object.currency",
                "customer_name = data.object.customer_name",
                "hosted_invoice_url = data.object.hosted_invoice_url",
                "invoice_pdf = data.object.invoice_pdf",
                "stripe_event_id = id",
                "invoice = data.object",
            ]
        ),
        "email_path": "",
        "first_name_path": "",
        "last_name_path": "",
    },
}


def apply_preset(integration: Integration, preset: str) -> Integration:
    """Fill in the verification and mapping fields for `preset` (not saved; custom changes
    nothing)."""
    integration.preset = preset
    for name, value in PRESETS.get(preset, {}).items():
        setattr(integration, name, value)
    return integration
