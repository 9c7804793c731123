"""Status webhooks reach a real HTTP endpoint signed the Standard Webhooks way; answers decide
what happens next (delivered, retried on the schedule, failed), and every attempt is recorded."""

from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from status_webhooks.dispatching import dispatch
from status_webhooks.http_requests import Answer
from status_webhooks.lane import beat
from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from status_webhooks.sending import claim, deliver, record
from status_webhooks.subscriptions import create_subscription

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
SVIX = [5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.fixture
def subscribed(webhook_receiver):
    return create_subscription(webhook_receiver.url, allow_private=True, name="shop")


@pytest.fixture
def sent_order(api, smtp_server, make_stream, make_contact):
    """An order confirmation triggered through the API and sent: one `sent` delivery event."""
    stream = make_stream()
    make_contact("jane@example.org")
    reply = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {
            "key_id": "3",
            "external_id": "jane@example.org",
            "trigger_id": "order-17",
            "data": {"order_id": "17"},
        },
    )
    assert reply.json()["replyCode"] == 0
    smtp_server.wait_for(1)
    return stream


def test_a_sent_message_is_posted_signed_and_verifies_with_the_library(
    subscribed, webhook_receiver, sent_order
):
    beat()

    [request] = webhook_receiver.wait_for(1)
    body = Webhook(subscribed.secret).verify(request.body, request.headers)
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["webhook-id"] == body["id"]
    assert body["type"] == "message.sent"
    assert set(body) == {"id", "type", "created_at", "data"}
    data = body["data"]
    assert data["recipient"] == "jane@example.org"
    assert data["trigger_id"] == "order-17"
    assert data["stream"] == {"id": sent_order.pk, "name": sent_order.name}
    assert data["event"] == {"id": sent_order.event_id}
    assert isinstance(data["message_id"], int) and isinstance(data["trigger"], int)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED
    [attempt] = delivery.attempt_log.all()
    assert attempt.response_status == 200 and attempt.response_excerpt == "answer 200"


def test_a_wrong_secret_does_not_verify(subscribed, webhook_receiver, sent_order):
    beat()
    [request] = webhook_receiver.wait_for(1)
    other = WebhookSubscription(url="https://x.example").secret  # a fresh, different secret
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_retries_follow_the_schedule_until_a_2xx(subscribed, webhook_receiver, sent_order):
    webhook_receiver.script((500, 0), (429, 0), (503, 0))
    beat()
    delivery = WebhookDelivery.objects.get()
    for attempt_number, delay in enumerate(SVIX[:3], start=1):
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING
        assert delivery.attempts == attempt_number
        waited = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert delay - 2 < waited <= delay
        deliver(delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert [a.response_status for a in delivery.attempt_log.all()] == [500, 429, 503, 200]
    ids = {r.headers["webhook-id"] for r in webhook_receiver.wait_for(4)}
    assert ids == {delivery.webhook_id}, "every retry carries the same webhook-id"


def test_the_schedule_ends_in_failure(subscribed, webhook_receiver, sent_order):
    webhook_receiver.default = (502, 0)
    beat()
    delivery = WebhookDelivery.objects.get()
    for _ in SVIX:
        deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == len(SVIX) + 1
    assert "gave up after 8 attempts" in delivery.last_error
    assert delivery.attempt_log.last().outcome == WebhookAttempt.Outcome.GAVE_UP
    assert deliver(delivery.pk) is None, "a failed delivery is not attempted again by itself"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_fails_at_once(subscribed, webhook_receiver, sent_order, status):
    webhook_receiver.script((status, 0))
    beat()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 1
    assert f"HTTP {status}" in delivery.last_error


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 301, 307])
def test_these_answers_are_retried(subscribed, webhook_receiver, sent_order, status):
    webhook_receiver.script((status, 0))
    beat()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.attempt_log.get().outcome == WebhookAttempt.Outcome.RETRY
    # A redirect's Location (cloud metadata here) is never followed.
    assert len(webhook_receiver.received) == 1


def test_an_endpoint_that_never_answers_times_out_and_is_retried(
    settings, subscribed, webhook_receiver, sent_order
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    webhook_receiver.script((200, None))
    started = timezone.now()
    beat()
    assert (timezone.now() - started).total_seconds() < 3
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    attempt = delivery.attempt_log.get()
    assert attempt.response_status is None
    assert "no answer within 0.5 s" in attempt.error
    assert 400 <= attempt.duration_ms < 2500


def test_a_long_answer_is_recorded_truncated(subscribed, sent_order):
    dispatch()
    delivery = claim(WebhookDelivery.objects.get().pk, timezone.now())
    record(delivery, Answer(500, "x" * 5000, 12), WebhookAttempt.Outcome.RETRY, timezone.now())
    attempt = WebhookAttempt.objects.get()
    assert len(attempt.response_excerpt) == 1000


def test_five_days_of_failures_disable_the_subscription(subscribed, webhook_receiver, sent_order):
    webhook_receiver.default = (500, 0)
    WebhookSubscription.objects.filter(pk=subscribed.pk).update(
        failing_since=timezone.now() - timedelta(days=5, minutes=1)
    )
    beat()
    subscribed.refresh_from_db()
    assert not subscribed.enabled
    assert subscribed.disabled_at is not None
    assert "failed for 5 days" in subscribed.disabled_reason


def test_a_success_clears_the_failing_streak(subscribed, webhook_receiver, sent_order):
    webhook_receiver.script((500, 0))
    beat()
    subscribed.refresh_from_db()
    assert subscribed.failing_since is not None
    deliver(WebhookDelivery.objects.get().pk)
    subscribed.refresh_from_db()
    assert subscribed.failing_since is None and subscribed.enabled


def test_a_disabled_subscription_gets_nothing(subscribed, webhook_receiver, sent_order):
    WebhookSubscription.objects.filter(pk=subscribed.pk).update(enabled=False)
    beat()
    assert not WebhookDelivery.objects.exists()
    assert webhook_receiver.received == []
