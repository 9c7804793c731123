"""Receiving a third-party webhook: verify the sender, map its JSON body to a trigger, log it.

A call is answered 2xx only once its trigger is committed (the sender then stops retrying); the
sender's retries of the same business event (same `trigger_id` value) are accepted and send
nothing again. Every call that names an existing integration is logged with its outcome.

Recipients not in the contact database: with the default policy the contact is created from the
payload (email, and first/last name where the integration says where they are), because an order
confirmation must reach a first-time buyer. Existing contacts are never changed by a webhook: the
contact database (and its API) stays the source of truth. The other policy refuses such calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from events.contacts import (
    ContactChanges,
    ContactDataError,
    KeyField,
    find_contacts,
    normalise_key_value,
    upsert_contact,
)
from events.integrations.models import Integration, IntegrationCall
from events.integrations.signatures import SignatureError, verify_signature
from events.json_bodies import (
    JsonBodyError,
    load_json,
    may_hold_non_finite,
    non_finite_path,
    non_finite_text,
    unstorable_character,
)
from events.json_paths import read_path
from events.models import Contact, Trigger
from events.reply_codes import ReplyCode, ReplyError
from events.triggering import TriggerItem, TriggerResult, trigger_event

Outcome = IntegrationCall.Outcome
EXCERPT_CHARS = 2000


@dataclass
class CallAnswer:
    """What to answer the sender, and what was logged."""

    http_status: int
    outcome: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "detail": self.detail, **self.extra}


class Refusal(Exception):
    def __init__(self, outcome: str, http_status: int, detail: str, keep_body: bool = True):
        super().__init__(detail)
        self.outcome = outcome
        self.http_status = http_status
        self.detail = detail
        self.keep_body = keep_body


@dataclass(frozen=True)
class MappedCall:
    key_field: KeyField
    recipient: str
    trigger_id: str
    data: dict[str, Any]


# --- the steps of receiving -------------------------------------------------------------------


def receive_call(
    slug: str,
    headers: Any,
    body: bytes,
    *,
    size: int | None = None,
    now: datetime | None = None,
) -> CallAnswer | None:
    """Handle one call to /hooks/<slug>/; None if no integration has this slug.

    `size` is the declared length when the body was too large to be read at all.
    """
    now = now or timezone.now()
    size = len(body) if size is None else size
    integration = Integration.objects.select_related("event").filter(slug=slug).first()
    if integration is None:
        return None
    try:
        if not integration.is_enabled:
            raise Refusal(Outcome.DISABLED, 404, "This integration is disabled.", keep_body=False)
        limit = settings.INTEGRATION_MAX_BODY_BYTES
        if size > limit:
            raise Refusal(
                Outcome.TOO_LARGE,
                413,
                f"The body is {size} bytes; this endpoint accepts at most {limit}.",
                keep_body=False,
            )
        try:
            verify_signature(integration, headers, body, now)
        except SignatureError as exc:
            raise Refusal(Outcome.BAD_SIGNATURE, 401, str(exc), keep_body=False) from exc
        document = parse_body(body)
        ignored = _ignored_type(integration, document)
        if ignored is not None:
            return _log(integration, now, CallAnswer(200, Outcome.IGNORED, ignored))
        mapped = map_call(integration, document)
        return _accept(integration, document, mapped, now)
    except Refusal as refusal:
        answer = CallAnswer(refusal.http_status, refusal.outcome, refusal.detail)
        return _log(integration, now, answer, body=body if refusal.keep_body else b"")


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        document = load_json(body)
    except JsonBodyError as exc:
        raise Refusal(Outcome.INVALID_BODY, 400, f"The body is {exc}") from exc
    if not isinstance(document, dict):
        raise Refusal(
            Outcome.INVALID_BODY,
            400,
            f"The body must be a JSON object, not {type(document).__name__}.",
        )
    unstorable = unstorable_character(body, document)
    if unstorable:
        raise Refusal(Outcome.INVALID_BODY, 400, f"The body contains {unstorable}: remove it.")
    # The mapped data is stored (jsonb): refuse what it cannot hold rather than fail at INSERT.
    path = non_finite_path(document) if may_hold_non_finite(body) else None
    if path is not None:
        raise Refusal(Outcome.INVALID_BODY, 400, non_finite_text(path))
    return document


def _ignored_type(integration: Integration, document: dict[str, Any]) -> str | None:
    accepted = integration.accepted_type_list
    if not integration.event_type_path or not accepted:
        return None
    event_type = read_path(document, integration.event_type_path)
    if event_type in accepted:
        return None
    return (
        f"Event type {event_type!r} at {integration.event_type_path} is not one this "
        f"integration triggers on ({', '.join(accepted)}); nothing was sent."
    )


def map_call(integration: Integration, document: dict[str, Any]) -> MappedCall:
    """Recipient, trigger_id and data from the body, as the integration maps them."""
    key_field = KeyField(integration.recipient_key)
    raw = read_path(document, integration.recipient_path)
    recipient = normalise_key_value(key_field, raw)
    if recipient is None:
        raise Refusal(
            Outcome.NO_RECIPIENT,
            400,
            f"No recipient found at {integration.recipient_path} in the body: the mapping "
            f"expects the recipient's {integration.get_recipient_key_display()} there.",
        )
    if key_field is KeyField.EMAIL:
        try:
            validate_email(recipient)
        except ValidationError as exc:
            raise Refusal(
                Outcome.NO_RECIPIENT,
                400,
                f"The recipient at {integration.recipient_path} ({recipient[:100]!r}) is not an "
                "email address.",
            ) from exc
    trigger_id = ""
    if integration.trigger_id_path:
        value = read_path(document, integration.trigger_id_path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            trigger_id = str(value)[:255]
    mapping = integration.data_mapping()
    data = (
        {name: read_path(document, path) for name, path in mapping.items()} if mapping else document
    )
    return MappedCall(key_field, recipient, trigger_id, data)


def _new_contact_email(integration: Integration, mapped: MappedCall, document: dict) -> str:
    if mapped.key_field is KeyField.EMAIL:
        return mapped.recipient
    value = read_path(document, integration.email_path) if integration.email_path else None
    email = value.strip().lower() if isinstance(value, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def resolve_contact(integration: Integration, mapped: MappedCall, document: dict) -> Contact:
    """The recipient's contact, created from the payload if the integration says so.

    Runs in the caller's transaction.
    """
    found = find_contacts(mapped.key_field, [mapped.recipient])[mapped.recipient]
    if len(found) > 1:
        raise Refusal(
            Outcome.NO_CONTACT,
            422,
            f"More than one contact has {mapped.key_field.value} {mapped.recipient}: key the "
            "integration by a unique field (external id) or merge the contacts.",
        )
    if found:
        return found[0]
    where = f"{mapped.key_field.value} {mapped.recipient}"
    if integration.unknown_recipient == Integration.UnknownRecipient.REFUSE:
        raise Refusal(
            Outcome.NO_CONTACT,
            422,
            f"No contact with {where}; this integration only sends to existing contacts.",
        )
    if mapped.key_field is KeyField.ID:
        raise Refusal(Outcome.NO_CONTACT, 422, f"No contact with {where}.")
    email = _new_contact_email(integration, mapped, document)
    if not email:
        source = f"at {integration.email_path}" if integration.email_path else "path configured"
        raise Refusal(
            Outcome.NO_CONTACT,
            422,
            f"No contact with {where}, and no email address {source} to create one.",
        )
    # Serialise creators per integration: a sender's quick retry of a first order must find the
    # contact the first delivery created, not create a second one.
    Integration.objects.select_for_update().filter(pk=integration.pk).first()
    standard: dict[str, Any] = {"email": email}
    for name, path in (
        ("first_name", integration.first_name_path),
        ("last_name", integration.last_name_path),
    ):
        value = read_path(document, path) if path else None
        if isinstance(value, str):
            standard[name] = value.strip()[:200]
    try:
        return upsert_contact(mapped.key_field, mapped.recipient, ContactChanges(standard=standard))
    except ContactDataError as exc:
        raise Refusal(Outcome.NO_CONTACT, 422, f"Could not create the contact: {exc}") from exc


def _accept(
    integration: Integration, document: dict[str, Any], mapped: MappedCall, now: datetime
) -> CallAnswer:
    item = TriggerItem(key="", trigger_id=mapped.trigger_id, data=mapped.data)
    try:
        with transaction.atomic():
            contact = resolve_contact(integration, mapped, document)
            item.key = str(contact.pk)
            result = trigger_event(
                integration.event,
                KeyField.ID,
                [item],
                source=Trigger.Source.INTEGRATION,
                all_or_nothing=True,
            )
            answer = _answer(result, mapped)
            # In the trigger's transaction: an "accepted" line in the log means it is committed.
            return _log(integration, now, answer, trigger=result.trigger, mapped=mapped)
    except ReplyError as exc:
        if exc.code == ReplyCode.NO_LIVE_STREAM:
            # Not the sender's fault and maybe soon fixed: 503 makes it retry later.
            raise Refusal(Outcome.NOT_LINKED, 503, exc.text) from exc
        raise Refusal(Outcome.NO_CONTACT, 422, exc.text) from exc


def _answer(result: TriggerResult, mapped: MappedCall) -> CallAnswer:
    new_messages = [w.message for w in result.written if not w.duplicate]
    new_runs = [e.run for e in result.runs if not e.duplicate]
    extra = {
        "trigger": result.trigger.pk,
        "messages": [m.pk for m in new_messages],
        "runs": [r.pk for r in new_runs],
    }
    if mapped.trigger_id and not new_messages and not new_runs:
        detail = f"Already triggered for {mapped.trigger_id}: nothing sent again."
        return CallAnswer(200, Outcome.DUPLICATE, detail, extra)
    detail = f"Triggered {len(new_messages)} message(s) and {len(new_runs)} program run(s)."
    return CallAnswer(200, Outcome.ACCEPTED, detail, extra)


def _log(
    integration: Integration,
    now: datetime,
    answer: CallAnswer,
    *,
    trigger: Any = None,
    mapped: MappedCall | None = None,
    body: bytes = b"",
) -> CallAnswer:
    IntegrationCall.objects.create(
        integration=integration,
        received_at=now,
        outcome=answer.outcome,
        http_status=answer.http_status,
        detail=answer.detail,
        trigger=trigger,
        recipient=(mapped.recipient if mapped else "")[:254],
        client_trigger_id=mapped.trigger_id if mapped else "",
        # PostgreSQL text cannot hold U+0000, and a refused body may contain anything.
        body_excerpt=(
            body[:EXCERPT_CHARS].decode("utf-8", "replace").replace("\x00", "\ufffd")
            if body
            else ""
        ),
    )
    return answer
