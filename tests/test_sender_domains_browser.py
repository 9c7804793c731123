"""Sender domains in a real browser (headless chromium), as an operator and as a marketer:
the records to publish, the check, and the dashboard's notice when DKIM disappears."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from senders.dns_checks import check_domain
from senders.keys import add_domain
from senders.models import SenderDomain
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from tests.conftest import wait_in_browser

pytestmark = pytest.mark.browser

PASSWORD = "browser-Pass-4321"


def log_in(browser, live_server, username, next_url):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/?next={next_url}")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own address ends with next_url too: wait until it is left.
    wait_in_browser(
        browser,
        lambda d: (
            urlsplit(d.current_url).path != "/admin/login/" and d.current_url.endswith(next_url)
        ),
    )


def test_operator_and_marketer_see_records_and_the_dkim_notice(
    browser, live_server, transactional_db, recorded_dns, artifacts_dir
):
    ensure_marketers_group()
    User.objects.create_superuser("operator", "op@example.com", PASSWORD)
    marketer = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    marketer.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    domain = add_domain("mail.example.net")
    [key] = domain.dkim_keys.all()
    recorded_dns.publish(domain)
    changelist = "/admin/senders/senderdomain/"

    # The operator checks the records from the list: the domain becomes verified.
    log_in(browser, live_server, "operator", changelist)
    browser.find_element(
        By.CSS_SELECTOR, f"input[name=_selected_action][value='{domain.pk}']"
    ).click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("check_records")
    browser.find_element(By.NAME, "index").click()
    wait_in_browser(browser, lambda d: "every required record is published" in d.page_source)
    domain.refresh_from_db()
    assert domain.verification == SenderDomain.Verification.DNS

    browser.get(f"{live_server.url}{changelist}{domain.pk}/change/")
    page = browser.find_element(By.ID, "content").text
    assert f"{key.selector}._domainkey.mail.example.net. IN TXT" in page
    assert "found as expected" in page
    assert "PRIVATE KEY" not in browser.page_source
    browser.save_screenshot(str(artifacts_dir / "sender-domain-operator.png"))

    # The DKIM record disappears: the next check flags it on the dashboard.
    del recorded_dns.answers[(key.record_name, "TXT")]
    check_domain(domain)
    browser.get(f"{live_server.url}/dashboard/")
    notice = browser.find_element(By.ID, "sender-domain-notice").text
    assert "mail.example.net" in notice and "fails DKIM" in notice

    # The marketer sees the same notice and the records, and cannot change the domain.
    log_in(browser, live_server, "mia", "/dashboard/")
    assert "mail.example.net" in browser.find_element(By.ID, "sender-domain-notice").text
    browser.find_element(By.CSS_SELECTOR, "#sender-domain-notice a").click()
    wait_in_browser(browser, lambda d: "/change/" in d.current_url)
    page = browser.find_element(By.ID, "content").text
    assert f"{key.selector}._domainkey.mail.example.net. IN TXT" in page
    assert not browser.find_elements(By.NAME, "_save")
    browser.save_screenshot(str(artifacts_dir / "sender-domain-marketer.png"))
