"""Operators manage status webhooks in the admin: add a subscription (its secret shown once),
see every delivery with its attempts, redeliver one or all failed since a time. Marketers do not
see them (subscriptions hold signing secrets)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from delivery.models import DeliveryEvent
from status_webhooks.dispatching import dispatch
from status_webhooks.http_requests import Answer
from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from status_webhooks.sending import claim, record
from status_webhooks.subscriptions import create_subscription
from streams.marketers import MARKETERS_GROUP

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status


@pytest.fixture
def failed_delivery(make_stream, make_queued_messages) -> WebhookDelivery:
    subscription = create_subscription("https://hooks.example.net/te", name="Shop")
    [message] = make_queued_messages(make_stream(), 1)
    DeliveryEvent.objects.create(message=message, event_type="bounced", bounce_kind="hard")
    dispatch()
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    record(
        claim(delivery.pk, timezone.now()),
        Answer(404, "<b>no such hook</b>", 20),
        WebhookAttempt.Outcome.PERMANENT,
        timezone.now(),
    )
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    return delivery


def test_adding_a_subscription_shows_its_secret_once(admin_client):
    response = admin_client.post(
        reverse("admin:status_webhooks_webhooksubscription_add"),
        {
            "name": "Shop",
            "url": "https://hooks.example.net/te",
            "event_types": ["delivered", "bounced"],
            "enabled": "on",
        },
    )
    subscription = WebhookSubscription.objects.get()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert subscription.secret.startswith("whsec_")
    assert subscription.secret in response.content.decode()
    assert subscription.event_types == ["delivered", "bounced"]

    change = admin_client.get(
        reverse("admin:status_webhooks_webhooksubscription_change", args=[subscription.pk])
    )
    assert change.status_code == 200
    assert subscription.secret not in change.content.decode()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/admin/", "http://169.254.169.254/", "javascript:alert(1)"]
)
def test_an_internal_url_is_a_form_error(admin_client, url):
    response = admin_client.post(
        reverse("admin:status_webhooks_webhooksubscription_add"),
        {"url": url, "event_types": ["sent"], "enabled": "on"},
    )
    assert response.status_code == 200
    assert not WebhookSubscription.objects.exists()
    assert "errorlist" in response.content.decode()


def test_the_delivery_page_shows_each_attempt_and_the_body(admin_client, failed_delivery):
    response = admin_client.get(
        reverse("admin:status_webhooks_webhookdelivery_change", args=[failed_delivery.pk])
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "&lt;b&gt;no such hook&lt;/b&gt;" in page, "the answer is shown, escaped"
    assert failed_delivery.webhook_id in page
    assert "message.bounced" in page


def test_redeliver_one_from_the_admin(admin_client, failed_delivery):
    response = admin_client.post(
        reverse("admin:status_webhooks_webhookdelivery_changelist"),
        {"action": "redeliver_selected", "_selected_action": [failed_delivery.pk]},
        follow=True,
    )
    assert "Queued 1 deliveries again" in response.content.decode()
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == Status.PENDING and failed_delivery.attempts == 0
    assert failed_delivery.attempt_log.count() == 1, "the earlier attempt stays recorded"


def test_redeliver_everything_failed_since_a_time(admin_client, failed_delivery):
    changelist = reverse("admin:status_webhooks_webhooksubscription_changelist")
    selected = {
        "action": "redeliver_failed_since",
        "_selected_action": [failed_delivery.subscription_id],
    }
    asked = admin_client.post(changelist, selected)
    assert asked.status_code == 200 and 'name="since"' in asked.content.decode()

    later = timezone.localtime() + timedelta(minutes=5)
    admin_client.post(changelist, {**selected, "_since": "1", "since": f"{later:%Y-%m-%d %H:%M}"})
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == Status.FAILED, "created before the time given"

    earlier = timezone.localtime() - timedelta(hours=1)
    done = admin_client.post(
        changelist,
        {**selected, "_since": "1", "since": f"{earlier:%Y-%m-%d %H:%M}"},
        follow=True,
    )
    assert "Queued 1 failed deliveries again" in done.content.decode()
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == Status.PENDING


def test_an_automatically_disabled_subscription_says_why(admin_client, failed_delivery):
    WebhookSubscription.objects.update(
        enabled=False, disabled_reason="Disabled automatically: every delivery failed for 5 days"
    )
    page = admin_client.get(reverse("admin:status_webhooks_webhooksubscription_changelist"))
    assert "Disabled automatically: every delivery failed for 5 days" in page.content.decode()


def test_marketers_cannot_see_webhook_subscriptions(client, failed_delivery):
    marketer = get_user_model().objects.create_user("mia", password="x-Password-123", is_staff=True)
    marketer.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(marketer)
    for name in ("webhooksubscription", "webhookdelivery"):
        response = client.get(reverse(f"admin:status_webhooks_{name}_changelist"))
        assert response.status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert not re.search(r"status webhook", index, re.IGNORECASE)
