"""Hostile calls to /hooks/<slug>/ get a 4xx with a text saying what is wrong, never a 5xx,
and leave no trigger behind."""

import pytest

from delivery.models import Message
from events.json_bodies import MAX_JSON_DEPTH
from events.models import Integration, IntegrationCall, Trigger
from tests.hooks_support import make_integration, post_hook, stripe_signature

pytestmark = pytest.mark.django_db

SECRET = "whsec_3kLq9Vb3Xk7Zp2Rt5Wy8Nc4Md6Fh0Gj1"


@pytest.fixture
def stripe(make_event, make_stream):
    event = make_event("payment_received")
    make_stream(event, name="Payment received")
    return make_integration(
        event, Integration.Preset.STRIPE_CHECKOUT, slug="stripe-checkout", secret=SECRET
    )


def checkout_body(total: str = "4900") -> bytes:
    return (
        '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": '
        '{"id": "cs_1", "customer_details": {"email": "max@example.org"}, '
        f'"amount_total": {total}}}}}}}'
    ).encode()


def answer(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["outcome"], body["detail"]


def assert_nothing_triggered():
    assert Trigger.objects.count() == 0 and Message.objects.count() == 0


@pytest.mark.parametrize("timestamp", ["\u00b2", "9" * 400])
def test_a_stripe_timestamp_that_is_not_ascii_digits_is_a_bad_signature(
    client, django_capture_on_commit_callbacks, stripe, timestamp
):
    response = post_hook(
        client,
        django_capture_on_commit_callbacks,
        "stripe-checkout",
        checkout_body(),
        **{"Stripe-Signature": f"t={timestamp},v1=00"},
    )

    status, outcome, detail = answer(response)
    assert (status, outcome) == (401, IntegrationCall.Outcome.BAD_SIGNATURE)
    assert "Stripe-Signature" in detail
    assert_nothing_triggered()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_a_signed_body_are_refused_naming_the_key(
    client, django_capture_on_commit_callbacks, stripe, literal
):
    body = checkout_body(literal)

    response = post_hook(
        client,
        django_capture_on_commit_callbacks,
        "stripe-checkout",
        body,
        **{"Stripe-Signature": stripe_signature([SECRET], body)},
    )

    status, outcome, detail = answer(response)
    assert (status, outcome) == (400, IntegrationCall.Outcome.INVALID_BODY)
    assert "data.object.amount_total" in detail
    assert_nothing_triggered()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 10_000])
def test_deeply_nested_signed_bodies_are_refused_with_the_limit(
    client, django_capture_on_commit_callbacks, stripe, depth
):
    body = ('{"type": "x", "deep": ' + "[" * depth + "]" * depth + "}").encode()

    response = post_hook(
        client,
        django_capture_on_commit_callbacks,
        "stripe-checkout",
        body,
        **{"Stripe-Signature": stripe_signature([SECRET], body)},
    )

    status, outcome, detail = answer(response)
    assert (status, outcome) == (400, IntegrationCall.Outcome.INVALID_BODY)
    assert f"more than {MAX_JSON_DEPTH} levels" in detail


def test_a_chunked_body_without_content_length_gets_411(client, stripe):
    body = checkout_body()
    response = client.generic(
        "POST",
        "/hooks/stripe-checkout/",
        body,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_STRIPE_SIGNATURE=stripe_signature([SECRET], body),
    )

    status, outcome, detail = answer(response)
    assert (status, outcome) == (411, "length_required")
    assert "Content-Length" in detail
    assert_nothing_triggered()


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_get_405_saying_to_post(client, stripe, method):
    response = getattr(client, method)("/hooks/stripe-checkout/")

    status, outcome, detail = answer(response)
    assert (status, outcome) == (405, "method_not_allowed")
    assert "POST" in detail and response["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/hooks/caf\u00e9/", "/hooks/", "/hooks/a/b/c", "/hooks/x"])
def test_unknown_hook_urls_answer_404_in_json(client, path):
    response = client.post(path, data=b"{}", content_type="application/json")

    status, outcome, detail = answer(response)
    assert (status, outcome) == (404, "not_found")
    assert "No integration at this URL" in detail
