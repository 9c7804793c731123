"""A stream's dashboard page says where its delivered and bounced figures come from, and the
stream's admin page offers the ESP message stream; both for a superuser and a marketer."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By

from delivery.figure_sources import figure_sources
from streams.marketers import MARKETERS_GROUP
from streams.models import MailStream
from tests.conftest import wait_in_browser


@pytest.mark.django_db
def test_smtp_path_names_refusals_dsns_and_logs(make_stream, smtp_server):
    sentence = figure_sources(make_stream(track_clicks=True))

    assert "refusals by the MTA" in sentence
    assert "bounce reports (DSNs)" in sentence
    assert "MTA's log" in sentence
    assert "Clicks are counted by our own tracking" in sentence


@pytest.mark.django_db
def test_smtp_path_without_verp_does_not_claim_dsns(make_stream, smtp_server, settings):
    settings.TRIGGERED_EMAIL_VERP = False

    assert "DSN" not in figure_sources(make_stream())


@pytest.mark.django_db
def test_esp_path_names_the_esps_webhooks(make_stream, settings):
    settings.TRIGGERED_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"

    sentence = figure_sources(make_stream())

    assert "ESP's (postmark) tracking webhooks" in sentence
    assert "does not track opens or clicks" in sentence


def log_in(browser, live_server, username, password):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own address (…/admin/login/?next=/admin/) ends with "/admin/" too: only
    # the path tells that the login went through.
    wait_in_browser(browser, lambda d: urlsplit(d.current_url).path == "/admin/")


@pytest.mark.browser
@pytest.mark.parametrize("role", ["superuser", "marketer"])
def test_stream_pages_show_sources_and_message_stream(
    role, browser, live_server, transactional_db, make_stream, smtp_server
):
    stream = make_stream(
        name="Newsletter", kind=MailStream.Kind.BROADCAST, esp_message_stream="news-2026"
    )
    if role == "superuser":
        User.objects.create_superuser("operator", "op@example.com", "op-pass-9876")
        log_in(browser, live_server, "operator", "op-pass-9876")
    else:
        user = User.objects.create_user("mia", "mia@example.com", "mia-pass-9876", is_staff=True)
        user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
        log_in(browser, live_server, "mia", "mia-pass-9876")

    browser.get(f"{live_server.url}/dashboard/streams/{stream.pk}/")
    [sources_element] = wait_in_browser(browser, lambda d: d.find_elements(By.ID, "figure-sources"))
    sources = sources_element.text
    assert "bounce reports (DSNs)" in sources

    browser.get(f"{live_server.url}/admin/streams/mailstream/{stream.pk}/change/")
    field = browser.find_element(By.NAME, "esp_message_stream")
    assert field.get_attribute("value") == "news-2026"
    errors = [
        entry
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]
    assert errors == []
