"""/metrics: only for the scraper (token or network), and the product's figures are right."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from delivery import heartbeats, rollups
from delivery.models import DeliveryEvent, Message, Suppression

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def scraper(client, settings):
    settings.TRIGGERED_EMAIL_METRICS_TOKEN = TOKEN
    settings.TRIGGERED_EMAIL_METRICS_NETWORKS = []

    def scrape() -> dict[str, dict[tuple, float]]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                key = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[key] = sample.value
        return samples

    return scrape


def test_without_a_token_the_scraper_is_asked_for_one(client, settings):
    settings.TRIGGERED_EMAIL_METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_a_wrong_token_is_refused(client, settings, header):
    settings.TRIGGERED_EMAIL_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 403


def test_nothing_configured_means_nobody_scrapes(client, settings):
    settings.TRIGGERED_EMAIL_METRICS_TOKEN = ""
    settings.TRIGGERED_EMAIL_METRICS_NETWORKS = []
    assert client.get("/metrics").status_code == 403


def test_an_allowed_network_scrapes_without_a_token(client, settings, db):
    settings.TRIGGERED_EMAIL_METRICS_TOKEN = ""
    settings.TRIGGERED_EMAIL_METRICS_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


def test_waiting_messages_per_lane_and_stream(scraper, make_stream, make_queued_messages):
    reset = make_stream(name="Password reset")
    digest = make_stream(name="Digest", lane="bulk")
    make_queued_messages(reset, 3, label="reset")
    make_queued_messages(digest, 2, label="digest")
    waited = timezone.now() - timedelta(seconds=400)
    first = Message.objects.filter(stream=reset).order_by("pk").first()
    Message.objects.filter(pk=first.pk).update(next_attempt_at=waited)
    Message.objects.filter(stream=digest).update(status=Message.Status.HELD, lane="bulk")

    samples = scraper()
    reset_labels = (("lane", "transactional"), ("stream", "Password reset"))
    digest_labels = (("lane", "bulk"), ("stream", "Digest"))
    assert samples["triggered_email_messages_queued"][reset_labels] == 3
    assert samples["triggered_email_messages_due"][reset_labels] == 3
    assert 400 <= samples["triggered_email_oldest_queued_age_seconds"][reset_labels] < 460
    assert samples["triggered_email_messages_held"][digest_labels] == 2
    assert samples["triggered_email_messages_queued"][digest_labels] == 0


def test_outcomes_and_latency_come_from_the_rollups(scraper, make_stream):
    stream = make_stream(name="Orders")
    now = timezone.now()
    for index, (status, latency) in enumerate(
        [("sent", 0.2), ("sent", 0.3), ("sent", 7.0), ("failed", None), ("skipped", None)]
    ):
        stream.messages.create(
            version=stream.current_version,
            recipient=f"r{index}@example.org",
            message_id=f"<m{index}@example.com>",
            status=status,
            received_at=now - timedelta(seconds=10),
            sent_at=now - timedelta(seconds=10) + timedelta(seconds=latency) if latency else None,
            bounce_kind="hard" if status == "failed" else "",
        )
    rollups.refresh()

    samples = scraper()
    orders = (("stream", "Orders"),)
    outcome = samples["triggered_email_messages_total"]
    assert samples["triggered_email_messages_triggered_total"][orders] == 5
    assert outcome[(("outcome", "sent"), ("stream", "Orders"))] == 3
    assert outcome[(("outcome", "failed"), ("stream", "Orders"))] == 1
    assert outcome[(("outcome", "skipped"), ("stream", "Orders"))] == 1
    assert outcome[(("outcome", "bounced_hard"), ("stream", "Orders"))] == 1
    buckets = samples["triggered_email_trigger_to_sent_seconds_bucket"]
    assert buckets[(("le", "0.25"), ("stream", "Orders"))] == 1
    assert buckets[(("le", "0.5"), ("stream", "Orders"))] == 2
    assert buckets[(("le", "5.0"), ("stream", "Orders"))] == 2
    assert buckets[(("le", "10.0"), ("stream", "Orders"))] == 3
    assert buckets[(("le", "+Inf"), ("stream", "Orders"))] == 3
    assert samples["triggered_email_trigger_to_sent_seconds_count"][orders] == 3
    assert samples["triggered_email_trigger_to_sent_seconds_sum"][orders] == pytest.approx(7.5)


def test_recent_failures_suppressions_and_lane_heartbeats(scraper, make_stream):
    stream = make_stream()
    message = stream.messages.create(
        version=stream.current_version, recipient="x@example.org", message_id="<x@example.com>"
    )
    for index, kind in enumerate(["deferred", "deferred", "bounced"]):
        DeliveryEvent.objects.create(message=message, event_type=kind, provider_event_id=str(index))
    DeliveryEvent.objects.create(
        message=message,
        event_type="deferred",
        occurred_at=timezone.now() - timedelta(hours=2),
        provider_event_id="old",
    )
    Suppression.objects.create(email="a@example.org", reason="hard_bounce")
    Suppression.objects.create(email="b@example.org", reason="complaint")
    Suppression.objects.create(email="c@example.org", reason="hard_bounce", stream=stream)
    heartbeats.beat("transactional", now=timezone.now() - timedelta(seconds=30))

    samples = scraper()
    recent = samples["triggered_email_delivery_events_last_hour"]
    assert recent[(("type", "deferred"),)] == 2
    assert recent[(("type", "bounced"),)] == 1
    assert recent[(("type", "failed"),)] == 0
    suppressions = samples["triggered_email_suppressions_total"]
    assert suppressions[(("reason", "hard_bounce"),)] == 2
    assert suppressions[(("reason", "complaint"),)] == 1
    assert suppressions[(("reason", "manual"),)] == 0
    seen = samples["triggered_email_lane_last_seen_seconds"]
    assert 30 <= seen[(("lane", "transactional"),)] < 90
    assert seen[(("lane", "bulk"),)] == -1


def test_http_metrics_of_django_prometheus_are_there_too(scraper, db):
    samples = scraper()
    assert any(name.startswith("django_http_requests") for name in samples)


@pytest.mark.parametrize("length", ["abc", "²", "-1x"])
def test_a_hostile_content_length_is_no_server_error(client, db, length):
    response = client.generic("POST", "/api/v2/event", b"{}", CONTENT_LENGTH=length)
    assert response.status_code < 500


def test_webhook_endpoints_that_fail_are_visible(scraper, make_stream):
    from status_webhooks.models import WebhookDelivery, WebhookSubscription

    stream = make_stream()
    message = stream.messages.create(
        version=stream.current_version, recipient="x@example.org", message_id="<w@example.com>"
    )
    event = DeliveryEvent.objects.create(message=message, event_type="sent")
    failing = WebhookSubscription.objects.create(
        name="Shop",
        url="https://shop.example.org/hook",
        failing_since=timezone.now() - timedelta(hours=3),
    )
    healthy = WebhookSubscription.objects.create(name="CRM", url="https://crm.example.org/hook")
    gone = WebhookSubscription.objects.create(
        name="Old", url="https://old.example.org/hook", enabled=False
    )

    def delivery(subscription, status, attempts, n):
        WebhookDelivery.objects.create(
            subscription=subscription,
            delivery_event=event if n == 0 else None,
            event_type="sent",
            webhook_id=f"msg_{subscription.pk}_{status}_{n}",
            payload={},
            status=status,
            attempts=attempts,
        )

    for n in range(3):
        delivery(failing, "pending", 2, n)
    delivery(failing, "pending", 0, 3)
    for n in range(2):
        delivery(failing, "failed", 8, 4 + n)
    delivery(healthy, "delivered", 1, 0)

    samples = scraper()
    shop, crm, old = (
        (("name", s.name), ("subscription", str(s.pk))) for s in (failing, healthy, gone)
    )
    waiting = samples["triggered_email_webhook_deliveries_waiting"]
    assert waiting[shop] == 4
    assert waiting[crm] == 0
    assert samples["triggered_email_webhook_deliveries_failed_total"][shop] == 2
    assert samples["triggered_email_webhook_deliveries_failed_total"][crm] == 0
    failing_for = samples["triggered_email_webhook_failing_seconds"]
    assert 3 * 3600 <= failing_for[shop] < 3 * 3600 + 60
    assert failing_for[crm] == 0
    enabled = samples["triggered_email_webhook_subscription_enabled"]
    assert enabled[shop] == 1 and enabled[old] == 0
