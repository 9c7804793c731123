"""Our own open pixel and click redirects on the SMTP path, through a real SMTP server."""

import base64
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from delivery.models import DeliveryEvent, Message

pytestmark = pytest.mark.django_db

HTML = """<html><head><style>a { color: #0f766e; }</style></head><body>
<p>Hi {{ contact.first_name }}</p>
<a href="https://shop.example.com/orders/{{ event.order_id }}?src=mail&amp;lang=en">Your order</a>
<a href='{{ event.reset_url }}' data-notrack>Reset your password</a>
<a class="help" href="https://help.example.com/">Help</a>
<a href="mailto:help@example.com">Write to us</a>
{% for item in event.items %}
<a href="https://shop.example.com/p/{{ item.sku }}">{{ item.name }}</a>{% endfor %}
</body></html>"""
TEXT = "Your order: https://shop.example.com/orders/{{ event.order_id }}"
DATA = {
    "order_id": "A-17",
    "reset_url": "https://id.example.com/reset?token=s3cr3t&user=7",
    "items": [{"sku": "beans", "name": "Beans"}, {"sku": "mug", "name": "Mug"}],
}


@pytest.fixture
def tracked_mail(api, smtp_server, make_stream, make_contact):
    """Send one message of a stream with open and click tracking; return the HTML received."""

    def send(track_opens=True, track_clicks=True):
        stream = make_stream(
            html=HTML, text=TEXT, track_opens=track_opens, track_clicks=track_clicks
        )
        make_contact("jane@example.org", first_name="Jane")
        response = api.post(
            f"/api/v2/event/{stream.event_id}/trigger",
            {"key_id": "3", "external_id": "jane@example.org", "data": DATA},
        )
        assert response.json()["replyCode"] == 0, response.content
        [mail] = smtp_server.wait_for(1)
        return mail, Message.objects.get()

    return send


def links(html: str) -> dict[str, str]:
    """Link text → href as written in the received HTML."""
    return {
        text: href
        for href, text in re.findall(r"""<a\b[^>]*?href=["']([^"']*)["'][^>]*>([^<]*)</a>""", html)
    }


def path_of(url: str) -> str:
    return urlsplit(url.replace("&amp;", "&")).path


def test_click_redirects_to_exactly_the_original_url_and_is_recorded(tracked_mail):
    mail, message = tracked_mail()
    html = mail.part("text/html")
    hrefs = links(html)

    assert hrefs["Your order"].startswith("http://127.0.0.1:8000/t/c/")
    response = Client().get(path_of(hrefs["Your order"]), HTTP_USER_AGENT="Mozilla/5.0 Test")

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/orders/A-17?src=mail&lang=en"
    click = message.events.get(event_type=DeliveryEvent.Type.CLICKED)
    assert click.url == "https://shop.example.com/orders/A-17?src=mail&lang=en"
    assert click.user_agent == "Mozilla/5.0 Test"
    assert click.provider == "tracking"
    message.refresh_from_db()
    assert message.clicked_at == click.occurred_at
    assert message.outcome == Message.Outcome.CLICKED


def test_each_click_is_recorded_and_links_in_loops_keep_their_own_urls(tracked_mail):
    mail, message = tracked_mail()
    hrefs = links(mail.part("text/html"))
    client = Client()

    beans = client.get(path_of(hrefs["Beans"]))
    mug = client.get(path_of(hrefs["Mug"]))
    again = client.get(path_of(hrefs["Beans"]))

    assert beans["Location"] == "https://shop.example.com/p/beans"
    assert mug["Location"] == "https://shop.example.com/p/mug"
    assert again["Location"] == "https://shop.example.com/p/beans"
    urls = list(message.events.filter(event_type="clicked").values_list("url", flat=True))
    assert sorted(urls) == [
        "https://shop.example.com/p/beans",
        "https://shop.example.com/p/beans",
        "https://shop.example.com/p/mug",
    ]


def test_pixel_records_the_first_open_only(tracked_mail):
    mail, message = tracked_mail()
    html = mail.part("text/html")
    [pixel] = re.findall(r'<img src="([^"]+/t/o/[^"]+)"', html)
    assert html.index(pixel) < html.index("</body>")

    first = Client().get(path_of(pixel), HTTP_USER_AGENT="Thunderbird/128")
    second = Client().get(path_of(pixel), HTTP_USER_AGENT="Thunderbird/128")

    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == "image/gif"
    assert first.content.startswith(b"GIF89a")
    [opened] = message.events.filter(event_type=DeliveryEvent.Type.OPENED)
    assert opened.user_agent == "Thunderbird/128"
    message.refresh_from_db()
    assert message.opened_at == opened.occurred_at


def test_untracked_links_stay_as_written(tracked_mail):
    mail, _ = tracked_mail()
    html = mail.part("text/html")
    hrefs = links(html)

    assert hrefs["Reset your password"] == "https://id.example.com/reset?token=s3cr3t&amp;user=7"
    assert hrefs["Write to us"] == "mailto:help@example.com"
    assert "data-notrack" not in html
    # The text part is never rewritten.
    assert mail.part("text/plain").strip() == "Your order: https://shop.example.com/orders/A-17"


def test_streams_without_tracking_send_links_and_no_pixel(tracked_mail):
    mail, _ = tracked_mail(track_opens=False, track_clicks=False)
    html = mail.part("text/html")

    assert links(html)["Help"] == "https://help.example.com/"
    assert "/t/o/" not in html and "/t/c/" not in html


def test_tampered_click_token_gets_404_and_records_nothing(tracked_mail):
    mail, message = tracked_mail()
    token = path_of(links(mail.part("text/html"))["Help"]).rsplit("/", 1)[1]
    key, encoded, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    responses = [
        Client().get(f"/t/c/{key}.{encoded}.{flipped}"),
        Client().get(f"/t/c/{key}.{encoded}"),
        Client().get("/t/c/not-a-token"),
        Client().get(f"/t/o/{key}.{flipped}.gif"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert not message.events.filter(event_type__in=["clicked", "opened"]).exists()
    message.refresh_from_db()
    assert (message.clicked_at, message.opened_at) == (None, None)


def test_foreign_url_in_a_token_gets_404_and_records_nothing(tracked_mail):
    mail, message = tracked_mail()
    token = path_of(links(mail.part("text/html"))["Help"]).rsplit("/", 1)[1]
    key, _, signature = token.split(".")
    foreign = base64.urlsafe_b64encode(b"https://evil.example.net/").rstrip(b"=").decode()

    response = Client().get(f"/t/c/{key}.{foreign}.{signature}")

    assert response.status_code == 404
    assert not message.events.filter(event_type="clicked").exists()


def test_link_of_another_message_cannot_be_moved_to_this_one(tracked_mail):
    mail, message = tracked_mail()
    token = path_of(links(mail.part("text/html"))["Help"]).rsplit("/", 1)[1]
    _, encoded, signature = token.split(".")
    other_key = format(message.pk + 1, "x")

    response = Client().get(f"/t/c/{other_key}.{encoded}.{signature}")

    assert response.status_code == 404
    assert not DeliveryEvent.objects.filter(event_type="clicked").exists()


def test_token_for_a_deleted_message_gets_404(tracked_mail):
    mail, message = tracked_mail()
    href = links(mail.part("text/html"))["Help"]
    message.delete()

    response = Client().get(path_of(href))

    assert response.status_code == 404
    assert not DeliveryEvent.objects.filter(event_type="clicked").exists()


def test_esp_is_told_not_to_track(settings, make_stream, make_contact, api):
    from django.core import mail as outbox

    settings.TRIGGERED_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    stream = make_stream(html=HTML, text=TEXT, track_opens=True, track_clicks=True)
    make_contact("jane@example.org")

    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": DATA},
    )

    [sent] = outbox.outbox
    assert sent.track_opens is False
    assert sent.track_clicks is False
    assert "/t/c/" in sent.alternatives[0][0]
