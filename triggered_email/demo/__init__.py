"""The demo setup `make run` seeds: live order-confirmation and password-reset streams with
sample data for their previews, an email campaign to copy into a new stream, a contact, a
credential, an admin login and 30 days of traffic history for the dashboard (demo.history).

The benchmark uses the order-confirmation template, so its numbers are for a realistic email.
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
from streams.models import EmailCampaign, MailStream
from streams.versions import publish_version, save_draft
from triggered_email.demo import history

TEMPLATES = Path(__file__).resolve().parent
DEMO_EVENT = "order_confirmation"
DEMO_STREAM = "Order confirmation"
DEMO_CONTACT = "jane.doe@example.org"
DEMO_USERNAME = "demo"
RESET_EVENT = "password_reset"
RESET_STREAM = "Password reset"
DEMO_CAMPAIGN = "Shipping notice (from the shop's newsletter tool)"
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


RESET_SAMPLE_DATA = {
    "account": "jane.doe",
    "reset_url": "https://shop.example.com/reset/3f9c2a7e",
    "valid_minutes": 30,
    "ip": "203.0.113.7",
}
SHIPPING_SAMPLE_DATA = {
    **SAMPLE_DATA,
    "carrier": "DHL",
    "tracking_url": "https://tracking.example.com/00340434161094042557",
}


def template_html(name: str = "order_confirmation") -> str:
    return (TEMPLATES / f"{name}.html").read_text()


def template_text(name: str = "order_confirmation") -> str:
    return (TEMPLATES / f"{name}.txt").read_text()


DEMO_DOMAIN = "example.com"


def demo_sender() -> str:
    return f"orders@{DEMO_DOMAIN}"


def ensure_stream(
    event: ExternalEvent,
    name: str,
    template: str = "order_confirmation",
    subject: str = "Your order #{{ event.order_id }} is confirmed",
    **fields,
) -> MailStream:
    """A live stream with a demo template published (created once)."""
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
            subject=subject,
            html_source=template_html(template),
            text=template_text(template),
        )
        publish_version(draft)
        stream.refresh_from_db()  # the published version became current in the database
    if stream.status != MailStream.Status.LIVE:
        stream.status = MailStream.Status.LIVE
        stream.save(update_fields=["status", "updated_at"])
    return stream


def _ensure_sample_data(samples: dict[MailStream, dict]) -> None:
    """Preview data on the demo streams (those of an older demo had none)."""
    for stream, sample in samples.items():
        if not stream.sample_data:
            stream.sample_data = sample
            stream.save(update_fields=["sample_data", "updated_at"])


def _ensure_campaign() -> EmailCampaign:
    """An existing campaign, as a marketer brings it from a newsletter tool: the admin's
    "Copy to a new mail stream" action turns it into a stream."""
    campaign, _ = EmailCampaign.objects.get_or_create(
        name=DEMO_CAMPAIGN,
        defaults={
            "subject": "Order #{{ event.order_id }} is on its way",
            "sender_name": "Demo Shop",
            "sender_email": demo_sender(),
            "html": template_html("shipping_notice"),
            "text": template_text("shipping_notice"),
        },
    )
    return campaign


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
        # Our own open and click tracking: its links point at SITE_URL (run_local --port).
        tracked = {"track_opens": True, "track_clicks": True}
        stream = ensure_stream(event, DEMO_STREAM, sample_data=SAMPLE_DATA, **tracked)
        reset_event, _ = ExternalEvent.objects.get_or_create(name=RESET_EVENT)
        reset = ensure_stream(
            reset_event,
            RESET_STREAM,
            template="password_reset",
            subject="Reset your password",
            sample_data=RESET_SAMPLE_DATA,
        )
        _ensure_sample_data({stream: SAMPLE_DATA, reset: RESET_SAMPLE_DATA})
        _ensure_campaign()
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
    history.generate(
        [
            history.Traffic(stream, per_day=70, data="order"),
            history.Traffic(reset, per_day=40, data="reset"),
        ]
    )
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
