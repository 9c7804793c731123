"""The dashboard's numbers equal what was seeded: counts per bucket, rates, latency percentiles."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import stats
from delivery import rollups
from delivery.models import Message, StreamHourStats
from delivery.rollups import hour_of
from delivery.tracking import TrackedEvent, record_event

pytestmark = pytest.mark.django_db

NOW = timezone.now()
H1 = hour_of(NOW) - timedelta(hours=2)  # inside the last 24 hours
H2 = hour_of(NOW) - timedelta(hours=26)  # inside 7 days, outside 24 hours
# Trigger → sent latencies of stream A's sent messages in H1, in seconds.
LATENCIES_A = [1.0, 1.5, 2.0, 2.0, 3.0, 4.0, 6.0, 30.0]


def seed_message(stream, received_at, n, latency=None, status=None) -> Message:
    sent = latency is not None
    return Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient=f"r{n}-{stream.pk}@example.org",
        status=status or (Message.Status.SENT if sent else Message.Status.FAILED),
        message_id=f"<seed-{stream.pk}-{n}@example.com>",
        received_at=received_at,
        sent_at=received_at + timedelta(seconds=latency) if sent else None,
        last_error="" if sent else "recipient refused by the MTA",
    )


def event(message, event_type, minutes=5, **fields):
    record_event(
        message,
        TrackedEvent(
            event_type=event_type,
            occurred_at=message.received_at + timedelta(minutes=minutes),
            provider="postmark",
            recipient=message.recipient,
            **fields,
        ),
    )


@pytest.fixture
def seeded(make_stream):
    a = make_stream(name="Password reset")
    b = make_stream(name="Order confirmation", event=a.event)
    sent_a = [
        seed_message(a, H1 + timedelta(minutes=i), i, latency)
        for i, latency in enumerate(LATENCIES_A)
    ]
    seed_message(a, H1 + timedelta(minutes=20), 20)  # failed
    seed_message(a, H1 + timedelta(minutes=21), 21, status=Message.Status.SKIPPED)
    for message in sent_a[:6]:
        event(message, "delivered")
    event(sent_a[6], "bounced", bounce_kind="hard", mta_response="550 5.1.1 unknown")
    event(sent_a[7], "bounced", bounce_kind="soft", mta_response="452 4.2.2 full")
    for message in sent_a[:4]:
        event(message, "opened", minutes=10)
    event(sent_a[0], "opened", minutes=50)  # opened again: still one unique open
    event(sent_a[0], "clicked", minutes=11, url="https://example.com/a")
    event(sent_a[0], "clicked", minutes=12, url="https://example.com/b")
    event(sent_a[1], "clicked", minutes=11, url="https://example.com/a")
    event(sent_a[2], "complained", minutes=30)
    older = [seed_message(a, H2 + timedelta(minutes=i), 100 + i, 10.0) for i in range(2)]
    event(older[0], "bounced", bounce_kind="block", mta_response="554 5.7.1 blocked")
    sent_b = [seed_message(b, H1 + timedelta(minutes=i), 200 + i, 0.5) for i in range(5)]
    for message in sent_b:
        event(message, "delivered")
    rollups.rebuild(days=31)
    return a, b, sent_b


def last(key):
    return stats.parse_range({"range": key}, now=NOW)


def test_overview_counts_rates_and_percentiles_for_24_hours(seeded):
    view = stats.overview(last("24h"))

    by_name = {entry.stream.name: entry.totals for entry in view.streams}
    ta, tb = by_name["Password reset"], by_name["Order confirmation"]
    assert (ta.triggered, ta.sent, ta.delivered, ta.failed, ta.skipped) == (10, 8, 6, 1, 1)
    assert (ta.bounced_hard, ta.bounced_soft, ta.bounced_block, ta.bounced) == (1, 1, 0, 2)
    assert (ta.opened, ta.clicked, ta.complained) == (4, 2, 1)
    assert ta.bounce_rate == 2 / 8
    assert ta.complaint_rate == 1 / 8
    assert ta.rate(ta.opened) == 4 / 8
    assert (ta.p50_ms, ta.p95_ms) == (2000, 30000)
    assert ta.flags == ["bounce rate", "complaint rate"]
    assert (tb.triggered, tb.sent, tb.delivered, tb.bounced, tb.opened) == (5, 5, 5, 0, 0)
    assert (tb.p50_ms, tb.p95_ms) == (500, 500)
    assert tb.flags == []
    total = view.total
    assert (total.triggered, total.sent, total.delivered, total.bounced) == (15, 13, 11, 2)
    assert (total.opened, total.clicked, total.complained) == (4, 2, 1)
    # 0.5 s ×5, then 1, 1.5, 2, 2, 3, 4, 6, 30: the 7th of 13 is 1.5 s, the 13th 30 s.
    assert (total.p50_ms, total.p95_ms) == (1500, 30000)


def test_seven_days_include_the_older_hour(seeded):
    view = stats.overview(last("7d"))

    ta = next(e.totals for e in view.streams if e.stream.name == "Password reset")
    assert (ta.triggered, ta.sent, ta.bounced_block, ta.bounced) == (12, 10, 1, 3)
    # 1, 1.5, 2, 2, 3, 4, 6, 10, 10, 30: the 5th of 10 is 3 s, the 10th 30 s.
    assert (ta.p50_ms, ta.p95_ms) == (3000, 30000)


def test_thirty_days_read_from_daily_rollups_give_the_same_numbers(seeded):
    week = stats.overview(last("7d"))
    month = stats.overview(last("30d"))

    for a, b in zip(week.streams, month.streams, strict=True):
        assert a.stream == b.stream
        assert a.totals.columns() == b.totals.columns()
        assert a.totals.latency_ms == b.totals.latency_ms
    assert month.total.columns() == week.total.columns()


def test_hourly_series_has_every_hour_and_the_seeded_bucket(seeded):
    a, _, _ = seeded
    span = last("24h")

    points = stats.series(span, a.pk)

    assert span.hourly
    assert len(points) == 24
    assert [p.start for p in points] == [span.start + timedelta(hours=i) for i in range(24)]
    busy = {p.start: p.totals for p in points if p.totals.triggered}
    assert list(busy) == [H1]
    assert (busy[H1].sent, busy[H1].delivered, busy[H1].opened, busy[H1].clicked) == (8, 6, 4, 2)


def test_daily_series_buckets_by_day(seeded):
    a, _, _ = seeded
    span = last("7d")

    points = stats.series(span, a.pk)

    assert not span.hourly
    days = [timezone.localtime(p.start).date() for p in points]
    assert days == sorted(set(days))
    by_day = {timezone.localtime(p.start).date(): p.totals for p in points}
    expected: dict = {}
    for hour, triggered in ((H1, 10), (H2, 2)):
        day = timezone.localtime(hour).date()
        expected[day] = expected.get(day, 0) + triggered
    assert {d: t.triggered for d, t in by_day.items() if t.triggered} == expected
    assert sum(t.sent for t in by_day.values()) == 10


def test_custom_range_selects_whole_hours(seeded):
    a, _, _ = seeded
    start = timezone.localtime(H2).strftime("%Y-%m-%dT%H:%M")
    end = timezone.localtime(H2 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")

    span = stats.parse_range({"start": start, "end": end})
    totals = stats.stream_totals(span, a.pk)

    assert (span.start, span.end, span.key) == (H2, H2 + timedelta(hours=1), "custom")
    assert (totals.triggered, totals.sent, totals.bounced_block) == (2, 2, 1)


def test_range_of_whole_days_has_the_latency_of_its_daily_rollup(seeded):
    # A range that starts at a local midnight reads that day from the daily rollup only; the
    # 24-hour range does so every day during the hour before midnight.
    day = timezone.localtime(H2).date().isoformat()

    view = stats.overview(stats.parse_range({"start": day, "end": day}))

    totals = {entry.stream.name: entry.totals for entry in view.streams}["Password reset"]
    assert totals.sent >= 2  # the day holds H2's two messages with 10 s latency
    assert totals.p50_ms is not None and totals.p95_ms is not None


def test_refresh_picks_up_a_late_event(seeded):
    _, b, sent_b = seeded

    event(sent_b[0], "opened", minutes=60 * 20)
    result = rollups.refresh()

    assert result["hours"] >= 1
    row = StreamHourStats.objects.get(stream=b, hour=H1)
    assert row.opened == 1


def test_overview_page_shows_flags_and_counts(seeded, admin_client):
    a, b, _ = seeded

    page = admin_client.get("/dashboard/?range=24h").content.decode()

    row_a = page.split(f'data-stream="{a.pk}"')[1].split("</tr>")[0]
    row_b = page.split(f'data-stream="{b.pk}"')[1].split("</tr>")[0]
    assert 'class="flagged"' in page.split(f'data-stream="{a.pk}"')[1][:40]
    assert "bounce rate" in row_a and "complaint rate" in row_a
    assert "bounce rate" not in row_b
    assert re.search(r'data-col="triggered"><a class="count" [^>]*>10</a>', row_a)
    assert "25.00 %" in row_a  # bounce rate 2 of 8 sent
    assert "2 s" in row_a and "30 s" in row_a  # latency p50, p95


def test_stream_csv_has_the_same_series(seeded, admin_client):
    a, _, _ = seeded

    response = admin_client.get(f"/dashboard/streams/{a.pk}/series.csv?range=24h")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert len(rows) == 24
    [busy] = [row for row in rows if row["triggered"] != "0"]
    assert busy["bucket_start"] == H1.isoformat()
    assert (busy["sent"], busy["bounced_hard"], busy["bounced_soft"]) == ("8", "1", "1")
    assert (busy["latency_p50_ms"], busy["latency_p95_ms"]) == ("2000", "30000")


def test_stream_page_lists_recent_failures_and_links_the_log(seeded, admin_client):
    a, _, _ = seeded

    page = admin_client.get(f"/dashboard/streams/{a.pk}/?range=24h").content.decode()

    assert "recipient refused by the MTA" in page
    assert "r20-" in page
    assert f"/admin/delivery/message/?stream__id__exact={a.pk}&amp;status__exact=failed" in page
    assert page.count("<svg") >= 2


def test_dashboard_is_staff_only(seeded, client, django_user_model):
    anonymous = client.get("/dashboard/")
    django_user_model.objects.create_user("clerk", password="pw-123456789")
    client.login(username="clerk", password="pw-123456789")
    not_staff = client.get("/dashboard/")

    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert not_staff.status_code == 302 and "/admin/login/" in not_staff["Location"]


def test_bad_custom_range_falls_back_with_a_message(seeded, admin_client):
    page = admin_client.get("/dashboard/?start=yesterday&end=2026-01-01").content.decode()

    assert "is not a date" in page
    assert "Showing the last 24 hours" in page
