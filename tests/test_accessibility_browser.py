"""axe-core (npm `axe-core` 4.14.1, its axe.min.js committed under tests/static/axe/) runs in
chromium over the main admin and dashboard pages, as a superuser and as a marketer, in the light
and the dark colour scheme: no serious or critical violation. The same pass saves screenshots of
the message page and the dashboard overview at desktop and phone width (test-artifacts/), and
checks that those pages stack at 390 px without the page scrolling sideways.

axe is injected with WebDriver's execute_script, which the pages' Content-Security-Policy
(script-src 'self') does not govern: test_axe_runs_despite_the_pages_csp shows that the policy
is in force on the page and blocks the same script added as an inline <script> element.
"""

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from selenium.webdriver.common.by import By

from delivery import rollups
from delivery.models import DeliveryEvent, Message
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from tests.conftest import wait_in_browser

pytestmark = pytest.mark.browser

AXE = (Path(__file__).resolve().parent / "static" / "axe" / "axe.min.js").read_text()
BLOCKING = {"serious", "critical"}
DESKTOP, PHONE = (1400, 1000), (390, 844)
PASSWORD = "a11y-pass-9876"


@pytest.fixture
def world(transactional_db, make_stream):
    ensure_marketers_group()
    User.objects.create_superuser("operator", "op@example.com", PASSWORD)
    marketer = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    marketer.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    stream = make_stream(
        name="Order confirmation", sample_data={"order_id": "10042", "total": "88.80"}
    )
    now = timezone.now()
    messages = []
    for n in range(6):
        received = now - timedelta(hours=2 + n)
        messages.append(
            Message.objects.create(
                stream=stream,
                version=stream.current_version,
                recipient=f"customer{n}@example.org",
                data={
                    "order_id": f"1004{n}",
                    "items": [{"name": "Espresso beans", "quantity": 2, "price": "24.90"}],
                    "customer": {"tier": "gold", "since": 2019},
                },
                status=Message.Status.SENT,
                message_id=f"<a11y-{n}@example.com>",
                received_at=received,
                queued_at=received,
                sent_at=received + timedelta(seconds=1 + n),
                delivered_at=received + timedelta(seconds=20),
                opened_at=received + timedelta(minutes=5) if n % 2 else None,
                outcome="opened" if n % 2 else "delivered",
                outcome_at=received + timedelta(minutes=5),
            )
        )
        DeliveryEvent.objects.create(
            message=messages[-1], event_type="delivered", occurred_at=received, provider="smtp"
        )
    rollups.rebuild(days=2)
    return stream, messages[0]


def pages(stream, message):
    return {
        "admin index": "/admin/",
        "stream list": "/admin/streams/mailstream/",
        "stream change": f"/admin/streams/mailstream/{stream.pk}/change/",
        "message list": "/admin/delivery/message/",
        "message page": f"/admin/delivery/message/{message.pk}/change/",
        "version page": f"/admin/streams/streamversion/{stream.current_version_id}/change/",
        "dashboard overview": "/dashboard/?range=24h",
        "dashboard stream": f"/dashboard/streams/{stream.pk}/?range=24h",
    }


def log_in(browser, live_server, username):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own address (…/admin/login/?next=/admin/) ends with "/admin/" too: only
    # the path tells that the login went through.
    wait_in_browser(browser, lambda d: urlsplit(d.current_url).path == "/admin/")


def color_scheme(browser, scheme):
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def axe_violations(browser):
    browser.execute_script(AXE)
    assert browser.execute_script("return typeof window.axe") == "object"
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [v for v in result if v["impact"] in BLOCKING]


@pytest.fixture
def sized(browser):
    browser.set_script_timeout(60)
    yield browser
    browser.set_window_size(*DESKTOP)
    color_scheme(browser, "light")


@pytest.mark.parametrize("username", ["operator", "mia"])
def test_main_pages_have_no_serious_axe_violations(sized, live_server, world, username):
    browser = sized
    stream, message = world
    log_in(browser, live_server, username)
    found = {}
    for scheme in ("light", "dark"):
        color_scheme(browser, scheme)
        for name, path in pages(stream, message).items():
            browser.get(f"{live_server.url}{path}")
            assert "Server Error" not in browser.title, path
            violations = axe_violations(browser)
            if violations:
                found[f"{name} ({scheme})"] = violations
    if found:
        pytest.fail("axe found serious or critical violations:\n" + json.dumps(found, indent=1))


def test_axe_runs_despite_the_pages_csp(sized, live_server, world):
    browser = sized
    log_in(browser, live_server, "operator")
    browser.get(f"{live_server.url}/dashboard/")
    # An inline <script> added to the page is refused by the policy…
    browser.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.inlineRan = true'; document.body.appendChild(s);"
    )
    assert browser.execute_script("return window.inlineRan === true") is False
    # …while WebDriver's own script (axe) runs.
    assert axe_violations(browser) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_and_phone_width_stacking(sized, live_server, world, artifacts_dir, scheme):
    browser = sized
    stream, message = world
    log_in(browser, live_server, "mia")
    color_scheme(browser, scheme)
    shots = {
        "message-page": f"/admin/delivery/message/{message.pk}/change/",
        "dashboard-overview": "/dashboard/?range=24h",
        "dashboard-stream": f"/dashboard/streams/{stream.pk}/?range=24h",
    }
    for width_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        browser.set_window_size(*size)
        for name, path in shots.items():
            browser.get(f"{live_server.url}{path}")
            viewport = browser.execute_script("return document.documentElement.clientWidth")
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            # Stacks: nothing makes the whole page scroll sideways (wide tables scroll inside
            # their own box).
            assert page_width <= viewport + 1, (name, width_name, page_width, viewport)
            browser.save_screenshot(str(artifacts_dir / f"{name}-{width_name}-{scheme}.png"))
    # The dark scheme really is dark on the dashboard (prefers-color-scheme).
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(11, 17, 32)") == (scheme == "dark"), background
