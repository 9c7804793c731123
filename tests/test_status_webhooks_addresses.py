"""An endpoint URL cannot point the server at itself or at internal addresses (SSRF) unless an
operator allowed it for that subscription: refused when saved if the host is an address, and
checked again, every resolved address, when each request is made."""

import socket

import pytest
from django.core.exceptions import ValidationError

from status_webhooks import endpoint_addresses
from status_webhooks.lane import beat
from status_webhooks.models import WebhookAttempt, WebhookDelivery
from status_webhooks.subscriptions import create_subscription

pytestmark = pytest.mark.django_db

INTERNAL = [
    "http://127.0.0.1:8000/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0.0.0.0/",
    "http://localhost/",
    "http://app.localhost/",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_when_saved(url):
    with pytest.raises(ValidationError, match="not allowed"):
        create_subscription(url)


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.net/", "https://user:pw@hooks.example.net/", "https:///x", "x"]
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValidationError):
        create_subscription(url)


def test_an_operator_may_allow_internal_addresses():
    subscription = create_subscription("http://10.0.0.5/hook", allow_private=True)
    assert subscription.allow_private


@pytest.fixture
def dns(monkeypatch):
    """DNS answers for names under example.net (the one seam faked: DNS is outside)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(endpoint_addresses.socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def sent_event(make_stream, make_queued_messages):
    from delivery.models import DeliveryEvent

    def make():
        [message] = make_queued_messages(make_stream(), 1)
        return DeliveryEvent.objects.create(message=message, event_type="sent")

    return make


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["169.254.169.254"], ["93.184.215.14", "10.1.2.3"], ["::1"]],
    ids=["loopback", "metadata", "one-of-several-internal", "ipv6-loopback"],
)
def test_a_name_resolving_to_an_internal_address_is_refused_at_send_time(
    dns, sent_event, webhook_receiver, addresses
):
    dns["rebind.example.net"] = addresses
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    create_subscription(f"http://rebind.example.net:{port}/hooks/te")
    sent_event()

    beat()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "which is" in delivery.last_error
    assert delivery.attempt_log.get().outcome == WebhookAttempt.Outcome.REFUSED
    assert webhook_receiver.received == []


def test_the_request_goes_to_the_address_that_was_checked(dns, sent_event, webhook_receiver):
    """With the operator's permission a name that resolves to 127.0.0.1 is reached there, with
    the URL's host name in the Host header."""
    dns["hooks.internal.example.net"] = ["127.0.0.1"]
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    create_subscription(f"http://hooks.internal.example.net:{port}/in?x=1", allow_private=True)
    sent_event()

    beat()

    [request] = webhook_receiver.wait_for(1)
    assert request.headers["host"] == f"hooks.internal.example.net:{port}"
    assert request.path == "/in?x=1"
