"""Status webhooks are delivered by a lane of their own (a real django-q2 cluster), never by the
send lanes' workers; a worker that dies mid-attempt loses nothing."""

import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from delivery.models import DeliveryEvent, Message
from status_webhooks.lane import beat
from status_webhooks.models import WebhookDelivery
from status_webhooks.sending import claim, deliver
from status_webhooks.subscriptions import create_subscription
from tests.conftest import wait_until


def post_json(url: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.qcluster
def test_only_the_webhook_lane_delivers_status_webhooks(
    live_server,
    start_qcluster,
    smtp_server,
    webhook_receiver,
    credential,
    make_stream,
    make_contact,
):
    stream = make_stream()
    make_contact("jane@example.org")
    subscription = create_subscription(webhook_receiver.url, allow_private=True)
    smtp_env = {
        "TRIGGERED_EMAIL_SMTP_HOST": smtp_server.host,
        "TRIGGERED_EMAIL_SMTP_PORT": str(smtp_server.port),
    }
    start_qcluster("transactional", **smtp_env)
    reply = post_json(
        f"{live_server.url}/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "trigger_id": "t-1"},
        credential.token,
    )
    assert reply["replyCode"] == 0
    smtp_server.wait_for(1, timeout=60)
    wait_until(lambda: Message.objects.filter(status="sent").exists(), what="message sent")
    time.sleep(2)  # time for the send lane to do anything it (wrongly) might
    assert webhook_receiver.received == []
    assert not WebhookDelivery.objects.exists()

    start_qcluster("webhooks", WEBHOOKS_BEAT_SECONDS="0.2")

    [request] = webhook_receiver.wait_for(1, timeout=60)
    body = Webhook(subscription.secret).verify(request.body, request.headers)
    assert body["type"] == "message.sent"
    assert body["data"]["trigger_id"] == "t-1"
    wait_until(
        lambda: WebhookDelivery.objects.filter(status="delivered").exists(),
        timeout=30,
        what="delivery recorded as delivered",
    )


@pytest.mark.django_db
def test_an_attempt_whose_worker_died_is_made_again_with_the_same_id(
    webhook_receiver, make_stream, make_queued_messages
):
    create_subscription(webhook_receiver.url, allow_private=True)
    [message] = make_queued_messages(make_stream(), 1)
    DeliveryEvent.objects.create(message=message, event_type="delivered")
    from status_webhooks.dispatching import dispatch

    dispatch()
    delivery = WebhookDelivery.objects.get()
    assert claim(delivery.pk, timezone.now()) is not None  # the worker dies right after this
    assert deliver(delivery.pk) is None, "claimed by the dead worker: nobody else sends it"

    beat(now=timezone.now() + timedelta(minutes=5))  # its lease has run out

    [request] = webhook_receiver.wait_for(1)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert request.headers["webhook-id"] == delivery.webhook_id
