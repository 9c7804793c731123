"""A Shopify store's orders/create webhook triggers the order confirmation, signed and once."""

import pytest

from delivery.models import Message
from events.models import Contact, Integration, IntegrationCall, Trigger
from tests.hooks_support import make_integration, payload, post_hook, shopify_signature

pytestmark = pytest.mark.django_db

SECRET = "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"
ORDER = payload("shopify_orders_create.json")
HTML = """<html><body><p>Hallo {{ contact.first_name }},</p>
<ul>{% for item in event.line_items %}<li>{{ item.quantity }} × {{ item.title }}</li>{% endfor %}
</ul><p>Total {{ event.total_price }} {{ event.currency }}</p></body></html>"""
TEXT = (
    "Order {{ event.name }}:{% for item in event.line_items %} {{ item.quantity }}x "
    "{{ item.title }}{% endfor %}; total {{ event.total_price }} {{ event.currency }}"
)


@pytest.fixture
def shop(make_event, make_stream):
    event = make_event("shopify_order_created")
    stream = make_stream(event, subject="Your order {{ event.name }}", html=HTML, text=TEXT)
    integration = make_integration(
        event, Integration.Preset.SHOPIFY_ORDER, slug="shopify-orders", secret=SECRET
    )
    return integration, stream


def deliver(client, capture, body=ORDER, secret=SECRET, **headers):
    headers.setdefault("X-Shopify-Hmac-Sha256", shopify_signature(secret, body))
    headers.setdefault("X-Shopify-Topic", "orders/create")
    headers.setdefault("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    return post_hook(client, capture, "shopify-orders", body, **headers)


def test_order_webhook_sends_the_order_confirmation_with_the_order_data(
    client, django_capture_on_commit_callbacks, smtp_server, shop
):
    _, stream = shop

    response = deliver(client, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "accepted"
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["jane.doe@example.org"]
    assert mail.message["Subject"] == "Your order #1042"
    assert mail.part("text/plain").strip() == (
        "Order #1042: 2x Espresso beans 1x Milk frother; total 59.70 EUR"
    )
    html = mail.part("text/html")
    assert "Hallo Jane," in html
    assert "2 × Espresso beans" in html
    message = Message.objects.get()
    assert message.stream == stream
    assert message.data["id"] == 5745287168161
    assert message.client_trigger_id == "5745287168161"
    assert message.trigger.source == Trigger.Source.INTEGRATION


def test_first_time_buyer_becomes_a_contact_named_from_the_order(
    client, django_capture_on_commit_callbacks, smtp_server, shop
):
    assert not Contact.objects.exists()

    deliver(client, django_capture_on_commit_callbacks)

    contact = Contact.objects.get()
    assert (contact.email, contact.first_name, contact.last_name) == (
        "jane.doe@example.org",
        "Jane",
        "Doe",
    )
    assert Message.objects.get().contact == contact


def test_existing_contact_is_used_and_not_changed(
    client, django_capture_on_commit_callbacks, smtp_server, shop, make_contact
):
    contact = make_contact("jane.doe@example.org", first_name="Janet", last_name="")

    deliver(client, django_capture_on_commit_callbacks)

    assert Contact.objects.count() == 1
    contact.refresh_from_db()
    assert contact.first_name == "Janet"
    assert "Hallo Janet," in smtp_server.wait_for(1)[0].part("text/html")


def test_shopify_retrying_the_same_order_sends_once(
    client, django_capture_on_commit_callbacks, smtp_server, shop
):
    first = deliver(client, django_capture_on_commit_callbacks)
    smtp_server.wait_for(1)
    # Shopify retries when it saw no answer in time: same body, same order id.
    second = deliver(client, django_capture_on_commit_callbacks)
    third = deliver(client, django_capture_on_commit_callbacks)

    assert first.json()["outcome"] == "accepted"
    assert second.status_code == third.status_code == 200
    assert second.json()["outcome"] == third.json()["outcome"] == "duplicate"
    assert Message.objects.count() == 1
    assert Contact.objects.count() == 1
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no signature at all
        {"X-Shopify-Hmac-Sha256": shopify_signature("shpss_someone_else", ORDER)},
        {"X-Shopify-Hmac-Sha256": "not base64!"},
    ],
    ids=["missing", "wrong-secret", "garbage"],
)
def test_unsigned_or_wrongly_signed_order_is_refused_and_triggers_nothing(
    client, django_capture_on_commit_callbacks, smtp_server, shop, headers
):
    headers = {"X-Shopify-Topic": "orders/create", **headers}
    if "X-Shopify-Hmac-Sha256" not in headers:
        response = post_hook(client, django_capture_on_commit_callbacks, "shopify-orders", ORDER)
    else:
        response = deliver(client, django_capture_on_commit_callbacks, **headers)

    assert response.status_code == 401
    assert response.json()["outcome"] == "bad_signature"
    assert not Trigger.objects.exists()
    assert not Message.objects.exists()
    assert not Contact.objects.exists()
    assert smtp_server.received == []


def test_tampered_body_with_the_original_signature_is_refused(
    client, django_capture_on_commit_callbacks, smtp_server, shop
):
    tampered = ORDER.replace(b"jane.doe@example.org", b"mallory@example.net")

    response = deliver(
        client,
        django_capture_on_commit_callbacks,
        body=tampered,
        **{"X-Shopify-Hmac-Sha256": shopify_signature(SECRET, ORDER)},
    )

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_every_call_is_logged_on_the_integration(
    client, django_capture_on_commit_callbacks, smtp_server, shop
):
    integration, _ = shop
    deliver(client, django_capture_on_commit_callbacks)
    deliver(client, django_capture_on_commit_callbacks)
    deliver(client, django_capture_on_commit_callbacks, secret="wrong")

    calls = list(integration.calls.order_by("id"))
    assert [(c.outcome, c.http_status) for c in calls] == [
        (IntegrationCall.Outcome.ACCEPTED, 200),
        (IntegrationCall.Outcome.DUPLICATE, 200),
        (IntegrationCall.Outcome.BAD_SIGNATURE, 401),
    ]
    assert calls[0].trigger == Message.objects.get().trigger
    assert calls[0].recipient == "jane.doe@example.org"
    assert calls[0].client_trigger_id == "5745287168161"
    # Bodies of unverified calls are not kept.
    assert calls[2].body_excerpt == ""
