"""Hostile values in every field that reaches a page, opened in a real browser: nothing runs.

Each field gets its own marker number N inside payloads that would set `window.__xss = N`
(`<img onerror>`, `"><svg onload>`, `</textarea><script>`, `javascript:` URLs), plus template
syntax (`{{'ZZ' ~ 'QQ'}}` must never turn into ZZQQ), a long string and RTL/zero-width characters.
On every page the test checks that no dialog opened, that `window.__xss` stays undefined, that
no element carrying a payload made it into the DOM as markup (so a Content-Security-Policy that
blocks the script does not hide an escaping bug), and that preview iframes show the email.
A failure names the field (by its marker) and the page.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import Client
from selenium.common.exceptions import (
    NoAlertPresentException,
    UnexpectedAlertPresentException,
)
from selenium.webdriver.common.by import By

from delivery.models import DeliveryEvent, Message, Suppression
from events.integrations.models import IntegrationCall
from events.models import Contact, Trigger
from streams.models import EmailCampaign, MailStream
from tests.conftest import type_in_editor, wait_in_browser
from tests.seeding import PREVIEW_MARK, Seeded, seed_world

pytestmark = pytest.mark.browser

# What {{'ZZ' ~ 'QQ'}} becomes if data is ever rendered as a template (a string no chart
# coordinate or port number can produce by chance).
EVALUATED = "ZZQQ"


class Hostile:
    """Hands out hostile values, one marker per field, and remembers which field has which."""

    def __init__(self) -> None:
        self.fields: dict[int, str] = {}

    def __call__(self, key: str, ordinary: str) -> str:
        marker = len(self.fields) + 1
        self.fields[marker] = key
        set_flag = f"window.__xss={marker}"
        parts = [
            f"H{marker}",
            f"<img src=x onerror={set_flag}>",
            f'"><svg/onload={set_flag}>',
            f"</textarea><script>{set_flag}</script>",
            f"'><a href='javascript:{set_flag}'>x</a>",
            "\u202e\u200b",
        ]
        if "subject" not in key:
            # Subjects are templates by design; everywhere else template syntax is data.
            parts.insert(1, "{{'ZZ' ~ 'QQ'}}{% if 1 %}T{% endif %}")
        if key.endswith("url"):
            parts.insert(0, f"javascript:{set_flag}//")
        if "note" in key or "city" in key:
            parts.append("L" * 20000)
        return "".join(parts)

    def name(self, marker: Any) -> str:
        try:
            return self.fields[int(marker)]
        except (TypeError, ValueError, KeyError):
            return f"unknown marker {marker!r}"


# Markup the payloads would create if a page printed them unescaped.
INJECTED = """
const found = [];
for (const el of document.querySelectorAll('*')) {
  for (const attr of el.attributes) {
    if (/^on/i.test(attr.name) && attr.value.includes('__xss')) found.push(attr.value);
    if (/^(href|src|action|formaction)$/i.test(attr.name)
        && /^\\s*javascript:/i.test(attr.value) && attr.value.includes('__xss')) {
      found.push(attr.value);
    }
  }
  if (el.tagName === 'SCRIPT' && el.textContent.includes('__xss')) found.push(el.textContent);
}
return found;
"""


def login(browser: Any, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie(
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )


def pending_alert(browser: Any) -> str | None:
    try:
        alert = browser.switch_to.alert
    except NoAlertPresentException:
        return None
    text = alert.text
    alert.dismiss()
    return text


def check_page(browser: Any, live_server: Any, path: str, hostile: Hostile) -> list[str]:
    """Open `path`; return what went wrong on it (empty: nothing ran, nothing injected)."""
    problems = []
    try:
        browser.get(live_server.url + path)
        alert = pending_alert(browser)
        flag = browser.execute_script("return window.__xss;")
        injected = browser.execute_script(INJECTED)
        source = browser.page_source
    except UnexpectedAlertPresentException as exc:
        pending_alert(browser)
        return [f"{path}: a dialog opened ({exc.alert_text!r})"]
    if alert is not None:
        problems.append(f"{path}: a dialog opened ({alert!r})")
    if flag is not None:
        problems.append(f"{path}: script ran from the field {hostile.name(flag)!r}")
    for value in injected:
        marker = value.split("__xss=")[-1].split("<")[0].split("'")[0].split("/")[0]
        problems.append(f"{path}: the field {hostile.name(marker)!r} was printed as markup")
    if EVALUATED in source:
        at = source.index(EVALUATED)
        problems.append(
            f"{path}: template syntax in a value was evaluated: "
            f"{source[max(at - 120, 0) : at + 20]!r}"
        )
    if "/login/" in browser.current_url:
        problems.append(f"{path}: not logged in (the login page was shown)")
    if "Server Error" in browser.title or "Traceback" in source[:2000]:
        problems.append(f"{path}: server error page")
    return problems


def check_frames(browser: Any, path: str, expected: str) -> list[str]:
    """Every preview iframe on the page shows the email (not a blank or broken frame)."""
    problems = []
    frames = browser.find_elements(By.CSS_SELECTOR, "iframe")
    if not frames:
        return [f"{path}: no preview iframe"]
    for index in range(len(frames)):
        frame = browser.find_elements(By.CSS_SELECTOR, "iframe")[index]
        browser.switch_to.frame(frame)
        try:
            text = wait_in_browser(
                browser,
                lambda b: (
                    b.find_element(By.TAG_NAME, "body").text
                    if expected in b.find_element(By.TAG_NAME, "body").text
                    else False
                ),
                timeout=5,
            )
        except Exception:
            text = browser.execute_script("return document.body ? document.body.innerText : ''")
            problems.append(f"{path}: iframe {index} does not show the email: {text[:200]!r}")
        finally:
            browser.switch_to.default_content()
        if text and EVALUATED in text:
            problems.append(f"{path}: iframe {index} evaluated template syntax from the data")
    return problems


def check_live_preview(browser: Any, live_server: Any, path: str, hostile: Hostile) -> list[str]:
    """Edit the draft on the stream editor: the live preview re-renders the hostile sample data
    through the preview endpoint (JavaScript puts it into the page) and nothing may run."""
    problems = check_page(browser, live_server, path, hostile)
    type_in_editor(browser, "text", " LIVE-CHECK")
    try:
        wait_in_browser(
            browser,
            lambda b: "LIVE-CHECK" in b.find_element(By.ID, "te-text").text,
            timeout=10,
        )
    except Exception:
        problems.append(f"{path}: the live preview did not re-render after an edit")
    flag = browser.execute_script("return window.__xss;")
    if flag is not None:
        problems.append(f"{path} (live preview): script ran from {hostile.name(flag)!r}")
    for value in browser.execute_script(INJECTED):
        problems.append(f"{path} (live preview): a field was printed as markup: {value[:80]!r}")
    return problems + check_frames(browser, path + " (live preview)", PREVIEW_MARK)


def admin_pages(world: Seeded) -> list[str]:
    """Every changelist, and the change pages of the objects that hold hostile values."""
    pages = [f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry]
    objects = [
        world.contact,
        world.event,
        world.stream,
        world.broadcast,
        world.program,
        *world.integrations,
        *world.messages.values(),
        *Suppression.objects.all(),
        *Trigger.objects.all()[:3],
        *IntegrationCall.objects.all(),
        *world.program.runs.all()[:6],
        *EmailCampaign.objects.all(),
        *world.stream.versions.all(),
    ]
    for obj in objects:
        opts = obj._meta
        pages.append(f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/")
    pages += [
        f"/admin/events/externalevent/{world.event.pk}/trigger-test/",
        f"/admin/streams/emailcampaign/{EmailCampaign.objects.first().pk}/copy-to-stream/",
        f"/admin/delivery/suppression/{Suppression.objects.first().pk}/remove/",
        "/admin/events/contact/?q=jane%40example.org",
        f"/admin/delivery/message/?stream__id__exact={world.stream.pk}",
        "/admin/auth/user/",
    ]
    return pages


def dashboard_pages(world: Seeded) -> list[str]:
    return ["/dashboard/", "/dashboard/?range=30d"] + [
        f"/dashboard/streams/{stream.pk}/?range=7d" for stream in MailStream.objects.all()
    ]


def preview_pages(world: Seeded) -> list[str]:
    versions = [v for v in world.stream.versions.all() if v.is_published]
    return [
        f"/admin/streams/mailstream/{world.stream.pk}/change/",
        f"/admin/delivery/message/{world.messages['sent'].pk}/change/",
        f"/admin/delivery/message/{world.messages['test'].pk}/change/",
        *(f"/admin/streams/streamversion/{v.pk}/change/" for v in versions),
    ]


@pytest.fixture
def hostile_world(api, smtp_server, live_server) -> tuple[Seeded, Hostile]:
    hostile = Hostile()
    world = seed_world(api, smtp_server, text=hostile)
    # The values really are stored (not refused or cleaned away before any page shows them).
    assert "H" in world.contact.first_name and "<img" in world.contact.first_name
    assert DeliveryEvent.objects.filter(user_agent__contains="onerror").exists()
    assert Contact.objects.filter(fields__city__icontains="<script>").exists()
    assert Message.objects.filter(data__note__icontains="<svg").exists()
    assert Message.objects.filter(status="failed", last_error__contains="onerror").exists()
    assert IntegrationCall.objects.filter(body_excerpt__contains="<script>").exists()
    return world, hostile


def test_hostile_values_run_nowhere_and_previews_still_show_the_email(
    browser, live_server, hostile_world, artifacts_dir
):
    world, hostile = hostile_world
    started = time.monotonic()
    problems: list[str] = []

    login(browser, live_server, world.superuser)
    superuser_pages = admin_pages(world) + dashboard_pages(world)
    for path in superuser_pages:
        problems += check_page(browser, live_server, path, hostile)
    for path in preview_pages(world):
        problems += check_page(browser, live_server, path, hostile)
        problems += check_frames(browser, path, PREVIEW_MARK)
    editor = f"/admin/streams/mailstream/{world.stream.pk}/change/"
    problems += check_live_preview(browser, live_server, editor, hostile)
    browser.save_screenshot(str(artifacts_dir / "hostile_values_stream_editor.png"))

    login(browser, live_server, world.marketer)
    marketer_pages = [
        "/admin/",
        f"/admin/events/contact/{world.contact.pk}/change/",
        "/admin/delivery/message/",
        "/dashboard/",
        f"/dashboard/streams/{world.stream.pk}/",
    ]
    for path in marketer_pages:
        problems += check_page(browser, live_server, path, hostile)
    for path in preview_pages(world)[:2]:
        problems += check_page(browser, live_server, path, hostile)
        problems += check_frames(browser, path, PREVIEW_MARK)

    elapsed = time.monotonic() - started
    # How long it took is written down, not asserted: on a shared machine the time says more
    # about the neighbours than about the pages (pytest-timeout bounds it).
    (artifacts_dir / "hostile_values_pages.txt").write_text(
        "\n".join(superuser_pages + preview_pages(world) + marketer_pages)
        + f"\n# browser pass: {elapsed:.0f} s\n"
    )
    assert not problems, "\n".join(problems)
    # Enough pages were opened to mean something.
    assert len(superuser_pages) > 40
