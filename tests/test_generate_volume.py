"""generate_volume loads messages and events on whichever database runs (COPY on PostgreSQL,
bulk_create elsewhere) and the dashboard's rollups count exactly what it loaded."""

import pytest
from django.core.management import call_command
from django.db.models import Sum

from delivery.models import DeliveryEvent, Message, StreamHourStats

pytestmark = pytest.mark.django_db


def test_loads_messages_events_and_rollups():
    call_command("generate_volume", messages=1200, events=2500, streams=3, days=5, seed=7, yes=True)

    assert Message.objects.count() == 1200
    assert DeliveryEvent.objects.count() == 2500
    assert Message.objects.filter(status="sent").exists()
    assert Message.objects.filter(outcome="bounced").exists()
    assert Message.objects.values("stream").distinct().count() == 3
    totals = StreamHourStats.objects.aggregate(triggered=Sum("triggered"), sent=Sum("sent"))
    assert totals == {
        "triggered": 1200,
        "sent": Message.objects.filter(sent_at__isnull=False).count(),
    }


def test_running_twice_adds_after_the_first_rows():
    call_command("generate_volume", messages=300, events=600, streams=2, days=2, yes=True)
    call_command("generate_volume", messages=300, events=600, streams=2, days=2, yes=True)

    assert Message.objects.count() == 600
    assert Message.objects.values("message_id").distinct().count() == 600


def test_refuses_without_confirmation():
    with pytest.raises(Exception, match="--yes"):
        call_command("generate_volume", messages=10, events=10)
    assert not Message.objects.exists()
