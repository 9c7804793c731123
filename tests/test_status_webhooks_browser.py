"""Status webhooks in a real browser (headless chromium): an operator adds a subscription, copies
its secret from the one page that shows it, opens a delivery with its attempts and redelivers
it; a marketer is refused. Nothing hostile in an endpoint's answer runs."""

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from selenium.webdriver.common.by import By

from delivery.models import DeliveryEvent
from status_webhooks.dispatching import dispatch
from status_webhooks.http_requests import Answer
from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from status_webhooks.sending import claim, record
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from tests.conftest import wait_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


def log_in(browser, live_server, username):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_in_browser(browser, lambda d: "/admin/login/" not in d.current_url)


def test_operator_adds_a_subscription_sees_attempts_and_redelivers(
    browser, live_server, make_stream, make_queued_messages
):
    User.objects.create_superuser("olga", "olga@example.com", PASSWORD)
    log_in(browser, live_server, "olga")

    browser.get(f"{live_server.url}/admin/status_webhooks/webhooksubscription/add/")
    browser.find_element(By.NAME, "name").send_keys("Shop backend")
    browser.find_element(By.NAME, "url").send_keys("https://hooks.example.net/te")
    browser.find_element(By.NAME, "_save").click()
    wait_in_browser(browser, lambda d: d.find_elements(By.ID, "secret"))
    subscription = WebhookSubscription.objects.get()
    assert browser.find_element(By.ID, "secret").text == subscription.secret

    # An event, and an endpoint that answered with markup.
    [message] = make_queued_messages(make_stream(), 1)
    DeliveryEvent.objects.create(message=message, event_type="bounced")
    dispatch()
    delivery = WebhookDelivery.objects.get()
    record(
        claim(delivery.pk, timezone.now()),
        Answer(503, HOSTILE, 40),
        WebhookAttempt.Outcome.RETRY,
        timezone.now(),
    )

    browser.get(f"{live_server.url}/admin/status_webhooks/webhookdelivery/{delivery.pk}/change/")
    wait_in_browser(browser, lambda d: "message.bounced" in d.page_source)
    assert "503" in browser.find_element(By.ID, "attempt_log-group").text
    assert browser.title != "pwned"

    browser.get(f"{live_server.url}/admin/status_webhooks/webhookdelivery/")
    browser.find_element(
        By.CSS_SELECTOR, f"input[name=_selected_action][value='{delivery.pk}']"
    ).click()
    browser.find_element(
        By.CSS_SELECTOR, "select[name=action] option[value=redeliver_selected]"
    ).click()
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait_in_browser(browser, lambda d: "Queued 1 deliveries again" in d.page_source)
    delivery.refresh_from_db()
    assert delivery.attempts == 0 and delivery.status == "pending"


def test_a_marketer_is_refused(browser, live_server):
    ensure_marketers_group()
    user = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    log_in(browser, live_server, "mia")
    browser.get(f"{live_server.url}/admin/status_webhooks/webhooksubscription/")
    wait_in_browser(browser, lambda d: "403" in d.page_source or "Forbidden" in d.page_source)
    browser.get(f"{live_server.url}/admin/")
    assert "Status webhook" not in browser.page_source
