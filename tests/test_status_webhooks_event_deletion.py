"""Deleting messages never fails because the webhook lane made a delivery of one of their events
meanwhile (a retention purge, a benchmark's clean-up, an admin deleting a message)."""

import pytest
from django.db import connection

from delivery.models import DeliveryEvent, Message
from status_webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the race needs concurrent writers (PostgreSQL)"
)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_created_after_the_delete_looked_does_not_fail_the_delete(make_stream):
    stream = make_stream()
    message = stream.messages.create(
        version=stream.current_version, recipient="x@example.org", message_id="<r@example.com>"
    )
    event = DeliveryEvent.objects.create(message=message, event_type="sent")
    subscription = WebhookSubscription.objects.create(url="https://shop.example.org/hook")
    collector_lookup = WebhookDelivery.objects.filter(delivery_event__message=message)
    assert not collector_lookup.exists()  # what Django's SET_NULL saw before deleting
    # The lane creates the delivery between that look-up and the DELETE.
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        delivery_event=event,
        event_type="sent",
        webhook_id="msg_race",
        payload={"type": "message.sent"},
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM delivery_deliveryevent WHERE message_id = %s", [message.pk])

    Message.objects.filter(pk=message.pk).delete()

    delivery.refresh_from_db()
    assert delivery.delivery_event_id is None
    assert delivery.payload == {"type": "message.sent"}  # the log keeps its copy of the body
