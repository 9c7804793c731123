"""The dashboard in a real browser (Debian's chromium, headless): charts, range and stream."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from delivery import rollups
from delivery.models import Message
from delivery.rollups import hour_of
from delivery.tracking import TrackedEvent, record_event
from tests.conftest import wait_in_browser

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded_streams(transactional_db, make_stream):
    """Stream "Password reset": 6 sent two hours ago, 4 delivered, 3 opened, 1 hard bounce,
    and 3 sent five days ago. Stream "Newsletter": 2 sent an hour ago."""
    now_hour = hour_of(timezone.now())
    reset = make_stream(name="Password reset")
    news = make_stream(name="Newsletter", event=reset.event)

    def sent(stream, at, n, seconds):
        return Message.objects.create(
            stream=stream,
            version=stream.current_version,
            recipient=f"b{n}@example.org",
            status=Message.Status.SENT,
            message_id=f"<browser-{n}@example.com>",
            received_at=at,
            sent_at=at + timedelta(seconds=seconds),
        )

    def happened(message, event_type, **fields):
        record_event(
            message,
            TrackedEvent(
                event_type=event_type,
                occurred_at=message.sent_at + timedelta(minutes=3),
                provider="postmark",
                **fields,
            ),
        )

    recent = [sent(reset, now_hour - timedelta(hours=2, minutes=-i), i, 2) for i in range(6)]
    for message in recent[:4]:
        happened(message, "delivered")
    for message in recent[:3]:
        happened(message, "opened")
    happened(recent[5], "bounced", bounce_kind="hard", mta_response="550 5.1.1 no such user")
    for i in range(3):
        sent(reset, now_hour - timedelta(days=5), 50 + i, 4)
    for i in range(2):
        sent(news, now_hour - timedelta(hours=1), 80 + i, 1)
    rollups.rebuild(days=31)
    return reset, news


def log_in(browser, live_server, django_user_model):
    django_user_model.objects.create_superuser("operator", "op@example.com", "op-pass-9876")
    browser.get(f"{live_server.url}/admin/login/?next=/dashboard/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys("op-pass-9876")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own address (…?next=/dashboard/) ends with "/dashboard/" too.
    wait_in_browser(browser, lambda d: urlsplit(d.current_url).path == "/dashboard/")


def text_of(browser, by, value):
    return browser.find_element(by, value).text


def titles(browser, chart_id):
    return [
        node.get_attribute("textContent")
        for node in browser.find_elements(By.CSS_SELECTOR, f"#{chart_id} svg .dots title")
    ]


def test_dashboard_charts_range_and_stream_in_chromium(
    browser, live_server, django_user_model, seeded_streams, artifacts_dir
):
    reset, news = seeded_streams
    log_in(browser, live_server, django_user_model)

    # Overview, last 24 hours: the seeded counts, the stream over the bounce threshold flagged.
    assert browser.current_url.endswith("/dashboard/")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-stream="{reset.pk}"]')
    cells = {
        cell.get_attribute("data-col"): cell.find_element(By.CLASS_NAME, "count").text
        for cell in row.find_elements(By.CSS_SELECTOR, "td[data-col]")
        if cell.find_elements(By.CLASS_NAME, "count")
    }
    assert (cells["sent"], cells["delivered"], cells["opened"], cells["hard"]) == (
        "6",
        "4",
        "3",
        "1",
    )
    assert "bounce rate" in row.text
    assert "flagged" in row.get_attribute("class")
    browser.save_screenshot(str(artifacts_dir / "dashboard-overview-24h.png"))

    # The stream page: both charts are there, with the seeded points as hover titles.
    row.find_element(By.LINK_TEXT, "Password reset").click()
    wait_in_browser(browser, lambda d: text_of(d, By.ID, "stream-name") == "Password reset")
    engagement = titles(browser, "engagement-chart")
    assert len(engagement) == 6 * 24  # six series, a point per hour
    assert any(t.endswith(": 6 sent") for t in engagement)
    assert any(t.endswith(": 4 delivered") for t in engagement)
    assert any(t.endswith(": 3 opened") for t in engagement)
    assert any(t.endswith(": 1 bounced") for t in engagement)
    assert any(t.endswith("p50 2 s") for t in titles(browser, "latency-chart"))
    browser.save_screenshot(str(artifacts_dir / "dashboard-stream-24h.png"))

    # Switch the range to 7 days: a point per day, and the older sends are counted.
    browser.find_element(By.CSS_SELECTOR, 'a.preset[data-range="7d"]').click()
    wait_in_browser(browser, lambda d: "range=7d" in d.current_url)
    assert "daily" in browser.find_element(By.CLASS_NAME, "range").text
    sent_cell = browser.find_element(By.CSS_SELECTOR, '#stream-totals td[data-col="sent"] .count')
    assert sent_cell.text == "9"
    week = titles(browser, "engagement-chart")
    assert len(week) in (6 * 7, 6 * 8)  # seven days, or eight when the range starts mid-day
    assert any(t.endswith(": 3 sent") for t in week)
    browser.save_screenshot(str(artifacts_dir / "dashboard-stream-7d.png"))

    # Switch the stream with the form: the other stream's page, with its own numbers.
    Select(browser.find_element(By.ID, "stream-select")).select_by_visible_text("Newsletter")
    browser.find_element(By.ID, "apply-range").click()
    wait_in_browser(browser, lambda d: text_of(d, By.ID, "stream-name") == "Newsletter")
    sent_cell = browser.find_element(By.CSS_SELECTOR, '#stream-totals td[data-col="sent"] .count')
    assert sent_cell.text == "2"
    assert f"/dashboard/streams/{news.pk}/" in browser.current_url
    browser.save_screenshot(str(artifacts_dir / "dashboard-stream-newsletter.png"))

    # And nothing on the page came from anywhere but this server.
    sources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(src.startswith(live_server.url) for src in sources), sources
