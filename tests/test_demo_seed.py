"""The demo gives a new user something to look at: a campaign to copy, sample data for every
stream's preview and 30 days of traffic on the dashboard, fast and on any database."""

import time
from datetime import timedelta

import pytest
from django.db.models import Max, Min, Sum
from django.utils import timezone

from dashboard import stats
from delivery.models import DeliveryEvent, Message, StreamDayStats
from streams.copying import copy_campaign
from streams.models import EmailCampaign, MailStream
from streams.rendering import check_template
from triggered_email import demo
from triggered_email.demo import history

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    started = time.monotonic()
    setup = demo.seed()
    return setup, time.monotonic() - started


def test_every_demo_stream_has_sample_data_that_renders_its_template(seeded):
    for stream in MailStream.objects.all():
        assert stream.sample_data, stream.name
        version = stream.current_version
        context = {"event": stream.sample_data, "contact": stream.sample_contact}
        rendered = check_template(version.subject, version.html_source, version.text, context)
        for value in ("10042", "reset/3f9c2a7e"):
            if value in str(stream.sample_data):
                assert value in rendered.html


def test_a_campaign_to_copy_into_a_new_stream(seeded):
    campaign = EmailCampaign.objects.get(name=demo.DEMO_CAMPAIGN)
    assert "{{ event.order_id }}" in campaign.subject
    assert "{% foreach item in event.items limit 5 %}" in campaign.html

    stream = copy_campaign(campaign, event=MailStream.objects.first().event, name="Shipping")
    assert stream.status == MailStream.Status.DRAFT
    draft = stream.versions.get(published_at__isnull=True)
    assert "Track your parcel" in draft.html_source


def test_traffic_history_fills_30_days_of_the_dashboard(seeded):
    _, seconds = seeded
    history_rows = Message.objects.filter(client_trigger_id__startswith=history.MARK)
    count = history_rows.count()
    assert 2000 <= count <= 5000
    span = history_rows.aggregate(first=Min("received_at"), last=Max("received_at"))
    assert span["last"] - span["first"] > timedelta(days=29)
    assert DeliveryEvent.objects.filter(message__in=history_rows).count() > count
    # The rollups were refreshed for those days: the dashboard's 30 days show every message.
    overview = stats.overview(stats.parse_range({"range": "30d"}))
    assert overview.total.triggered == count
    assert 0 < overview.total.bounced < overview.total.opened < overview.total.delivered
    assert overview.total.p95_ms is not None
    assert StreamDayStats.objects.aggregate(n=Sum("triggered"))["n"] == count
    assert seconds < 90  # bulk_create: about 30 s at load 12 on 2 cores, a few s when idle


def test_history_data_is_searchable_by_order_id(seeded, admin_client):
    message = Message.objects.filter(data__has_key="order_id").order_by("pk").last()
    response = admin_client.get(
        "/admin/delivery/message/", {"q": f"order_id={message.data['order_id']}"}
    )
    assert list(response.context["cl"].result_list) == [message]


def test_seeding_again_adds_nothing(seeded, settings):
    before = (Message.objects.count(), EmailCampaign.objects.count(), MailStream.objects.count())
    demo.seed()
    after = (Message.objects.count(), EmailCampaign.objects.count(), MailStream.objects.count())
    assert before == after


def test_history_ends_now_and_is_spread_over_the_streams(seeded):
    names = set(Message.objects.values_list("stream__name", flat=True).distinct())
    assert names == {demo.DEMO_STREAM, demo.RESET_STREAM}
    assert Message.objects.filter(received_at__gt=timezone.now()).count() == 0
