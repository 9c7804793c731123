"""Realistic data for every model the admin and the dashboard show, built through the project's
own functions (the trigger API, publishing, suppressions, tracking, integrations, programs).

The page crawl seeds it with ordinary values; the hostile-values browser test passes a `text`
function that puts a hostile payload into every free-text field that reaches a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from delivery import rollups
from delivery.models import DeliveryEvent, Message
from delivery.sample_sends import send_test
from delivery.stream_control import pause_stream
from delivery.suppressions import suppress
from delivery.tracking import TrackedEvent, record_event
from events.credentials import issue_credential
from events.integrations.models import Integration
from events.integrations.presets import apply_preset
from events.integrations.receiving import receive_call
from events.models import Contact, ContactField, ExternalEvent
from events.programs.models import Program, ProgramRun, ProgramRunStep, ProgramStep
from senders.keys import ensure_keys, start_rotation
from senders.models import DnsRecordCheck, SenderDomain
from streams.attachments import attach_file
from streams.marketers import MARKETERS_GROUP
from streams.models import EmailCampaign, MailStream
from streams.versions import publish_version, save_draft

# text(key, ordinary value) -> the value to store. `key` names the field for failure messages.
TextFor = Callable[[str, str], str]

PASSWORD = "crawl-Password-123"
PREVIEW_MARK = "PREVIEW-CHECK"

HTML = (
    "<html><body><h1>" + PREVIEW_MARK + "</h1>"
    "<p>Hi {{ contact.first_name }} {{ contact.last_name }}, order #{{ event.order_id }}</p>"
    "<p>{{ event.note }}</p><p>{{ contact.fields.city }}</p>"
    '<a href="{{ event.order_url }}">your order</a>'
    "<table>{% for item in event.items %}<tr><td>{{ item.name }}</td></tr>{% endfor %}</table>"
    "</body></html>"
)
TEXT = PREVIEW_MARK + " Hi {{ contact.first_name }}, order #{{ event.order_id }}: {{ event.note }}"


def ordinary(key: str, value: str) -> str:
    return value


@dataclass
class Seeded:
    """What the seeding made: the objects tests open pages of."""

    superuser: Any
    marketer: Any
    event: ExternalEvent
    stream: MailStream
    broadcast: MailStream
    contact: Contact
    messages: dict[str, Message] = field(default_factory=dict)
    integrations: list[Integration] = field(default_factory=list)
    program: Program | None = None


def make_users(text: TextFor = ordinary) -> tuple[Any, Any]:
    """A superuser and a staff user in the Marketers group (the group migrate creates)."""
    User = get_user_model()
    superuser = User.objects.create_superuser("crawl-admin", "admin@example.com", PASSWORD)
    marketer = User.objects.create_user(
        "crawl-marketer",
        "marketer@example.com",
        PASSWORD,
        is_staff=True,
        first_name=text("user.first_name", "Mara")[:150],
    )
    marketer.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    return superuser, marketer


def seed_world(api: Any, smtp_server: Any, text: TextFor = ordinary) -> Seeded:
    """Seed every model; `api` is the test API client (tests.conftest.Api), `smtp_server` the
    real SMTP server the dedicated path sends to."""
    superuser, marketer = make_users(text)
    now = timezone.now()

    event = ExternalEvent.objects.create(name=text("event.name", "order_confirmation")[:255])
    other_event = ExternalEvent.objects.create(name="signup")
    contact = Contact.objects.create(
        email="jane@example.org",
        external_id=text("contact.external_id", "ext-1")[:255],
        first_name=text("contact.first_name", "Jane")[:200],
        last_name=text("contact.last_name", "Doe")[:200],
        fields={"city": text("contact.fields.city", "Berlin"), text("contact.fields key", "k"): 1},
        opt_in=True,
    )
    Contact.objects.create(email="bob@example.org", first_name="Bob", external_id="ext-2")
    ContactField.objects.create(
        id=4711,
        name="city",
        label=text("contact_field.label", "City")[:200],
        application_type=ContactField.Type.SHORTTEXT,
    )

    campaign = EmailCampaign.objects.create(
        name=text("campaign.name", "Spring sale")[:200],
        subject=text("campaign.subject", "Spring sale {{ contact.first_name }}")[:998],
        sender_name=text("campaign.sender_name", "Example Shop")[:200],
        sender_email="news@example.com",
        html=HTML,
        text=TEXT,
    )

    sample = {
        "order_id": text("stream.sample_data.order_id", "10042"),
        "note": text("stream.sample_data.note", "Thanks"),
        "order_url": text("stream.sample_data.order_url", "https://shop.example.com/o/1"),
        "items": [{"name": text("stream.sample_data.items.name", "Beans")}],
    }
    stream = MailStream.objects.create(
        name=text("stream.name", "Order confirmation")[:200],
        event=event,
        sender_email="orders@example.com",
        sender_name=text("stream.sender_name", "Example Shop")[:200],
        status=MailStream.Status.LIVE,
        sample_data=sample,
        sample_contact={"first_name": text("stream.sample_contact.first_name", "Sam")},
        source_campaign=campaign,
    )
    # Several versions: v1, v2 published, v3 a draft.
    for number in (1, 2):
        subject = text("version.subject", f"Order #{{{{ event.order_id }}}} (v{number})")[:998]
        publish_version(
            save_draft(stream, subject=subject, html_source=HTML, text=TEXT, author=superuser)
        )
    save_draft(stream, subject="Draft subject", html_source=HTML, text=TEXT, author=marketer)
    stream.refresh_from_db()
    attach_file(stream, text("stream attachment filename", "AGB.pdf")[:200], b"%PDF-1.4 terms")

    broadcast = MailStream.objects.create(
        name=text("broadcast.name", "Newsletter")[:200],
        kind=MailStream.Kind.BROADCAST,
        lane=MailStream.Lane.BULK,
        sender_email="news@example.com",
        esp_message_stream="broadcast",
        status=MailStream.Status.LIVE,
    )
    publish_version(save_draft(broadcast, subject="News", html_source=HTML, text=TEXT))
    broadcast.refresh_from_db()
    paused = MailStream.objects.create(
        name="Paused signup",
        event=other_event,
        sender_email="hello@example.com",
        status=MailStream.Status.LIVE,
        pause_policy=MailStream.PausePolicy.DISCARD,
    )
    publish_version(save_draft(paused, subject="Welcome", html_source=HTML, text=TEXT))
    MailStream.objects.create(name="Draft only", event=other_event, sender_email="a@example.com")

    seeded = Seeded(superuser, marketer, event, stream, broadcast, contact)
    data = {
        "order_id": text("trigger.data.order_id", "10042"),
        "note": text("trigger.data.note", "Thanks"),
        "order_url": text("trigger.data.order_url", "https://shop.example.com/o/1"),
        "items": [{"name": text("trigger.data.items.name", "Beans")}],
        text("trigger.data key", "extra"): text("trigger.data value", "value"),
    }

    # A sent message with a per-trigger attachment, through the API.
    pdf = base64.b64encode(b"%PDF-1.4 invoice").decode()
    response = api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {
            "key_id": "3",
            "external_id": contact.email,
            "trigger_id": text("trigger.trigger_id", "order-10042")[:255],
            "data": data,
            "attachment": [{"filename": text("trigger attachment filename", "R.pdf"), "data": pdf}],
        },
    )
    assert response.json()["replyCode"] == 0, response.content
    sent = Message.objects.filter(stream=stream).latest("pk")
    seeded.messages["sent"] = sent

    # A failed message (permanent refusal: a hard bounce that also suppresses the address).
    Contact.objects.create(email="gone@example.org", first_name="Gone", external_id="ext-3")
    # The MTA's reply becomes the message's last error, shown in the log and on the dashboard.
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 " + text(
        "SMTP reply (message.last_error)", "user unknown"
    )
    response = api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {"key_id": "3", "external_id": "gone@example.org", "data": data},
    )
    assert response.json()["replyCode"] == 0, response.content
    seeded.messages["failed"] = Message.objects.filter(recipient="gone@example.org").latest("pk")
    suppress(
        "gone@example.org",
        "hard_bounce",
        source_message=seeded.messages["failed"],
        note=text("suppression.note hard bounce", "550 user unknown"),
    )
    # Triggering the suppressed address again: skipped.
    api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {"key_id": "3", "external_id": "gone@example.org", "data": data},
    )
    seeded.messages["skipped"] = Message.objects.filter(
        recipient="gone@example.org", status=Message.Status.SKIPPED
    ).latest("pk")
    suppress(
        "complainer@example.org",
        "complaint",
        source_message=sent,
        note=text("suppression.note", "complained by mail"),
    )

    # A broadcast to an address outside the contact database.
    response = api.post(
        f"/api/v2/email/{broadcast.pk}/broadcast",
        {"email": "reader@example.net", "data": data},
    )
    assert response.json()["replyCode"] == 0, response.content
    seeded.messages["broadcast"] = Message.objects.filter(stream=broadcast).latest("pk")

    # Paused with "discard": a trigger is recorded as discarded.
    pause_stream(paused)
    api.post(
        f"/api/v2/event/{other_event.pk}/trigger",
        {"key_id": "3", "external_id": "bob@example.org", "data": data},
    )
    seeded.messages["discarded"] = Message.objects.filter(stream=paused).latest("pk")

    # Held, queued and sending: rows as the outbox has them at those moments.
    for status in (Message.Status.HELD, Message.Status.QUEUED, Message.Status.SENDING):
        seeded.messages[status] = Message.objects.create(
            trigger=sent.trigger,
            stream=stream,
            version=stream.current_version,
            contact=contact,
            recipient=contact.email,
            data=data,
            status=status,
            message_id=f"<{status}-{uuid.uuid4().hex}@example.com>",
            next_attempt_at=now + timedelta(hours=1),
            last_error=text("message.last_error", "") if status == "queued" else "",
        )
    # A test send (is_test) of the draft.
    send_test(stream, "tester@example.com", data=data)
    seeded.messages["test"] = Message.objects.filter(is_test=True).latest("pk")

    # ESP webhook events for the sent message: delivered, opened (user agent), clicked (URL).
    for kind, extra in (
        ("delivered", {"mta_response": text("delivery_event.mta_response", "250 OK")}),
        ("opened", {"user_agent": text("delivery_event.user_agent", "Mozilla/5.0")}),
        ("clicked", {"url": text("delivery_event.url", "https://shop.example.com/o/1")}),
        (
            "bounced",
            {
                "description": text("delivery_event.description", "mailbox full"),
                "bounce_kind": "soft",
            },
        ),
    ):
        record_event(
            sent,
            TrackedEvent(
                event_type=kind,
                occurred_at=now,
                provider="postmark",
                provider_event_id=f"pm-{kind}-{uuid.uuid4().hex}",
                recipient=sent.recipient,
                raw={"detail": text("delivery_event.raw", "raw")},
                **extra,
            ),
        )
    # One the provider reported for a message we do not know.
    record_event(None, TrackedEvent(event_type="complained", occurred_at=now, provider="postmark"))

    seed_sender_domains(text)
    seeded.integrations = seed_integrations(event, text)
    seeded.program = seed_program(other_event, stream, contact, sent, text)
    issue_credential("shop-backend-2", name=text("credential.name", "Shop backend"))
    seed_task_queue()
    seed_logins(text)
    seed_status_webhooks(stream, text)
    rollups.rebuild(days=2)
    assert DeliveryEvent.objects.exists()
    return seeded


def seed_sender_domains(text: TextFor = ordinary) -> SenderDomain:
    """A domain mid-rotation whose DKIM record went missing (flagged on the dashboard), with
    free text from DNS and from its operator. example.com exists already (tests.conftest)."""
    domain = SenderDomain.objects.create(name="mail.example.net")
    ensure_keys(domain)
    start_rotation(domain)
    domain.vouch(text("sender_domain.operator_note", "records managed by the DNS team"))
    SenderDomain.objects.filter(pk=domain.pk).update(checked_at=timezone.now(), records_ok=False)
    for kind, status in (("dkim", "missing"), ("spf", "wrong"), ("dkim_pending", "error")):
        DnsRecordCheck.objects.create(
            domain=domain,
            kind=kind,
            name=f"{kind}.mail.example.net",
            required=kind != "dkim_pending",
            status=status,
            reason=text(f"dns_record_check.reason.{kind}", "as found in DNS"),
        )
    return domain


def seed_status_webhooks(stream: MailStream, text: TextFor = ordinary) -> None:
    """Two subscriptions (one disabled automatically) with deliveries of the seeded events:
    one delivered, one failing with an endpoint's answer on record."""
    from status_webhooks.dispatching import dispatch
    from status_webhooks.http_requests import Answer
    from status_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
    from status_webhooks.sending import claim, record
    from status_webhooks.subscriptions import create_subscription

    create_subscription(
        "https://hooks.example.net/te",
        name=text("webhook subscription name", "Shop backend"),
        stream_ids=[stream.pk],
    )
    # Created before the seeded events so it gets them (a subscription gets what comes after).
    WebhookSubscription.objects.update(created_at=timezone.now() - timedelta(days=1))
    dispatch()
    answers = [
        (Answer(200, text("webhook answer", "ok"), 35), WebhookAttempt.Outcome.DELIVERED),
        (
            Answer(500, text("webhook error answer", "<h1>down</h1>"), 12),
            WebhookAttempt.Outcome.RETRY,
        ),
    ]
    for delivery, (answer, outcome) in zip(
        WebhookDelivery.objects.order_by("pk")[:2], answers, strict=True
    ):
        record(claim(delivery.pk, timezone.now()), answer, outcome, timezone.now())
    broken = create_subscription("https://broken.example.net/hook", event_types=["bounced"])
    WebhookSubscription.objects.filter(pk=broken.pk).update(
        enabled=False,
        disabled_at=timezone.now(),
        failing_since=timezone.now() - timedelta(days=6),
        disabled_reason="Disabled automatically: every delivery failed for 5 days.",
    )
    assert WebhookAttempt.objects.count() == 2


def seed_integrations(event: ExternalEvent, text: TextFor = ordinary) -> list[Integration]:
    """One integration of each preset, each with calls received (accepted and refused)."""
    made = []
    for preset in Integration.Preset.values:
        integration = Integration(
            name=text(f"integration.name {preset}", preset)[:200], event=event
        )
        apply_preset(integration, preset)
        integration.slug = preset.replace("_", "-")
        integration.secret = "s3cr3t-" + preset
        if preset == Integration.Preset.CUSTOM:
            integration.signature_header = "X-Signature"
            integration.recipient_path = "email"
            integration.trigger_id_path = "id"
            integration.data_paths = "order_id = order_id\nnote = note"
            integration.unknown_recipient = Integration.UnknownRecipient.CREATE
            integration.first_name_path = "name"
        integration.full_clean()
        integration.save()
        made.append(integration)

    custom = made[0]
    body = json.dumps(
        {
            "id": text("hook body id", "call-1"),
            "email": "hooked@example.org",
            "name": text("hook body name", "Hook"),
            "order_id": text("hook body order_id", "55"),
            "note": text("hook body note", "from the CRM"),
        }
    ).encode()
    signature = hmac.new(custom.secret.encode(), body, hashlib.sha256).hexdigest()
    receive_call(custom.slug, {"X-Signature": signature}, body)
    # Refused calls: a bad signature, and a body that is not JSON (its excerpt is kept).
    receive_call(custom.slug, {"X-Signature": "bad"}, body)
    junk = text("hook junk body", "not json").encode()
    receive_call(
        custom.slug,
        {"X-Signature": hmac.new(custom.secret.encode(), junk, hashlib.sha256).hexdigest()},
        junk,
    )
    for integration in made[1:]:
        receive_call(integration.slug, {}, b"{}")
    return made


def seed_program(
    event: ExternalEvent, stream: MailStream, contact: Contact, message: Message, text: TextFor
) -> Program:
    program = Program.objects.create(
        name=text("program.name", "Onboarding")[:200],
        entry_event=event,
        description=text("program.description", "Welcome new sign-ups"),
    )
    steps = [
        {"kind": ProgramStep.Kind.WAIT, "wait_for": timedelta(hours=1)},
        {
            "kind": ProgramStep.Kind.CONDITION,
            "subject": ProgramStep.Subject.DATA,
            "field": "plan",
            "operator": ProgramStep.Operator.EQUALS,
            "value": text("program step value", "pro")[:500],
        },
        {"kind": ProgramStep.Kind.SEND, "stream": stream},
        {"kind": ProgramStep.Kind.END},
    ]
    for position, fields in enumerate(steps, start=1):
        step = ProgramStep(program=program, position=position * 10, **fields)
        step.full_clean()
        step.save()
    for status in ProgramRun.Status.values:
        run = ProgramRun.objects.create(
            program=program,
            contact=contact,
            email=contact.email,
            position=10,
            status=status,
            data={"plan": text("program run data", "pro")},
            entry_trigger=message.trigger,
            last_error=text("program run last_error", "") if status == "failed" else "",
        )
    ProgramRunStep.objects.create(
        run=run,
        position=10,
        kind=ProgramStep.Kind.WAIT,
        description=text("program run step description", "wait 1:00:00")[:500],
        outcome=text("program run step outcome", "waited")[:500],
        trigger=message.trigger,
    )
    return program


def seed_task_queue() -> None:
    """django-q2's rows: a schedule, a successful and a failed task, a queued task."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    now = timezone.now()
    if not Schedule.objects.exists():
        Schedule.objects.create(
            name="crawl-sweep", func="math.floor", args="1.5", schedule_type=Schedule.HOURLY
        )
    for success in (True, False):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"crawl-task-{success}",
            func="math.floor",
            args=(1.5,),
            kwargs={},
            result=1 if success else "ValueError: boom",
            started=now,
            stopped=now,
            success=success,
            group="crawl",
            cluster="transactional",
        )
    task = {"id": uuid.uuid4().hex, "name": "crawl-queued", "func": "math.floor", "args": (1.5,)}
    OrmQ.objects.create(key="transactional", payload=SignedPackage.dumps(task), lock=now)


def seed_logins(text: TextFor = ordinary) -> None:
    """Admin logins as people make them: failed ones (a hostile username among them) and a
    successful one, so the login-throttling records (django-axes, when installed) exist."""
    from django.test import Client

    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=text("login user agent", "Firefox"))
    for username in ("crawl-admin", text("login username", "mallory")[:150]):
        client.post("/admin/login/", {"username": username, "password": "wrong"})
    client.post("/admin/login/", {"username": "crawl-admin", "password": PASSWORD})
    try:
        from axes.models import AccessFailureLog
    except ImportError:
        return
    # Written only with AXES_ENABLE_ACCESS_FAILURE_LOG, yet its admin is always registered.
    if not AccessFailureLog.objects.exists():
        AccessFailureLog.objects.create(
            username=text("login username", "mallory")[:150],
            ip_address="203.0.113.7",
            user_agent=text("login user agent", "Firefox")[:255],
            http_accept="text/html",
            path_info="/admin/login/",
            locked_out=False,
        )
