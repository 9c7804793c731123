"""Rendered emails shown in the admin cannot run script: the text part is escaped wherever it is
printed, and the HTML part stays inside its sandboxed iframe (whole, not cut at its first quote).

Hostile values come the ways users and attackers bring them: a signed Shopify order, API event
data, a contact's name, the marketer's sample data and the marketer's own template.
"""

import json
from html.parser import HTMLParser

import pytest

from delivery.models import Message
from events.models import Integration
from streams.models import StreamVersion
from streams.previewing import preview_draft
from streams.rendering import build_context, check_template, render_version
from tests.hooks_support import make_integration, payload, post_hook, shopify_signature

pytestmark = pytest.mark.django_db

HOSTILE = "<img src=x onerror=alert(document.domain)>"
ESCAPED = "&lt;img src=x onerror=alert(document.domain)&gt;"
TEXT = "Hi {{ contact.first_name }}, order {{ event.order_id }}."
HTML = """<!DOCTYPE html>
<html><head><style>p.greeting { color: #0f766e; }</style></head>
<body><p class="greeting" title="a &quot;quoted&quot; title">Hi {{ contact.first_name }},</p>
<p>Order {{ event.order_id }}</p></body></html>"""


class PageElements(HTMLParser):
    """The elements of the admin page itself (an iframe's srcdoc is an attribute, not elements),
    and the attributes of each iframe."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open_id: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag == "pre" and "id" in attributes:
            self._open_id = attributes["id"]
            self.text_by_id[self._open_id] = ""

    def handle_endtag(self, tag):
        if tag == "pre":
            self._open_id = None

    def handle_data(self, data):
        if self._open_id:
            self.text_by_id[self._open_id] += data

    def handlers(self) -> list[tuple[str, str]]:
        return [
            (tag, name) for tag, attrs in self.elements for name in attrs if name.startswith("on")
        ]

    def srcdoc(self, element_id: str) -> str:
        [attrs] = [a for tag, a in self.elements if tag == "iframe" and a.get("id") == element_id]
        assert attrs["sandbox"] == ""
        return attrs["srcdoc"]


def assert_nothing_runs(page: str) -> PageElements:
    elements = PageElements(page)
    assert HOSTILE not in page
    assert elements.handlers() == []
    assert not [
        attrs for tag, attrs in elements.elements if tag == "img" and attrs.get("src") == "x"
    ]
    return elements


def message_page(client, message: Message) -> str:
    response = client.get(f"/admin/delivery/message/{message.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_rendered_parts_are_plain_strings_never_marked_safe(make_stream):
    stream = make_stream(html=HTML, text=TEXT)
    context = build_context(data={"order_id": HOSTILE}, contact={"first_name": HOSTILE})

    sent = render_version(stream.current_version, context)
    checked = check_template("Hi {{ contact.first_name }}", HTML, TEXT, context)
    previewed = preview_draft(
        subject="Hi", html=HTML, text=TEXT, data={"order_id": HOSTILE}, contact=None
    )

    for rendered in (sent, checked, previewed):
        assert {type(rendered.subject), type(rendered.html), type(rendered.text)} == {str}
    # The text part is the data as written (it is plain text); escaping is the page's job.
    assert HOSTILE in sent.text


def test_shopify_customer_name_in_the_text_part_does_not_run_on_the_message_page(
    admin_client, client, django_capture_on_commit_callbacks, smtp_server, make_event, make_stream
):
    event = make_event("shopify_order_created")
    make_stream(event, subject="Your order {{ event.name }}", html=HTML, text=TEXT)
    secret = "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"
    make_integration(event, Integration.Preset.SHOPIFY_ORDER, slug="shopify-orders", secret=secret)
    order = json.loads(payload("shopify_orders_create.json"))
    order["customer"]["first_name"] = HOSTILE
    body = json.dumps(order).encode()

    response = post_hook(
        client,
        django_capture_on_commit_callbacks,
        "shopify-orders",
        body,
        **{
            "X-Shopify-Hmac-Sha256": shopify_signature(secret, body),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        },
    )
    assert response.status_code == 200, response.content

    elements = assert_nothing_runs(message_page(admin_client, Message.objects.get()))
    assert elements.text_by_id["te-message-text"] == f"Hi {HOSTILE}, order ."


def test_api_event_data_and_contact_name_in_the_text_part_are_shown_as_text(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream(html=HTML, text=TEXT)
    make_contact("jane@example.org", first_name=HOSTILE)

    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": HOSTILE}},
    )

    page = message_page(admin_client, Message.objects.get())
    elements = assert_nothing_runs(page)
    assert elements.text_by_id["te-message-text"] == f"Hi {HOSTILE}, order {HOSTILE}."
    assert ESCAPED in page


def test_message_page_iframe_holds_the_whole_email(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream(html=HTML, text=TEXT)
    make_contact("jane@example.org")
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "B-77"}},
    )

    srcdoc = PageElements(message_page(admin_client, Message.objects.get())).srcdoc(
        "te-message-html"
    )

    # Before, the attribute ended at the first quote of the email: `<p class=`.
    assert srcdoc.startswith("<!DOCTYPE html>")
    assert 'style="color:#0f766e"' in srcdoc
    assert "<p>Order B-77</p>" in srcdoc
    assert srcdoc.rstrip().endswith("</html>")


def test_sample_data_in_the_stream_editor_preview_is_shown_as_text(admin_client, make_stream):
    stream = make_stream(
        html=HTML,
        text=TEXT,
        sample_data={"order_id": HOSTILE},
        sample_contact={"first_name": HOSTILE},
    )

    response = admin_client.get(f"/admin/streams/mailstream/{stream.pk}/change/")

    elements = assert_nothing_runs(response.content.decode())
    assert elements.text_by_id["te-text"] == f"Hi {HOSTILE}, order {HOSTILE}."
    srcdoc = elements.srcdoc("te-html")
    assert 'style="color:#0f766e"' in srcdoc
    assert f"Order {ESCAPED}" in srcdoc


def test_version_page_shows_the_whole_email_and_its_text_as_text(admin_client, make_stream):
    stream = make_stream(html=HTML, text=TEXT, sample_data={"order_id": HOSTILE})

    response = admin_client.get(f"/admin/streams/streamversion/{stream.current_version.pk}/change/")

    elements = assert_nothing_runs(response.content.decode())
    assert elements.text_by_id["te-version-text"] == f"Hi Jane, order {HOSTILE}."
    srcdoc = elements.srcdoc("te-version-html")
    assert srcdoc.startswith("<!DOCTYPE html>")
    assert """title='a "quoted" title'""" in srcdoc
    assert srcdoc.rstrip().endswith("</html>")


def test_a_comment_in_the_template_cannot_close_the_preview_iframe(admin_client, make_stream):
    breakout = '<!-- </iframe><img src="x"/onerror=alert(1)> -->'
    stream = make_stream(html=f"<html><body><p>Hello</p>{breakout}</body></html>", text="")
    version = stream.current_version
    # Also as stored before the cleaner learnt to drop it: the page must not depend on it.
    stored = f"<html><body><p>Hello</p>{breakout}</body></html>"
    StreamVersion.objects.filter(pk=version.pk).update(html_source=stored, html_inlined=stored)

    for url in (
        f"/admin/streams/streamversion/{version.pk}/change/",
        f"/admin/streams/mailstream/{stream.pk}/change/",
    ):
        page = admin_client.get(url).content.decode()
        assert_nothing_runs(page)
        assert '<img src="x"/onerror' not in page
