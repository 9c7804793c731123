"""The demo setup `make run` seeds: an order-confirmation stream, a contact and a credential.

The benchmark uses the same template, so its numbers are for a realistic email.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from events.credentials import hash_token, issue_credential, rotate_token
from events.models import ApiCredential, Contact, ExternalEvent
from senders.demo import ensure_demo_domain
from streams.models import MailStream
from streams.versions import publish_version, save_draft

TEMPLATES = Path(__file__).resolve().parent
DEMO_EVENT = "order_confirmation"
DEMO_STREAM = "Order confirmation"
DEMO_CONTACT = "jane.doe@example.org"
DEMO_USERNAME = "demo"
ADMIN_USERNAME = "admin"

SAMPLE_DATA = {
    "order_id": "10042",
    "order_date": "2026-11-27",
    "currency": "EUR",
    "items": [
        {"name": "Espresso beans, 1 kg", "quantity": 2, "price": "24.90"},
        {"name": "Milk frother", "quantity": 1, "price": "39.00"},
    ],
    "total": "88.80",
    "order_url": "https://shop.example.com/orders/10042",
}


def template_html() -> str:
    return (TEMPLATES / "order_confirmation.html").read_text()


def template_text() -> str:
    return (TEMPLATES / "order_confirmation.txt").read_text()


DEMO_DOMAIN = "example.com"


def demo_sender() -> str:
    return f"orders@{DEMO_DOMAIN}"


def ensure_stream(event: ExternalEvent, name: str, **fields) -> MailStream:
    """A live stream with the demo template published (created once)."""
    ensure_demo_domain(DEMO_DOMAIN)
    stream, _ = MailStream.objects.get_or_create(
        name=name,
        defaults={
            "event": event,
            "sender_email": demo_sender(),
            "sender_name": "Demo Shop",
            **fields,
        },
    )
    if stream.current_version_id is None:
        draft = save_draft(
            stream,
            subject="Your order #{{ event.order_id }} is confirmed",
            html_source=template_html(),
            text=template_text(),
        )
        publish_version(draft)
    if stream.status != MailStream.Status.LIVE:
        stream.status = MailStream.Status.LIVE
        stream.save(update_fields=["status", "updated_at"])
    return stream


@dataclass
class DemoSetup:
    event_id: int
    stream_id: int
    contact_email: str
    username: str
    secret: str
    token: str
    admin_username: str
    admin_password: str


def _saved_credentials() -> dict:
    path = settings.VAR_DIR / "demo-credentials.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_credentials(values: dict) -> None:
    path = settings.VAR_DIR / "demo-credentials.json"
    path.write_text(json.dumps(values))
    path.chmod(0o600)


def seed() -> DemoSetup:
    """Create (or find) the demo data. Running it again changes nothing."""
    saved = _saved_credentials()
    with transaction.atomic():
        event, _ = ExternalEvent.objects.get_or_create(name=DEMO_EVENT)
        stream = ensure_stream(event, DEMO_STREAM)
        Contact.objects.get_or_create(
            email=DEMO_CONTACT,
            defaults={"first_name": "Jane", "last_name": "Doe", "external_id": "demo-1"},
        )
        credential = ApiCredential.objects.filter(username=DEMO_USERNAME).first()
        if credential is None:
            issued = issue_credential(DEMO_USERNAME, name="Demo client")
            secret, token = issued.secret, issued.token
        else:
            secret, token = credential.secret, saved.get("token", "")
            if not token or hash_token(token) != credential.token_hash:
                token = rotate_token(credential)

        admin_password = saved.get("admin_password") or secrets.token_urlsafe(12)
        User = get_user_model()
        admin = User.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            User.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", admin_password)
        elif not admin.check_password(admin_password):
            admin.set_password(admin_password)
            admin.save(update_fields=["password"])
    _save_credentials({"token": token, "admin_password": admin_password})
    return DemoSetup(
        event_id=event.pk,
        stream_id=stream.pk,
        contact_email=DEMO_CONTACT,
        username=DEMO_USERNAME,
        secret=secret,
        token=token,
        admin_username=ADMIN_USERNAME,
        admin_password=admin_password,
    )


def as_json(setup: DemoSetup) -> str:
    return json.dumps(asdict(setup))


def curl_command(setup: DemoSetup, base_url: str) -> str:
    body = json.dumps({"key_id": "3", "external_id": setup.contact_email, "data": SAMPLE_DATA})
    return (
        f"curl -sS -X POST {base_url}/api/v2/event/{setup.event_id}/trigger "
        f"-H 'Authorization: Token {setup.token}' -H 'Content-Type: application/json' "
        f"-d '{body}'"
    )
