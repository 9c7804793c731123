"""Every count on the dashboard links to the message log showing exactly the messages counted."""

import re
from datetime import timedelta
from html import unescape

import pytest

from delivery import rollups
from delivery.models import Message
from tests.test_dashboard_numbers import H1, seed_message, seeded  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

COUNT_LINK = re.compile(r'data-col="([a-z]+)"><a class="count" href="([^"]+)"[^>]*>(\d+)</a>')


def rows_shown(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    assert not changelist.paginator.capped
    return changelist.result_count, set(changelist.result_list.values_list("pk", flat=True))


def links_of(page):
    return [
        (column, unescape(href), int(count)) for column, href, count in COUNT_LINK.findall(page)
    ]


@pytest.fixture
def with_extras(seeded):  # noqa: F811 (the imported fixture)
    """Beyond `seeded`: a test send and a discarded message in the same hour, which the
    dashboard counts as not triggered and as skipped."""
    a, b, sent_b = seeded
    test_send = seed_message(a, H1 + timedelta(minutes=30), 300, 1.0)
    Message.objects.filter(pk=test_send.pk).update(is_test=True)
    seed_message(a, H1 + timedelta(minutes=31), 301, status=Message.Status.DISCARDED)
    rollups.rebuild(days=31)
    return a, b, sent_b


@pytest.mark.parametrize("range_key", ["24h", "7d"])
def test_every_overview_count_opens_exactly_its_messages(with_extras, admin_client, range_key):
    page = admin_client.get(f"/dashboard/?range={range_key}").content.decode()
    links = links_of(page)
    # 12 counted columns per row: two streams and the total.
    assert len(links) == 3 * 12
    assert {count for _, _, count in links} - {0}, "the seeded counts are on the page"
    for column, url, count in links:
        shown, _ = rows_shown(admin_client, url)
        assert shown == count, (column, url)


def test_stream_page_counts_open_exactly_its_messages(with_extras, admin_client):
    a, _, _ = with_extras
    page = admin_client.get(f"/dashboard/streams/{a.pk}/?range=7d").content.decode()
    links = dict((column, (url, count)) for column, url, count in links_of(page))
    assert len(links) == 12
    for column, (url, count) in links.items():
        shown, pks = rows_shown(admin_client, url)
        assert shown == count, (column, url)
        assert set(Message.objects.filter(pk__in=pks).values_list("stream_id", flat=True)) <= {a.pk}
    # The test send is never among them; the discarded message is counted as skipped.
    _, triggered = rows_shown(admin_client, links["triggered"][0])
    assert not Message.objects.filter(pk__in=triggered, is_test=True).exists()
    _, skipped = rows_shown(admin_client, links["skipped"][0])
    assert set(Message.objects.filter(pk__in=skipped).values_list("status", flat=True)) == {
        "skipped",
        "discarded",
    }
    _, hard = rows_shown(admin_client, links["hard"][0])
    assert set(Message.objects.filter(pk__in=hard).values_list("bounce_kind", flat=True)) == {
        "hard"
    }


def test_sparkline_card_links_the_sent_messages(with_extras, admin_client):
    a, _, _ = with_extras
    page = admin_client.get("/dashboard/?range=24h").content.decode()
    card = page.split(f'class="stream-card" data-stream="{a.pk}"')[1].split("</section>")[0]
    for metric in ("sent", "bounce rate", "open rate", "latency p95"):
        assert f'data-metric="{metric}"' in card
    assert card.count('role="img"') == 4
    href, count = re.search(r'<span class="spark-value"><a href="([^"]+)">(\d+)</a>', card).groups()
    assert rows_shown(admin_client, unescape(href))[0] == int(count) == 8
