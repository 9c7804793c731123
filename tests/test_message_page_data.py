"""The message page shows the trigger data as tables (nested values nested), all of it as
text; the list shows each message's latest outcome."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.data_tables import data_table
from delivery.models import Message

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_nested_data_becomes_nested_tables():
    html = data_table({"order_id": "10042", "items": [{"sku": "A-1", "qty": 2}], "gift": None})

    assert html.count('<table class="te-data-table">') == 3  # data, items, items[0]
    assert '<th scope="row">order_id</th><td>10042</td>' in html
    assert '<th scope="row">0</th><td><table' in html
    assert '<th scope="row">qty</th><td>2</td>' in html
    assert '<th scope="row">gift</th><td>null</td>' in html


def test_hostile_keys_and_values_stay_text():
    html = data_table({HOSTILE: [HOSTILE, {"x": HOSTILE}]})

    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_empty_data_and_deep_nesting_are_shown():
    assert "no data" in data_table({})
    deep: dict = {"v": "bottom"}
    for _ in range(40):
        deep = {"d": deep}
    html = data_table(deep)
    assert "<code>" in html and "bottom" in html  # past the depth limit: JSON text


def test_message_page_shows_the_data_table_and_outcome(admin_client, make_stream):
    stream = make_stream()
    message = Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient="jane@example.org",
        data={"order_id": "10042", "note": HOSTILE},
        status=Message.Status.SENT,
        message_id="<page-1@example.com>",
        sent_at=timezone.now(),
        outcome=Message.Outcome.BOUNCED,
        bounce_kind=Message.BounceKind.HARD,
        outcome_at=timezone.now() + timedelta(minutes=1),
    )

    page = admin_client.get(f"/admin/delivery/message/{message.pk}/change/").content.decode()
    assert 'id="te-trigger-data"' in page
    assert '<th scope="row">order_id</th><td>10042</td>' in page
    assert HOSTILE not in page
    assert "bounced (hard)" in page

    listing = admin_client.get("/admin/delivery/message/").content.decode()
    assert "Latest outcome" in listing
    assert "bounced (hard), " in listing
