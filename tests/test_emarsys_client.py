"""An existing Emarsys integration, moved here by changing only its base URL and credentials.

`EmarsysClient` is written the way third-party Emarsys SDKs write theirs (PHP's and Python's
clients on GitHub and PyPI): a base URL ending in `api/v2/`, endpoint paths with a trailing
slash (`contact/`, `event/1/trigger/`), a fresh X-WSSE UsernameToken per request with `Created`
as PHP's `date('c')` gives it and the digest as base64 of the SHA-1 *hex* string, JSON bodies,
`data` sent as a JSON string, `key_id` left out where Emarsys defaults it to the email field,
and field ids sometimes as strings and sometimes as numbers. It talks real HTTP to the live
server and goes through every call of the README's API table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from delivery.models import Message
from events.credentials import issue_credential
from events.models import Contact, ExternalEvent
from streams.models import MailStream

pytestmark = pytest.mark.django_db(transaction=True)


class EmarsysError(Exception):
    def __init__(self, status: int, reply_code: int, reply_text: str):
        super().__init__(f"{status} {reply_code} {reply_text}")
        self.status = status
        self.reply_code = reply_code


class EmarsysClient:
    """A minimal Emarsys v2 client, as SDKs write it."""

    def __init__(self, base_url: str, username: str, secret: str):
        self.base_url = base_url.rstrip("/") + "/api/v2/"
        self.username = username
        self.secret = secret
        self.session = requests.Session()

    def _wsse(self) -> str:
        nonce = hashlib.md5(os.urandom(16)).hexdigest()  # noqa: S324 - a nonce, not a hash
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        digest = base64.b64encode(
            hashlib.sha1((nonce + created + self.secret).encode()).hexdigest().encode()  # noqa: S324
        ).decode()
        return (
            f'UsernameToken Username="{self.username}", PasswordDigest="{digest}", '
            f'Nonce="{nonce}", Created="{created}"'
        )

    def request(self, method: str, endpoint: str, body: Any = None, **params: Any) -> Any:
        headers = {"X-WSSE": self._wsse(), "Content-Type": "application/json"}
        response = self.session.request(
            method,
            self.base_url + endpoint,
            data=json.dumps(body) if body is not None else None,
            params=params or None,
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )
        assert not response.is_redirect, (endpoint, response.status_code)
        envelope = response.json()
        if envelope["replyCode"] != 0:
            raise EmarsysError(response.status_code, envelope["replyCode"], envelope["replyText"])
        return envelope["data"]

    # Account and fields
    def settings(self) -> dict:
        return self.request("GET", "settings/")

    def fields(self) -> list:
        return self.request("GET", "field/")

    def create_field(self, name: str, **extra: Any) -> dict:
        return self.request("POST", "field/", {"name": name, **extra})

    # Contacts
    def create_contact(self, fields: dict) -> dict:
        return self.request("POST", "contact/", fields)

    def update_contact(self, fields: dict, create_if_not_exists: bool = False) -> dict:
        params = {"create_if_not_exists": 1} if create_if_not_exists else {}
        return self.request("PUT", "contact/", fields, **params)

    def update_contacts(self, key_id: Any, contacts: list[dict]) -> dict:
        return self.request("PUT", "contact/", {"key_id": key_id, "contacts": contacts})

    def get_contact_data(self, key_values: list, fields: list, key_id: Any = "3") -> dict:
        body = {"keyId": key_id, "keyValues": key_values, "fields": fields}
        return self.request("POST", "contact/getdata/", body)

    def check_ids(self, external_ids: list) -> dict:
        return self.request("POST", "contact/checkids/", {"external_ids": external_ids})

    def delete_contact(self, email: str) -> dict:
        return self.request("POST", "contact/delete/", {"key_id": 3, "3": email})

    # Events
    def events(self) -> list:
        return self.request("GET", "event/")

    def create_event(self, name: str) -> dict:
        return self.request("POST", "event/", {"name": name})

    def event(self, event_id: int) -> dict:
        return self.request("GET", f"event/{event_id}/")

    def rename_event(self, event_id: int, name: str) -> dict:
        return self.request("POST", f"event/{event_id}/", {"name": name})

    def event_usages(self, event_id: int) -> dict:
        return self.request("GET", f"event/{event_id}/usages/")

    def delete_event(self, event_id: int) -> dict:
        return self.request("POST", f"event/{event_id}/delete/")

    def trigger(self, event_id: int, email: str, data: dict) -> dict:
        # key_id left out (Emarsys: the email field), data as a JSON string.
        body = {"external_id": email, "data": json.dumps(data)}
        return self.request("POST", f"event/{event_id}/trigger/", body)

    def trigger_batch(self, event_id: int, contacts: list[tuple[str, dict]]) -> dict:
        body = {
            "key_id": 3,
            "contacts": [{"external_id": e, "data": json.dumps(d)} for e, d in contacts],
        }
        return self.request("POST", f"event/{event_id}/trigger/", body)

    def broadcast(self, stream_id: int, email: str, data: dict) -> dict:
        return self.request("POST", f"email/{stream_id}/broadcast/", {"email": email, "data": data})

    def message(self, message_id: int) -> dict:
        return self.request("GET", f"message/{message_id}/")


@pytest.fixture
def client(live_server) -> EmarsysClient:
    issued = issue_credential("legacy-shop")
    return EmarsysClient(live_server.url, issued.username, issued.secret)


def test_account_and_field_calls(client):
    settings = client.settings()
    assert settings["total_contacts"] == 0
    assert "timezone" in settings

    created = client.create_field("Loyalty number", id=4711, unique=True)
    assert created == {"id": 4711}
    fields = {f["id"]: f["string_id"] for f in client.fields()}
    assert fields[1] == "first_name" and fields[3] == "email" and fields[4711] == "loyalty_number"


def test_contact_calls_with_field_ids_as_strings_and_numbers(client):
    client.create_field("Loyalty number", id=4711, unique=True)

    created = client.create_contact({"key_id": "3", "3": "jane@example.org", "1": "Jane"})
    [jane_id] = created["ids"]
    with pytest.raises(EmarsysError) as exists:
        client.create_contact({"3": "jane@example.org"})
    assert (exists.value.status, exists.value.reply_code) == (400, 2009)

    with pytest.raises(EmarsysError) as unknown:
        client.update_contact({"3": "john@example.org", "1": "John"})
    assert unknown.value.reply_code == 2008
    client.update_contact({"3": "john@example.org", "1": "John"}, create_if_not_exists=True)

    updated = client.update_contacts(
        3, [{"3": "jane@example.org", "2": "Doe", "4711": 1001}, {"3": "nobody@example.org"}]
    )
    assert updated["ids"] == [jane_id]
    assert list(updated["errors"]["nobody@example.org"]) == ["2008"]

    data = client.get_contact_data(["jane@example.org"], fields=[1, "2", 3, "4711"])
    assert data["result"] == [
        {"id": jane_id, "1": "Jane", "2": "Doe", "3": "jane@example.org", "4711": "1001"}
    ]
    by_custom_key = client.get_contact_data(["1001"], fields=["3"], key_id=4711)
    assert by_custom_key["result"][0]["3"] == "jane@example.org"

    ids = client.check_ids(["jane@example.org", "x@example.org"])
    assert ids["ids"] == {"jane@example.org": jane_id}
    assert "2008" in ids["errors"]["x@example.org"]

    assert client.delete_contact("john@example.org") == {"deleted_contacts": 1}
    assert list(Contact.objects.values_list("email", flat=True)) == ["jane@example.org"]


def test_event_trigger_broadcast_and_message_calls(client, smtp_server, make_stream):
    event = client.create_event("password_reset")
    assert client.event(event["id"]) == event
    assert client.rename_event(event["id"], "password_reset_v2")["name"] == "password_reset_v2"
    assert event["id"] in [e["id"] for e in client.events()]
    stream = make_stream(
        event=ExternalEvent.objects.get(pk=event["id"]), subject="Reset for {{ event.user }}"
    )
    assert [s["id"] for s in client.event_usages(event["id"])["streams"]] == [stream.pk]
    client.create_contact({"3": "jane@example.org"})
    client.create_contact({"3": "john@example.org"})

    single = client.trigger(event["id"], "jane@example.org", {"user": "jane"})
    batch = client.trigger_batch(
        event["id"], [("john@example.org", {"user": "john"}), ("nobody@example.org", {})]
    )
    assert len(batch["ids"]) == 1
    assert list(batch["errors"]["nobody@example.org"]) == ["2008"]

    [message] = single["messages"]
    assert client.message(message["id"])["recipient"] == "jane@example.org"
    mails = smtp_server.wait_for(2)
    assert sorted(m.message["Subject"] for m in mails) == ["Reset for jane", "Reset for john"]
    assert Message.objects.filter(status=Message.Status.SENT).count() == 2

    news = make_stream(name="News", kind=MailStream.Kind.BROADCAST, subject="Hi {{ event.n }}")
    sent = client.broadcast(news.pk, "reader@example.org", {"n": 1})
    assert sent["messages"][0]["recipient"] == "reader@example.org"

    spare = client.create_event("unused")
    assert client.delete_event(spare["id"]) == {"id": spare["id"]}


def test_the_readme_table_lists_every_routed_call_with_its_reply_codes():
    import re
    from pathlib import Path

    from django.urls import URLPattern

    from events.api import urls as api_urls

    def shape(route: str) -> str:
        return re.sub(r"\{\w*\}", "{}", route)

    routed = set()
    for pattern in api_urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name == "not-found":
            continue
        route = shape("/api/" + re.sub(r"<\w+:(\w+)>", r"{\1}", str(pattern.pattern)))
        view = pattern.callback.view_class
        routed |= {(m.upper(), route) for m in ("get", "post", "put") if hasattr(view, m)}
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("| call | body | reply codes |")
    rows = readme[start:].split("\n\n", 1)[0].splitlines()[2:]
    listed = set()
    for row in rows:
        call, _body, codes = (cell.strip() for cell in row.strip("|").rsplit("|", 2))
        assert codes, row
        for methods, route in re.findall(r"`([A-Z/]+) (/api/v2/[^`]*)`", call):
            listed |= {(method, shape(route)) for method in methods.split("/")}

    assert listed == routed
