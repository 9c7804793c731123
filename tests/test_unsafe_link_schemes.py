"""URLs that event data puts into href/src keep only http, https, mailto (and tel:, cid:,
relative links and #fragments): anything else is dropped from the rendered HTML of every
message — sent mail, tracked mail, test sends, previews and the message log."""

import re

import pytest

from delivery.models import Message
from delivery.sample_sends import send_test
from streams.previewing import preview_draft
from streams.safe_links import drop_unsafe_urls

pytestmark = pytest.mark.django_db

HTML = """<html><body>
<p><a href="{{ event.url }}">Go</a> <img src="{{ event.img }}" alt="pic"></p>
<table background="{{ event.img }}"><tr><td>x</td></tr></table>
<p><a href="https://shop.example.com/">Shop</a></p>
</body></html>"""
TEXT = "Go to {{ event.url }}"

UNSAFE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "livescript:alert(1)",
    "\u2028javascript:alert(1)",
    "\ue000javascript:alert(1)\ue001",
]
WRITTEN_UNSAFE = [
    "jav&#x09;ascript:alert(1)",
    "jav&#9;ascript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A&#x61vascript:alert(1)",
    "javascript&colon;alert(1)",
    "&#14;javascript:alert(1)",
]
SAFE = [
    "https://shop.example.com/a?b=1&amp;c=2",
    "http://shop.example.com/",
    "HTTPS://SHOP.EXAMPLE.COM/",
    "mailto:help@example.com",
    "tel:+491234",
    "cid:logo",
    "#top",
    "/orders/1",
    "orders/1?x=y",
    "//cdn.example.com/x.png",
    "",
]


@pytest.mark.parametrize(
    ("url", "quote"),
    [
        (url, quote)
        for url in UNSAFE + WRITTEN_UNSAFE
        for quote in ('"', "'", "")
        # An unquoted value ends at whitespace: those cannot be written unquoted.
        if quote or not any(c in url for c in " \t\n\x01\u2028<>")
    ],
)
def test_unsafe_urls_are_dropped_from_the_attribute(url, quote):
    html = f"<p><a href={quote}{url}{quote}>Go</a><img src={quote}{url}{quote} alt=x></p>"

    cleaned = drop_unsafe_urls(html)

    assert cleaned == "<p><a>Go</a><img alt=x></p>"


@pytest.mark.parametrize("url", SAFE)
def test_safe_urls_stay_exactly_as_written(url):
    html = f'<p><a class="x" href="{url}">Go</a><img src="{url}"></p>'

    assert drop_unsafe_urls(html) == html


def test_text_that_only_looks_like_an_attribute_is_left_alone():
    html = "<p>Write href: javascript is not a link</p>"

    assert drop_unsafe_urls(html) == html


def send(api, make_stream, make_contact, url, **stream_fields):
    stream = make_stream(html=HTML, text=TEXT, **stream_fields)
    make_contact("jane@example.org")
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"url": url, "img": url}},
    )
    assert response.json()["replyCode"] == 0
    return stream


@pytest.mark.parametrize("tracking", [False, True], ids=["untracked", "tracked"])
def test_sent_mail_has_no_javascript_link_from_event_data(
    api, smtp_server, make_stream, make_contact, tracking
):
    send(
        api,
        make_stream,
        make_contact,
        "javascript:alert(document.domain)",
        track_clicks=tracking,
        track_opens=tracking,
    )

    [mail] = smtp_server.wait_for(1)
    html = mail.part("text/html")
    assert "javascript" not in html.lower()
    assert "<a>Go</a>" in html
    assert '<img alt="pic">' in html
    assert "<table>" in html
    assert re.search(r'<a href="https?://[^"]+">Shop</a>', html)
    # The text part is plain text, not a link: it stays as the data had it.
    assert "javascript:alert(document.domain)" in mail.part("text/plain")


def test_safe_links_from_event_data_are_kept(api, smtp_server, make_stream, make_contact):
    send(api, make_stream, make_contact, "https://shop.example.com/track?id=7")

    [mail] = smtp_server.wait_for(1)
    assert '<a href="https://shop.example.com/track?id=7">Go</a>' in mail.part("text/html")


def test_test_sends_drop_unsafe_links(smtp_server, make_stream):
    stream = make_stream(html=HTML, text=TEXT, sample_data={"url": "javascript:alert(1)"})

    result = send_test(stream, "qa@example.com")

    assert result.sent
    [mail] = smtp_server.wait_for(1)
    assert "javascript" not in mail.part("text/html")


def test_previews_and_the_message_log_drop_unsafe_links(
    admin_client, api, smtp_server, make_stream, make_contact
):
    preview = preview_draft(
        subject="s", html=HTML, text=TEXT, data={"url": "javascript:alert(1)"}, contact=None
    )
    assert preview.ok
    assert "javascript" not in preview.html
    assert "<a>Go</a>" in preview.html

    send(api, make_stream, make_contact, "vbscript:msgbox(1)")
    page = admin_client.get(f"/admin/delivery/message/{Message.objects.get().pk}/change/")
    page = page.content.decode()
    assert "href=&quot;https://shop.example.com/&quot;" in page
    assert "href=&quot;vbscript" not in page and 'href="vbscript' not in page


def test_a_template_written_in_upper_case_with_spaces_is_covered_too(
    api, smtp_server, make_stream, make_contact
):
    # The filter relies on stored templates being written out by the cleaner (lower-case
    # names, `name="value"`): check that a template written otherwise is.
    stream = make_stream(
        html='<html><body><A HREF = "{{ event.url }}">Go</A><IMG SRC={{ event.img }}>'
        "</body></html>",
        text="",
    )
    make_contact("jane@example.org")
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {
            "key_id": "3",
            "external_id": "jane@example.org",
            "data": {"url": "javascript:alert(1)", "img": "javascript:alert(2)"},
        },
    )

    [mail] = smtp_server.wait_for(1)
    html = mail.part("text/html")
    assert "javascript" not in html.lower()
    assert "<a>Go</a>" in html
