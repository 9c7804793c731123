"""Stripe events (checkout.session.completed, invoice.paid) trigger streams; signatures are
checked with Stripe's scheme, including its replay tolerance and secret rolling."""

import json
import time

import pytest

from delivery.models import Message
from events.models import Integration, IntegrationCall, Trigger
from tests.hooks_support import make_integration, payload, post_hook, stripe_signature

pytestmark = pytest.mark.django_db

SECRET = "whsec_3kLq9Vb3Xk7Zp2Rt5Wy8Nc4Md6Fh0Gj1"
CHECKOUT = payload("stripe_checkout_session_completed.json")
INVOICE = payload("stripe_invoice_paid.json")


@pytest.fixture
def checkout(make_event, make_stream):
    event = make_event("payment_received")
    stream = make_stream(
        event,
        name="Payment received",
        subject="Payment received: {{ event.metadata.order_id }}",
        html="<p>Thanks {{ event.customer_name }}</p>",
        text="{{ event.customer_name }} paid {{ event.amount_total }} {{ event.currency }} "
        "({{ event.payment_status }}) in session {{ event.session_id }}",
    )
    integration = make_integration(
        event, Integration.Preset.STRIPE_CHECKOUT, slug="stripe-checkout", secret=SECRET
    )
    return integration, stream


def deliver(client, capture, body=CHECKOUT, slug="stripe-checkout", **headers):
    headers.setdefault("Stripe-Signature", stripe_signature([SECRET], body))
    return post_hook(client, capture, slug, body, **headers)


def test_checkout_session_completed_sends_the_stream_with_the_session_data(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    _, stream = checkout

    response = deliver(client, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    [mail] = smtp_server.wait_for(1)
    # Stripe's address keeps the case the buyer typed; the contact database stores it lowered.
    assert mail.rcpt_tos == ["max.mustermann@example.org"]
    assert mail.message["Subject"] == "Payment received: A-9001"
    assert mail.part("text/plain").strip() == (
        "Max Mustermann paid 4900 eur (paid) in session "
        "cs_test_a1Lq9Vb3Xk7Zp2Rt5Wy8Nc4Md6Fh0Gj1Ks3Ep5Ti7Uo9Ya2Bc"
    )
    message = Message.objects.get()
    assert message.stream == stream
    assert message.data["stripe_event_id"] == "evt_1QpB7aL2kS9vXy3ZfG4hJ8mN"
    assert message.data["session"]["mode"] == "payment"
    assert message.client_trigger_id == "cs_test_a1Lq9Vb3Xk7Zp2Rt5Wy8Nc4Md6Fh0Gj1Ks3Ep5Ti7Uo9Ya2Bc"


def test_invoice_paid_preset_sends_to_the_invoice_customer(
    client, django_capture_on_commit_callbacks, smtp_server, make_event, make_stream
):
    event = make_event("invoice_paid")
    make_stream(
        event,
        name="Invoice paid",
        subject="Invoice {{ event.invoice_number }} paid",
        html="<a href='{{ event.hosted_invoice_url }}'>invoice</a>",
        text="{{ event.amount_paid }} {{ event.currency }} for {{ event.customer_name }}",
    )
    make_integration(
        event, Integration.Preset.STRIPE_INVOICE, slug="stripe-invoices", secret=SECRET
    )

    response = deliver(client, django_capture_on_commit_callbacks, INVOICE, "stripe-invoices")

    assert response.status_code == 200, response.content
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["erika@example.org"]
    assert mail.message["Subject"] == "Invoice EXMP-0042 paid"
    assert mail.part("text/plain").strip() == "1900 eur for Erika Musterfrau"


def test_signature_older_than_the_tolerance_is_refused_as_a_replay(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    integration, _ = checkout
    old = int(time.time()) - integration.tolerance_seconds - 30

    response = deliver(
        client,
        django_capture_on_commit_callbacks,
        **{"Stripe-Signature": stripe_signature([SECRET], CHECKOUT, timestamp=old)},
    )

    assert response.status_code == 401
    assert "tolerance" in response.json()["detail"]
    assert not Trigger.objects.exists()
    assert smtp_server.received == []


def test_signature_within_the_tolerance_is_accepted(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    integration, _ = checkout
    recent = int(time.time()) - integration.tolerance_seconds + 30

    response = deliver(
        client,
        django_capture_on_commit_callbacks,
        **{"Stripe-Signature": stripe_signature([SECRET], CHECKOUT, timestamp=recent)},
    )

    assert response.status_code == 200
    smtp_server.wait_for(1)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "t=1741080093",
        f"t={int(time.time())},v1=" + "0" * 64,
        stripe_signature(["whsec_not_ours"], CHECKOUT),
    ],
    ids=["missing", "no-v1", "zeros", "other-secret"],
)
def test_missing_or_wrong_stripe_signature_is_refused(
    client, django_capture_on_commit_callbacks, smtp_server, checkout, header
):
    headers = {} if header is None else {"Stripe-Signature": header}

    response = post_hook(
        client, django_capture_on_commit_callbacks, "stripe-checkout", CHECKOUT, **headers
    )

    assert response.status_code == 401
    assert not Message.objects.exists()
    assert IntegrationCall.objects.get().outcome == IntegrationCall.Outcome.BAD_SIGNATURE


def test_rolled_secret_accepts_old_and_new_signatures(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    integration, _ = checkout
    integration.previous_secret, integration.secret = SECRET, "whsec_new_after_roll"
    integration.save()
    second = json.loads(CHECKOUT)
    second["data"]["object"]["id"] = "cs_test_second"
    second_body = json.dumps(second).encode()

    # Stripe signs with both secrets while rolling; a sender may still use only the old one.
    both = deliver(
        client,
        django_capture_on_commit_callbacks,
        **{"Stripe-Signature": stripe_signature(["whsec_new_after_roll", SECRET], CHECKOUT)},
    )
    old_only = deliver(
        client,
        django_capture_on_commit_callbacks,
        second_body,
        **{"Stripe-Signature": stripe_signature([SECRET], second_body)},
    )

    assert both.status_code == old_only.status_code == 200
    assert Message.objects.count() == 2


def test_other_event_types_are_acknowledged_but_send_nothing(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    expired = json.loads(CHECKOUT)
    expired["type"] = "checkout.session.expired"
    body = json.dumps(expired).encode()

    response = deliver(client, django_capture_on_commit_callbacks, body)

    # 2xx: otherwise Stripe would retry an event this integration never wants for days.
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert not Message.objects.exists()
    assert IntegrationCall.objects.get().outcome == IntegrationCall.Outcome.IGNORED


def test_stripe_retrying_the_same_event_sends_once(
    client, django_capture_on_commit_callbacks, smtp_server, checkout
):
    deliver(client, django_capture_on_commit_callbacks)
    retry = deliver(client, django_capture_on_commit_callbacks)

    assert retry.json()["outcome"] == "duplicate"
    assert Message.objects.count() == 1
