"""A marketer in a real browser (headless chromium): copy a campaign into a stream, watch the
live preview, publish, launch, pause and resume."""

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from streams.models import EmailCampaign, MailStream
from tests.conftest import type_in_editor, wait_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"
HTML = """<!DOCTYPE html>
<html><head><style>.hello { color: #0f766e; }</style></head>
<body><h1 class="hello">Hello {{ contact.first_name }}</h1>
<p>Your order {{ event.order_id }} is confirmed.</p></body></html>"""


def click(browser, element_id):
    browser.find_element(By.ID, element_id).click()


def status_shown(browser):
    return browser.find_element(By.ID, "te-stream-status").text


def test_marketer_copies_previews_publishes_pauses_and_resumes(
    browser, live_server, artifacts_dir, make_event
):
    ensure_marketers_group()
    user = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    event = make_event("order_confirmation")
    campaign = EmailCampaign.objects.create(
        name="Order mail",
        subject="Thanks for your order",
        sender_name="Example Shop",
        sender_email="orders@example.com",
        html=HTML,
        text="Hello {{ contact.first_name }}, order {{ event.order_id }}.",
    )

    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("mia")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_in_browser(browser, lambda d: "Streams, messages and contacts" in d.page_source)

    # Copy the campaign into a new mail stream for the event.
    browser.get(f"{live_server.url}/admin/streams/emailcampaign/{campaign.pk}/change/")
    click(browser, "copy-into-stream")
    Select(browser.find_element(By.NAME, "event")).select_by_value(str(event.pk))
    browser.find_element(By.NAME, "name").clear()
    browser.find_element(By.NAME, "name").send_keys("Order confirmation")
    browser.find_element(By.NAME, "_copy").click()
    wait_in_browser(browser, lambda d: "/admin/streams/mailstream/" in d.current_url)
    stream = MailStream.objects.get(name="Order confirmation")
    assert status_shown(browser) == "draft"

    # Edit the sample data and the subject: the preview follows as the marketer types.
    sample = browser.find_element(By.NAME, "sample_data")
    sample.clear()
    sample.send_keys('{"order_id": "B-77"}')
    subject = browser.find_element(By.NAME, "subject")
    subject.clear()
    subject.send_keys("Order {{ event.order_id }} for {{ contact.first_name }}")
    wait_in_browser(
        browser, lambda d: d.find_element(By.ID, "te-subject").text == "Order B-77 for Jane"
    )
    frame = browser.find_element(By.ID, "te-html")
    assert frame.get_attribute("sandbox") == ""
    wait_in_browser(
        browser, lambda d: "Your order B-77 is confirmed." in frame.get_attribute("srcdoc")
    )
    assert 'style="color:#0f766e"' in frame.get_attribute("srcdoc")
    browser.switch_to.frame(frame)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hello Jane"
    browser.switch_to.default_content()
    browser.save_screenshot(str(artifacts_dir / "stream-editor-live-preview.png"))

    # A template error shows the line at fault.
    type_in_editor(browser, "html_source", "\n{% if event.order_id %}")
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-problem").is_displayed())
    assert "HTML, line 5" in browser.find_element(By.ID, "te-problem").text
    type_in_editor(browser, "html_source", "{% endif %}")
    wait_in_browser(browser, lambda d: not d.find_element(By.ID, "te-problem").is_displayed())

    # Publish, launch, pause, resume.
    click(browser, "te-save-publish")
    wait_in_browser(browser, lambda d: "Published version 1" in d.page_source)
    click(browser, "te-launch")
    wait_in_browser(browser, lambda d: status_shown(d) == "live")
    Select(browser.find_element(By.NAME, "policy")).select_by_value("hold")
    click(browser, "te-pause")
    # Pause asks first, with the chosen policy preselected.
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-policy-hold").is_selected())
    click(browser, "te-confirm")
    wait_in_browser(browser, lambda d: status_shown(d) == "paused")
    click(browser, "te-resume")
    click(browser, "te-confirm")
    wait_in_browser(browser, lambda d: status_shown(d) == "live")
    assert "held messages released" in browser.page_source

    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE
    assert stream.current_version.number == 1
    assert (
        stream.current_version.subject == "Order {{ event.order_id }} for {{ contact.first_name }}"
    )
    assert stream.sample_data == {"order_id": "B-77"}
    assert (artifacts_dir / "stream-editor-live-preview.png").stat().st_size > 10_000
