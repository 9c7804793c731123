"""Client systems manage their status webhook subscriptions over the API: create (the secret in
that one answer), list, read, delete; internal URLs and junk are refused with an envelope."""

import pytest

from status_webhooks.models import WebhookSubscription

pytestmark = pytest.mark.django_db


def test_create_answers_with_the_secret_once(api, make_stream):
    stream = make_stream()
    created = api.post(
        "/api/v2/webhook",
        {"url": "https://hooks.example.net/te", "events": ["delivered"], "streams": [stream.pk]},
    ).json()
    assert created["replyCode"] == 0
    data = created["data"]
    subscription = WebhookSubscription.objects.get(pk=data["id"])
    assert data["secret"] == subscription.secret
    assert data["events"] == ["delivered"] and data["streams"] == [stream.pk]

    shown = api.get(f"/api/v2/webhook/{subscription.pk}").json()["data"]
    listed = api.get("/api/v2/webhook").json()["data"]
    assert "secret" not in shown and all("secret" not in s for s in listed)
    assert shown["url"] == "https://hooks.example.net/te"


def test_the_api_cannot_allow_internal_addresses(api):
    reply = api.post(
        "/api/v2/webhook", {"url": "http://169.254.169.254/latest", "allow_private": True}
    )
    assert reply.status_code == 400
    assert "not allowed" in reply.json()["replyText"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": 5},
        {"url": "https://hooks.example.net/", "events": "sent"},
        {"url": "https://hooks.example.net/", "events": ["nope"]},
        {"url": "https://hooks.example.net/", "streams": [999999]},
        {"url": "https://hooks.example.net/", "streams": [True]},
        {"url": "https://hooks.example.net/", "external_events": [2**70]},
        {"url": "https://hooks.example.net/\x00"},
        {"url": "https://hooks.example.net/" + "a" * 3000},
    ],
)
def test_junk_is_a_400_envelope(api, body):
    reply = api.post("/api/v2/webhook", body)
    assert reply.status_code == 400
    assert reply.json()["replyCode"] != 0
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("junk", ["999999", "abc", "-1", "1e3", "٣"])
def test_unknown_ids_are_404(api, junk):
    assert api.get(f"/api/v2/webhook/{junk}").status_code == 404
    assert api.post(f"/api/v2/webhook/{junk}/delete").status_code == 404


def test_delete(api):
    data = api.post("/api/v2/webhook", {"url": "https://hooks.example.net/te"}).json()["data"]
    reply = api.post(f"/api/v2/webhook/{data['id']}/delete")
    assert reply.json()["data"] == {"id": data["id"]}
    assert not WebhookSubscription.objects.exists()


def test_without_credentials_nothing(anonymous_api):
    assert anonymous_api.get("/api/v2/webhook").status_code == 401
    assert anonymous_api.post("/api/v2/webhook", {"url": "https://x.example"}).status_code == 401
