"""Delivery events are the outbox of status webhooks: the dispatcher turns each committed one
into one delivery per matching subscription, never one for a rolled-back change, and finds
events whose ids became visible late."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from delivery.models import DeliveryEvent, Message
from status_webhooks.dispatching import dispatch
from status_webhooks.models import WebhookDelivery, WebhookOutboxPosition
from status_webhooks.subscriptions import create_subscription

pytestmark = pytest.mark.django_db

Type = DeliveryEvent.Type


@pytest.fixture
def message(make_stream, make_queued_messages) -> Message:
    [message] = make_queued_messages(make_stream(), 1)
    return message


def record(message: Message, event_type: str, **fields) -> DeliveryEvent:
    return DeliveryEvent.objects.create(message=message, event_type=event_type, **fields)


def subscribe(**options):
    return create_subscription("https://hooks.example.net/te", **options)


def test_each_event_becomes_one_delivery_per_subscription(message):
    first, second = subscribe(), subscribe()
    event = record(message, Type.DELIVERED)

    assert dispatch() == 2
    assert dispatch() == 0

    deliveries = WebhookDelivery.objects.order_by("subscription_id")
    assert [d.subscription_id for d in deliveries] == [first.pk, second.pk]
    assert {d.webhook_id for d in deliveries} == {f"evt_{event.pk}"}
    assert deliveries[0].payload["type"] == "message.delivered"


def test_a_rolled_back_change_emits_nothing(message):
    subscribe()
    with pytest.raises(RuntimeError), transaction.atomic():
        record(message, Type.BOUNCED, bounce_kind="hard")
        raise RuntimeError("the change fails after its event was written")
    kept = record(message, Type.SENT)

    dispatch()

    assert list(WebhookDelivery.objects.values_list("delivery_event_id", flat=True)) == [kept.pk]


def test_an_event_committed_late_below_the_watermark_is_still_delivered(message):
    subscribe()
    early, late, after = (record(message, Type.SENT) for _ in range(3))
    # `late` took its id first but commits after `after`: hide it from the first look.
    late_values = DeliveryEvent.objects.filter(pk=late.pk).values()[0]
    DeliveryEvent.objects.filter(pk=late.pk).delete()
    dispatch()
    assert WebhookOutboxPosition.objects.get().last_id == after.pk
    assert str(late.pk) in WebhookOutboxPosition.objects.get().gaps

    DeliveryEvent.objects.create(**late_values)
    dispatch()

    assert set(WebhookDelivery.objects.values_list("delivery_event_id", flat=True)) == {
        early.pk,
        late.pk,
        after.pk,
    }
    assert WebhookOutboxPosition.objects.get().gaps == {}


def test_a_gap_older_than_the_lag_window_is_given_up(settings, message):
    subscribe()
    events = [record(message, Type.SENT) for _ in range(3)]
    DeliveryEvent.objects.filter(pk=events[1].pk).delete()  # rolled back for good
    dispatch()
    assert WebhookOutboxPosition.objects.get().gaps

    dispatch(now=timezone.now() + timedelta(seconds=settings.WEBHOOKS_OUTBOX_LAG_SECONDS + 1))

    assert WebhookOutboxPosition.objects.get().gaps == {}


def test_without_subscriptions_the_watermark_moves_past_history(message):
    old = record(message, Type.SENT)
    dispatch()
    assert WebhookOutboxPosition.objects.get().last_id == old.pk

    subscribe()
    new = record(message, Type.OPENED)
    dispatch()

    assert list(WebhookDelivery.objects.values_list("delivery_event_id", flat=True)) == [new.pk]


def test_only_the_subscribed_types_streams_and_events(
    make_stream, make_event, make_queued_messages
):
    orders = make_stream(name="Orders")
    resets = make_stream(make_event("password_reset"), name="Resets")
    [order_message] = make_queued_messages(orders, 1, label="o")
    [reset_message] = make_queued_messages(resets, 1, label="r")
    bounces_of_orders = subscribe(event_types=["bounced"], stream_ids=[orders.pk])
    resets_only = subscribe(external_event_ids=[resets.event_id])
    record(order_message, Type.BOUNCED)
    record(order_message, Type.SENT)
    record(reset_message, Type.BOUNCED)
    record(reset_message, Type.QUEUED)  # not a webhook event type

    dispatch()

    got = set(WebhookDelivery.objects.values_list("subscription_id", "event_type"))
    assert got == {(bounces_of_orders.pk, "bounced"), (resets_only.pk, "bounced")}


def test_what_the_outbox_refused_to_send_is_skipped_and_an_esp_rejection_failed(message):
    subscribe()
    record(message, Type.REJECTED, provider="outbox", description="suppressed")
    record(message, Type.REJECTED, provider="postmark", description="inactive recipient")

    dispatch()

    assert list(
        WebhookDelivery.objects.order_by("delivery_event_id").values_list("event_type", flat=True)
    ) == ["skipped", "failed"]


def test_held_and_discarded_are_taken_by_value_when_delivery_records_them(message):
    from status_webhooks.event_types import webhook_type_of

    present = set(DeliveryEvent.Type.values)
    for value in ("held", "discarded"):
        assert webhook_type_of(value, "outbox") == (value if value in present else None)
    assert webhook_type_of("released", "outbox") is None


def test_without_an_enabled_subscription_a_look_costs_a_few_queries(
    message, django_assert_max_num_queries
):
    create_subscription("https://hooks.example.net/te").delete()
    dispatch()  # the first look creates the position row
    for _ in range(50):
        record(message, Type.SENT)
    with django_assert_max_num_queries(8):
        assert dispatch() == 0
    assert not WebhookDelivery.objects.exists()


def test_an_event_purged_between_read_and_write_is_left_out(message, monkeypatch):
    from status_webhooks import dispatching

    subscribe()
    purged, kept = record(message, Type.SENT), record(message, Type.DELIVERED)
    real = dispatching.deliveries_for

    def purge_meanwhile(rows, found, now):
        made = real(rows, found, now)
        DeliveryEvent.objects.filter(pk=purged.pk).delete()  # a retention purge commits here
        return made

    monkeypatch.setattr(dispatching, "deliveries_for", purge_meanwhile)
    dispatch()

    assert list(WebhookDelivery.objects.values_list("delivery_event_id", flat=True)) == [kept.pk]
