"""Integrations in the admin: presets fill the mapping, secrets are write-only and rotate, the
page shows the webhook URL and the calls received."""

import pytest

from events.models import Integration, IntegrationCall
from tests.hooks_support import make_integration

pytestmark = pytest.mark.django_db


def integration_form(event, **fields):
    form = {
        "name": "Shop",
        "slug": "shop",
        "event": str(event.pk),
        "is_enabled": "on",
        "preset": "custom",
        "verification": "hmac_hex",
        "signature_header": "X-Signature",
        "tolerance_seconds": "300",
        "recipient_key": "email",
        "unknown_recipient": "create",
    }
    form.update(fields)
    return form


def test_shopify_preset_fills_in_the_mapping(admin_client, make_event):
    event = make_event("order")

    response = admin_client.post(
        "/admin/events/integration/add/",
        integration_form(event, preset="shopify_order", new_secret="shpss_abc"),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    integration = Integration.objects.get()
    assert integration.verification == Integration.Verification.SHOPIFY
    assert integration.recipient_path == "email|customer.email|contact_email"
    assert integration.trigger_id_path == "id"
    assert integration.secret == "shpss_abc"


def test_a_new_secret_keeps_the_old_one_valid_until_forgotten(admin_client, make_event):
    integration = make_integration(
        make_event("order"), slug="shop", secret="old-secret", recipient_path="email"
    )
    url = f"/admin/events/integration/{integration.pk}/change/"
    form = integration_form(integration.event, recipient_path="email")

    admin_client.post(url, {**form, "new_secret": "new-secret"})
    integration.refresh_from_db()
    assert (integration.secret, integration.previous_secret) == ("new-secret", "old-secret")

    admin_client.post(url, {**form, "forget_previous_secret": "on"})
    integration.refresh_from_db()
    assert (integration.secret, integration.previous_secret) == ("new-secret", "")


def test_a_new_integration_needs_a_secret(admin_client, make_event):
    response = admin_client.post(
        "/admin/events/integration/add/", integration_form(make_event(), recipient_path="email")
    )

    assert response.status_code == 200
    assert "Paste the secret the sender signs its calls with." in response.content.decode()


def test_page_shows_the_url_and_recent_calls_but_never_the_secret(admin_client, make_event):
    integration = make_integration(
        make_event(), slug="shop", secret="do-not-show-me", recipient_path="email"
    )
    IntegrationCall.objects.create(
        integration=integration,
        outcome=IntegrationCall.Outcome.NO_RECIPIENT,
        http_status=400,
        detail="No recipient found at customer.email in the body",
    )

    html = admin_client.get(f"/admin/events/integration/{integration.pk}/change/").content
    html = html.decode()

    assert "/hooks/shop/" in html
    assert "No recipient found at customer.email in the body" in html
    assert "do-not-show-me" not in html
