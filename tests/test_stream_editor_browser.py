"""The admin pages in a real browser under the Content-Security-Policy: the stream editor's live
preview (on the change page and on the Add page) works from its static script, Django's own
admin JavaScript keeps working, previews show the whole email, and nothing violates the policy.

Violations are collected by a listener that chromium installs before any page script runs
(DevTools' addScriptToEvaluateOnNewDocument is not subject to the page's policy), so a blocked
inline script during page load is seen too.
"""

import pytest
from django.contrib.auth.models import Group, User
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from delivery.models import Message
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group
from streams.models import MailStream
from tests.conftest import set_editor_text, type_in_editor, wait_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password-1"
HOSTILE = "<img src=x onerror=alert(document.domain)>"
HTML = """<!DOCTYPE html>
<html><head><style>h1.hello { color: #0f766e; }</style></head>
<body><h1 class="hello" title='say "hi"'>Hello {{ contact.first_name }}</h1>
<p>Your order {{ event.order_id }} is confirmed.</p>
<p><a href="{{ event.url }}">Track it</a></p></body></html>"""
TEXT = "Hello {{ contact.first_name }}, order {{ event.order_id }}."
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile);
});
"""


@pytest.fixture
def watched_browser(browser):
    """The browser, recording CSP violations on every page it loads."""
    script = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": COLLECT_VIOLATIONS}
    )
    browser.delete_all_cookies()
    yield browser
    browser.execute_cdp_cmd(
        "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
    )


def violations(browser) -> list[str]:
    return browser.execute_script("return window.__cspViolations || [];")


def log_in(browser, live_server, username: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_in_browser(browser, lambda d: "Streams, messages and contacts" in d.page_source)


def superuser(live_server, browser) -> None:
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    log_in(browser, live_server, "root")


def marketer(live_server, browser) -> None:
    ensure_marketers_group()
    user = User.objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    log_in(browser, live_server, "mia")


def screenshot(browser, element_id: str, path) -> None:
    """A screenshot with the element (the email's iframe) in view."""
    browser.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", element_id
    )
    browser.save_screenshot(str(path))


def frame_text(browser, element_id: str, tag: str) -> str:
    frame = browser.find_element(By.ID, element_id)
    browser.switch_to.frame(frame)
    try:
        return browser.find_element(By.TAG_NAME, tag).text
    finally:
        browser.switch_to.default_content()


def test_stream_editor_live_preview_works_under_the_policy(
    watched_browser, live_server, artifacts_dir, make_stream
):
    browser = watched_browser
    stream = make_stream(
        html=HTML, text=TEXT, sample_data={"order_id": "B-77", "url": "javascript:alert(1)"}
    )
    superuser(live_server, browser)

    browser.get(f"{live_server.url}/admin/streams/mailstream/{stream.pk}/change/")
    # The preview shows the whole email straight away, not only after a keystroke.
    assert frame_text(browser, "te-html", "h1") == "Hello Jane"
    subject = browser.find_element(By.NAME, "subject")
    subject.clear()
    subject.send_keys("Order {{ event.order_id }} is on its way")
    wait_in_browser(
        browser, lambda d: d.find_element(By.ID, "te-subject").text == "Order B-77 is on its way"
    )
    type_in_editor(browser, "html_source", "\n<p>Typed just now")
    wait_in_browser(browser, lambda d: "Typed just now" in frame_text(d, "te-html", "body"))
    sample = browser.find_element(By.NAME, "sample_data")
    sample.clear()
    sample.send_keys('{"order_id": "' + HOSTILE.replace('"', '\\"') + '"}')
    wait_in_browser(browser, lambda d: HOSTILE in d.find_element(By.ID, "te-text").text)
    browser.save_screenshot(str(artifacts_dir / "csp-stream-editor-superuser.png"))

    assert browser.find_element(By.ID, "te-html").get_attribute("sandbox") == ""
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src=x]")
    assert violations(browser) == []


def test_add_page_live_preview_shows_the_email_for_a_marketer(
    watched_browser, live_server, artifacts_dir, make_event
):
    browser = watched_browser
    event = make_event()
    marketer(live_server, browser)

    browser.get(f"{live_server.url}/admin/streams/mailstream/add/")
    browser.find_element(By.NAME, "subject").send_keys("Hello {{ contact.first_name }}")
    set_editor_text(
        browser,
        "html_source",
        '<html><body><h1 class="x">Hi {{ contact.first_name }}</h1></body></html>',
    )
    wait_in_browser(browser, lambda d: d.find_element(By.ID, "te-subject").text == "Hello Jane")
    assert frame_text(browser, "te-html", "h1") == "Hi Jane"
    browser.find_element(By.NAME, "name").send_keys("Welcome")
    Select(browser.find_element(By.NAME, "event")).select_by_value(str(event.pk))
    browser.find_element(By.NAME, "sender_email").send_keys("hello@example.com")
    browser.save_screenshot(str(artifacts_dir / "csp-stream-add-marketer.png"))
    browser.find_element(By.NAME, "_save").click()
    wait_in_browser(browser, lambda d: "was added successfully" in d.page_source)

    stream = MailStream.objects.get(name="Welcome")
    assert stream.versions.get().html_source.startswith("<html><body><h1")
    assert violations(browser) == []


@pytest.mark.parametrize("who", ["superuser", "marketer"])
def test_version_and_message_pages_show_the_whole_email(
    watched_browser, live_server, artifacts_dir, api, smtp_server, make_stream, make_contact, who
):
    browser = watched_browser
    stream = make_stream(html=HTML, text=TEXT, sample_data={"order_id": HOSTILE})
    make_contact("jane@example.org", first_name=HOSTILE)
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "B-1"}},
    )
    (superuser if who == "superuser" else marketer)(live_server, browser)

    browser.get(
        f"{live_server.url}/admin/streams/streamversion/{stream.current_version_id}/change/"
    )
    assert frame_text(browser, "te-version-html", "h1") == "Hello Jane"
    assert HOSTILE in browser.find_element(By.ID, "te-version-text").text
    screenshot(browser, "te-version-html", artifacts_dir / f"csp-version-page-{who}.png")

    browser.get(f"{live_server.url}/admin/delivery/message/{Message.objects.get().pk}/change/")
    assert frame_text(browser, "te-message-html", "h1") == f"Hello {HOSTILE}"
    assert browser.find_element(By.ID, "te-message-text").text == f"Hello {HOSTILE}, order B-1."
    screenshot(browser, "te-message-html", artifacts_dir / f"csp-message-page-{who}.png")

    browser.get(f"{live_server.url}/admin/streams/mailstream/{stream.pk}/change/")
    assert frame_text(browser, "te-html", "h1") == "Hello Jane"
    browser.save_screenshot(str(artifacts_dir / f"csp-stream-editor-{who}.png"))

    assert not browser.find_elements(By.CSS_SELECTOR, "img[src=x]")
    assert browser.execute_script("return document.title") != "alerted"
    assert violations(browser) == []


def test_django_admin_javascript_keeps_working_under_the_policy(
    watched_browser, live_server, make_stream
):
    browser = watched_browser
    stream = make_stream()
    superuser(live_server, browser)

    # Changelist actions: selecting a row enables the action bar's counter.
    browser.get(f"{live_server.url}/admin/streams/mailstream/")
    browser.find_element(By.CSS_SELECTOR, "input.action-select").click()
    wait_in_browser(
        browser, lambda d: "1 of 1 selected" in d.find_element(By.CLASS_NAME, "action-counter").text
    )

    # Inlines: "Add another" adds a row for a static attachment.
    browser.get(f"{live_server.url}/admin/streams/mailstream/{stream.pk}/change/")
    rows = len(browser.find_elements(By.CSS_SELECTOR, "#attachments-group tr.form-row"))
    browser.find_element(By.CSS_SELECTOR, "#attachments-group .add-row a").click()
    wait_in_browser(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#attachments-group tr.form-row")) == rows + 1
        ),
    )

    # Related-object popup: "add another event" opens a popup window.
    handles = set(browser.window_handles)
    browser.find_element(By.ID, "add_id_event").click()
    wait_in_browser(browser, lambda d: len(d.window_handles) == len(handles) + 1)
    [popup] = set(browser.window_handles) - handles
    browser.switch_to.window(popup)
    wait_in_browser(browser, lambda d: "_popup=1" in d.current_url)
    assert violations(browser) == []
    browser.close()
    browser.switch_to.window(next(iter(handles)))

    # Date and time shortcuts: the user page's "Today" and "Now" links are added by script.
    user = User.objects.get(username="root")
    browser.get(f"{live_server.url}/admin/auth/user/{user.pk}/change/")
    wait_in_browser(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".datetimeshortcuts a"))
    browser.find_element(By.CSS_SELECTOR, ".datetimeshortcuts a").click()

    assert violations(browser) == []
