"""Admin login throttling in a real browser: six wrong passwords, then the right one is refused
with the lock explained; after `axes_reset_username` the same login works."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from selenium.webdriver.common.by import By

from tests.conftest import wait_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-lockout-password-1"


def log_in(browser, url: str, password: str) -> None:
    browser.get(f"{url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def test_six_wrong_logins_lock_the_account_until_an_operator_unlocks_it(
    browser, live_server, settings, artifacts_dir
):
    settings.AXES_FAILURE_LIMIT = 5
    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    browser.delete_all_cookies()

    for _ in range(6):
        log_in(browser, live_server.url, "not-the-password")
        wait_in_browser(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".errornote"))

    log_in(browser, live_server.url, PASSWORD)
    locked = wait_in_browser(browser, lambda d: d.find_element(By.ID, "login-locked"))
    browser.save_screenshot(str(artifacts_dir / "admin-login-locked.png"))
    assert "Login locked" in locked.text
    assert "Try again in 15 minutes" in locked.text
    assert "Streams, messages and contacts" not in browser.page_source

    call_command("axes_reset_username", "operator")

    log_in(browser, live_server.url, PASSWORD)
    wait_in_browser(browser, lambda d: "Streams, messages and contacts" in d.page_source)
