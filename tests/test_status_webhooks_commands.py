"""`manage.py add_webhook` subscribes an endpoint and prints one JSON line with its id and
secret; `manage.py redeliver_webhooks` sends one delivery or everything failed since a time."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from delivery.models import DeliveryEvent
from status_webhooks.dispatching import dispatch
from status_webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def add_webhook(*args: str) -> dict:
    out = io.StringIO()
    call_command("add_webhook", *args, stdout=out)
    [line] = out.getvalue().splitlines()
    return json.loads(line)


def test_add_webhook_prints_id_and_secret():
    printed = add_webhook("https://hooks.example.net/te", "--events", "delivered,bounced")
    subscription = WebhookSubscription.objects.get(pk=printed["id"])
    assert printed["secret"] == subscription.secret and printed["secret"].startswith("whsec_")
    assert subscription.event_types == ["delivered", "bounced"]
    assert not subscription.allow_private


def test_add_webhook_without_events_subscribes_to_all():
    printed = add_webhook("https://hooks.example.net/te")
    assert len(WebhookSubscription.objects.get(pk=printed["id"]).event_types) == 12


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["http://10.0.0.1/x"], "private or internal"),
        (["https://hooks.example.net/", "--events", "sent,exploded"], "exploded"),
        (["file:///etc/passwd"], "https://"),
    ],
)
def test_add_webhook_refuses_bad_input(args, error):
    with pytest.raises(CommandError, match=error):
        call_command("add_webhook", *args, stdout=io.StringIO())
    assert not WebhookSubscription.objects.exists()


def test_add_webhook_allow_private():
    printed = add_webhook("http://10.0.0.1/x", "--allow-private")
    assert WebhookSubscription.objects.get(pk=printed["id"]).allow_private


@pytest.fixture
def failed(make_stream, make_queued_messages):
    printed = add_webhook("https://hooks.example.net/te")
    [message] = make_queued_messages(make_stream(), 1)
    for kind in ("sent", "delivered"):
        DeliveryEvent.objects.create(message=message, event_type=kind)
    dispatch()
    WebhookDelivery.objects.update(status="failed", attempts=8)
    return printed["id"], list(WebhookDelivery.objects.order_by("pk"))


def test_redeliver_one(failed):
    _, (first, second) = failed
    out = io.StringIO()
    call_command("redeliver_webhooks", "--delivery", str(first.pk), stdout=out)
    assert "Queued 1" in out.getvalue()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == ("pending", 0)
    assert second.status == "failed"


def test_redeliver_failed_since(failed):
    subscription_id, (first, second) = failed
    WebhookDelivery.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    since = (timezone.now() - timedelta(days=1)).isoformat()
    call_command(
        "redeliver_webhooks",
        "--subscription",
        str(subscription_id),
        "--since",
        since,
        stdout=io.StringIO(),
    )
    assert WebhookDelivery.objects.get(pk=first.pk).status == "failed"
    assert WebhookDelivery.objects.get(pk=second.pk).status == "pending"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--subscription", "1"],
        ["--subscription", "999", "--since", "2026-01-01T00:00Z"],
        ["--subscription", "1", "--since", "yesterday"],
    ],
)
def test_redeliver_needs_what_to_send(args):
    with pytest.raises(CommandError):
        call_command("redeliver_webhooks", *args, stdout=io.StringIO())
