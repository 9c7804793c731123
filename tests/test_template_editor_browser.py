"""The template editor in a real browser, as a superuser and as a marketer: the code editor
completes event keys and contact fields, warns about keys missing from the sample data, the
personalisation menu inserts a field with a fallback, the preview follows and toggles to a phone
width, unsaved edits are guarded, "Save and send test" sends what was on screen, pause asks
first, and resume asks which version held messages get. At 390 px the page stacks."""

import json

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from delivery.models import Message
from delivery.stream_control import pause_stream
from events.models import ContactField
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from streams.models import MailStream
from streams.versions import publish_version, save_draft
from tests.conftest import type_in_editor, wait_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"
HTML = """<html><body>
<h1>Hello {{ contact.first_name }}</h1>
<p>Order {{ event.order_id }}</p>
</body></html>"""
SAMPLE = {"order_id": "B-77", "customer": {"tier": "gold"}, "total": "12.50"}


def log_in(browser, live_server, who):
    browser.delete_all_cookies()
    if who == "superuser":
        User.objects.create_superuser("root", "root@example.com", PASSWORD)
        username = "root"
    else:
        ensure_marketers_group()
        user = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
        username = "mia"
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_in_browser(browser, lambda d: "Streams, messages and contacts" in d.page_source)


def open_editor(browser, live_server, stream):
    browser.get(f"{live_server.url}/admin/streams/mailstream/{stream.pk}/change/")
    wait_in_browser(
        browser,
        lambda d: (
            d.execute_script("return document.documentElement.dataset.unsavedGuard") == "ready"
        ),
    )
    wait_in_browser(
        browser, lambda d: d.execute_script("return document.documentElement.dataset.editorReady")
    )


def editor_text(browser, name):
    return browser.execute_script(
        "return document.querySelector(`.te-codemirror[data-editor-for='${arguments[0]}']`)"
        ".teEditorView.state.doc.toString();",
        name,
    )


def completions(browser):
    return [
        label.text
        for label in browser.find_elements(
            By.CSS_SELECTOR, ".cm-tooltip-autocomplete li .cm-completionLabel"
        )
    ]


def script_errors(browser):
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["source"] == "javascript" or "Uncaught" in entry["message"]
    ]


def leaving_is_questioned(browser):
    """Whether leaving the page now would ask first: the page cancels its beforeunload event.

    The event is dispatched by hand: chromedriver accepts a real beforeunload prompt by itself
    (WebDriver's default for that prompt), so the dialog cannot be seen from here.
    """
    return browser.execute_script(
        "const event = new Event('beforeunload', {cancelable: true});"
        "window.dispatchEvent(event); return event.defaultPrevented;"
    )


@pytest.mark.parametrize("who", ["superuser", "marketer"])
def test_editor_completes_warns_personalises_and_previews(
    browser, live_server, artifacts_dir, make_stream, who
):
    ContactField.objects.create(id=4711, name="loyalty_tier")
    stream = make_stream(html=HTML, text="Hi {{ contact.first_name }}", sample_data=SAMPLE)
    log_in(browser, live_server, who)
    browser.set_window_size(1400, 1000)
    open_editor(browser, live_server, stream)

    # The textarea is enhanced, not removed: it is still in the form, hidden, with the content.
    textarea = browser.find_element(By.NAME, "html_source")
    assert not textarea.is_displayed()
    assert editor_text(browser, "html_source") == HTML
    assert not leaving_is_questioned(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ".te-codemirror .cm-esl-output")

    # Typing `event.` inside {{ }} offers the sample data's keys, nested ones too.
    type_in_editor(browser, "html_source", "\n<p>{{ event.")
    wait_in_browser(browser, lambda d: "event.order_id" in completions(d))
    assert {"event.customer", "event.customer.tier", "event.total"} <= set(completions(browser))
    content = browser.find_element(By.CSS_SELECTOR, '[data-editor-for="html_source"] .cm-content')
    content.send_keys("tot", Keys.ENTER, " }}")
    wait_in_browser(browser, lambda d: "<p>{{ event.total }}</p>" in editor_text(d, "html_source"))
    # The textarea follows, and the preview with it.
    wait_in_browser(browser, lambda d: "{{ event.total }}" in textarea.get_attribute("value"))
    wait_in_browser(
        browser, lambda d: "12.50" in d.find_element(By.ID, "te-html").get_attribute("srcdoc")
    )

    # Contact fields complete by name and by Emarsys id.
    type_in_editor(browser, "html_source", "\n{{ contact.")
    wait_in_browser(browser, lambda d: "contact.first_name" in completions(d))
    assert {"contact.1", "contact.loyalty_tier", "contact.4711"} <= set(completions(browser))
    content.send_keys(Keys.ESCAPE)
    # Filters after a pipe.
    content.send_keys("email|up")
    wait_in_browser(browser, lambda d: "upper" in completions(d))
    content.send_keys(Keys.ESCAPE, "per")

    # A key the sample data lacks is marked in the editor and listed above it.
    type_in_editor(browser, "html_source", "\n{{ event.coupon_code }}")
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-editor-missing").is_displayed())
    assert "event.coupon_code" in browser.find_element(By.ID, "te-editor-missing").text
    wait_in_browser(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".cm-lintRange-warning"))
    # Adding it to the sample data clears the warning.
    sample = browser.find_element(By.NAME, "sample_data")
    sample.clear()
    sample.send_keys('{"order_id": "B-77", "total": "12.50", "coupon_code": "SAVE5"}')
    wait_in_browser(
        browser, lambda d: not d.find_element(By.ID, "te-editor-missing").is_displayed()
    )
    assert not browser.find_elements(By.CSS_SELECTOR, ".cm-lintRange-warning")
    wait_in_browser(
        browser, lambda d: "SAVE5" in d.find_element(By.ID, "te-html").get_attribute("srcdoc")
    )

    # The personalisation menu, by keyboard: choose a field, a fallback, insert.
    content.click()
    content.send_keys(Keys.CONTROL, Keys.END)
    field = browser.find_element(By.ID, "te-personalise-field")
    Select(field).select_by_value("contact.first_name")
    fallback = browser.find_element(By.ID, "te-personalise-fallback")
    fallback.clear()
    fallback.send_keys("there")
    fallback.send_keys(Keys.TAB, Keys.ENTER)  # Tab to "Insert", Enter presses it
    wait_in_browser(
        browser,
        lambda d: editor_text(d, "html_source").endswith(
            '{{ contact.first_name|default("there") }}'
        ),
    )
    # The editor has the focus back after inserting, ready to type on.
    assert browser.execute_script("return document.activeElement.classList.contains('cm-content');")

    # Preview width: phone, then desktop; the text part is beside it.
    frame = browser.find_element(By.ID, "te-html")
    desktop = frame.size["width"]
    browser.find_element(By.ID, "te-width-phone").click()
    wait_in_browser(browser, lambda d: frame.size["width"] <= 377)  # 375 + borders
    assert browser.find_element(By.ID, "te-width-phone").get_attribute("aria-pressed") == "true"
    assert desktop > 375
    assert "Hi Jane" in browser.find_element(By.ID, "te-text").text
    browser.find_element(By.ID, "te-width-desktop").click()
    wait_in_browser(browser, lambda d: frame.size["width"] == desktop)
    if who == "marketer":
        browser.save_screenshot(str(artifacts_dir / "editor-desktop.png"))

    # Leaving with unsaved edits asks first.
    assert leaving_is_questioned(browser)

    assert script_errors(browser) == []

    # Saving does not ask, and what was typed is the draft.
    browser.find_element(By.NAME, "_continue").click()
    wait_in_browser(browser, lambda d: "was changed successfully" in d.page_source)
    wait_in_browser(
        browser,
        lambda d: (
            d.execute_script("return document.documentElement.dataset.unsavedGuard") == "ready"
        ),
    )
    assert not leaving_is_questioned(browser)
    draft = stream.versions.get(published_at__isnull=True)
    assert draft.html_source.endswith('{{ contact.first_name|default("there") }}')


def test_without_javascript_the_textarea_is_the_editor(client, admin_user, make_stream):
    stream = make_stream(html=HTML, sample_data=SAMPLE)
    client.force_login(admin_user)

    page = client.get(f"/admin/streams/mailstream/{stream.pk}/change/").content.decode()

    # A plain, visible textarea holding the template, and the completion data beside it.
    textarea = page.split('<textarea name="html_source"')[1].split("</textarea>")[0]
    assert 'data-editor="html"' in textarea and "hidden" not in textarea.split(">")[0]
    assert "{{ event.order_id }}" in textarea
    hints = json.loads(
        page.split('<script id="te-editor-hints" type="application/json">')[1].split("</script>")[0]
    )
    assert sorted(hints["event_keys"]) == ["customer", "customer.tier", "order_id", "total"]
    assert {"name": "first_name", "id": "1", "label": "first name"} in hints["contact_fields"]
    assert "default" in hints["filters"] and "esl_loop" not in hints["filters"]
    assert "foreach" in [tag["name"] for tag in hints["tags"]]


def test_save_and_send_test_sends_what_is_on_screen(browser, live_server, make_stream, smtp_server):
    stream = make_stream(html=HTML, sample_data=SAMPLE)
    log_in(browser, live_server, "marketer")
    open_editor(browser, live_server, stream)

    subject = browser.find_element(By.NAME, "subject")
    subject.clear()
    subject.send_keys("Unsaved subject {{ event.order_id }}")
    browser.find_element(By.ID, "te-send-test").click()
    # No unsaved-edits question: the button saves.
    wait_in_browser(browser, lambda d: "/send-test/" in d.current_url)
    assert "Saved what was in the editor" in browser.page_source
    assert "saved draft, v2" in browser.find_element(By.ID, "te-test-source").text
    browser.find_element(By.NAME, "_send").click()
    wait_in_browser(browser, lambda d: "Test of v2 sent" in d.page_source)

    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[TEST] Unsaved subject B-77"


@pytest.mark.parametrize("who", ["superuser", "marketer"])
def test_pause_asks_first_and_says_what_the_policy_does(browser, live_server, make_stream, who):
    stream = make_stream(sample_data=SAMPLE)
    log_in(browser, live_server, who)
    open_editor(browser, live_server, stream)

    Select(browser.find_element(By.NAME, "policy")).select_by_value("discard")
    browser.find_element(By.ID, "te-pause").click()
    wait_in_browser(browser, lambda d: d.find_elements(By.ID, "te-confirm"))
    page = browser.find_element(By.ID, "content-main").text
    assert "never sent, not even after you resume" in page
    assert browser.find_element(By.ID, "te-policy-discard").is_selected()
    # Nothing has changed yet; cancelling keeps it live.
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE
    browser.find_element(By.ID, "te-cancel").click()
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-stream-status").text == "live")

    browser.find_element(By.ID, "te-pause").click()
    wait_in_browser(browser, lambda d: d.find_elements(By.ID, "te-confirm"))
    browser.find_element(By.CSS_SELECTOR, "label[for=te-policy-hold]").click()
    browser.find_element(By.ID, "te-confirm").click()
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-stream-status").text == "paused")
    stream.refresh_from_db()
    assert (stream.status, stream.pause_policy) == ("paused", "hold")


def test_resume_asks_which_version_held_messages_get_and_does_it(
    browser, live_server, api, make_stream, make_contact, smtp_server
):
    stream = make_stream(sample_data=SAMPLE)
    make_contact()
    pause_stream(stream, "hold")
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "H-1"}},
    )
    held = Message.objects.get(status=Message.Status.HELD)
    publish_version(
        save_draft(stream, subject="Fixed {{ event.order_id }}", html_source=HTML, text="")
    )
    log_in(browser, live_server, "marketer")
    open_editor(browser, live_server, stream)

    browser.find_element(By.ID, "te-resume").click()
    wait_in_browser(browser, lambda d: d.find_elements(By.ID, "te-version-why"))
    why = browser.find_element(By.ID, "te-version-why").text
    assert "1 held message was triggered with v1; the current version is v2" in why
    # No choice made: the browser refuses to submit (required), and so does the server.
    browser.execute_script("document.getElementById('te-confirm-form').noValidate = true;")
    browser.find_element(By.ID, "te-confirm").click()
    wait_in_browser(browser, lambda d: d.find_elements(By.ID, "te-choice-missing"))
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.PAUSED

    browser.find_element(By.CSS_SELECTOR, "label[for=te-held-current]").click()
    browser.find_element(By.ID, "te-confirm").click()
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-stream-status").text == "live")
    assert "with the current v2" in browser.page_source
    held.refresh_from_db()
    assert held.version.number == 2
    assert list(held.events.values_list("event_type", flat=True))[:2] == ["held", "released"]

    # The message's page shows the steps with their times.
    browser.get(f"{live_server.url}/admin/delivery/message/{held.pk}/change/")
    page = browser.find_element(By.ID, "content-main").text
    assert "held" in page and "goes out with v2 (triggered with v1)" in page


def test_editor_stacks_at_phone_width(browser, live_server, artifacts_dir, make_stream):
    stream = make_stream(html=HTML, sample_data=SAMPLE)
    log_in(browser, live_server, "marketer")
    try:
        browser.set_window_size(390, 844)
        open_editor(browser, live_server, stream)
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];"
        )
        editor = browser.find_element(By.CSS_SELECTOR, '[data-editor-for="html_source"]').rect
        preview = browser.find_element(By.ID, "te-preview").rect
        type_in_editor(browser, "html_source", "\n<p>typed on a phone")
        wait_in_browser(browser, lambda d: "typed on a phone" in editor_text(d, "html_source"))
        # Typing did not scroll the editor's row sideways (cutting off its left edge).
        row_scrolled = browser.execute_script(
            "return document.querySelector('.form-row.field-html_source').scrollLeft;"
        )
        browser.execute_script("document.getElementById('te-personalise').scrollIntoView();")
        browser.save_screenshot(str(artifacts_dir / "editor-phone.png"))
    finally:
        browser.set_window_size(1400, 1000)

    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    # Stacked: the preview starts below the editor, and both use the screen's width.
    assert preview["y"] > editor["y"] + editor["height"]
    assert editor["width"] > 250 and preview["width"] > 250
    assert row_scrolled == 0
    # Within the screen, not cut off by the form row around it.
    assert editor["x"] >= 0 and editor["x"] + editor["width"] <= widths[1]
    assert (artifacts_dir / "editor-phone.png").stat().st_size > 5_000
