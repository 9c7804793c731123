"""The contact database: Emarsys-style key fields, lookups and upserts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from events.models import Contact
from triggered_email.numbers import ascii_int
from triggered_email.row_lookup import rows_where_in


class KeyField(Enum):
    EMAIL = "email"
    ID = "id"
    EXTERNAL_ID = "external_id"


# Emarsys field ids of the standard fields this product knows.
FIELD_IDS = {"1": "first_name", "2": "last_name", "3": "email", "31": "opt_in"}
KEY_FIELDS = {
    "3": KeyField.EMAIL,
    "email": KeyField.EMAIL,
    "id": KeyField.ID,
    "external_id": KeyField.EXTERNAL_ID,
}


def parse_key_field(key_id: Any) -> KeyField | None:
    """`key_id` as Emarsys clients send it (3, "3", "email", "id", "external_id")."""
    if isinstance(key_id, bool) or not isinstance(key_id, str | int):
        return None
    return KEY_FIELDS.get(str(key_id).strip().lower())


def normalise_key_value(key_field: KeyField, value: Any) -> str | None:
    """The key value as stored, or None if it cannot identify anyone."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if key_field is KeyField.EMAIL else text


def find_contacts(
    key_field: KeyField, values: Iterable[str], *, only: Sequence[str] = ()
) -> dict[str, list[Contact]]:
    """Contacts by key value, in one query. Values with no contact map to an empty list.

    `only`: the fields the caller reads (others are loaded when read, one query each).
    """
    wanted = set(values)
    found: dict[str, list[Contact]] = defaultdict(list)
    if key_field is KeyField.ID:
        # Beyond a bigint no contact can match, and SQLite would refuse the value.
        numbers = (ascii_int(v) for v in wanted)
        keys: set[Any] = {n for n in numbers if n is not None}
    else:
        keys = wanted
    # Written once per process (triggered_email.row_lookup): every trigger call runs this.
    for contact in rows_where_in(Contact, key_field.value, keys, only=only):
        found[str(getattr(contact, key_field.value))].append(contact)
    return {value: found.get(value, []) for value in wanted}


@dataclass
class ContactChanges:
    """Contact fields parsed from an API entry ("1"/first_name, "2"/last_name, "3"/email …)."""

    standard: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ContactDataError(ValueError):
    pass


def parse_contact_fields(entry: Mapping[str, Any]) -> ContactChanges:
    changes = ContactChanges()
    for raw_key, value in entry.items():
        key = FIELD_IDS.get(str(raw_key), str(raw_key))
        if key in ("first_name", "last_name"):
            if value is not None and not isinstance(value, str | int | float):
                raise ContactDataError(f"field {raw_key} must be text")
            changes.standard[key] = "" if value is None else str(value)[:200]
        elif key == "email":
            if not isinstance(value, str):
                raise ContactDataError(f"field {raw_key} (email) must be text")
            email = value.strip().lower()
            try:
                validate_email(email)
            except ValidationError as exc:
                raise ContactDataError(f"{value!r} is not a valid email address") from exc
            changes.standard["email"] = email
        elif key == "external_id":
            if value is not None and not isinstance(value, str | int):
                raise ContactDataError("external_id must be text or a number")
            changes.standard["external_id"] = None if value in (None, "") else str(value)
        elif key == "opt_in":
            changes.standard["opt_in"] = _opt_in(value)
        elif key == "id":
            continue
        else:
            changes.extra[key] = value
    return changes


def _opt_in(value: Any) -> bool | None:
    # Emarsys encodes opt-in as 1 (yes) / 2 (no); kept and shown, never used for sending.
    if value in (None, ""):
        return None
    if value in (1, "1", "true", True):
        return True
    if value in (2, "2", 0, "0", "false", False):
        return False
    raise ContactDataError("field 31 (opt_in) must be 1 (yes) or 2 (no)")


def _check_lengths(contact: Contact) -> None:
    # An address may pass validation at up to 320 characters; the columns are shorter, and
    # PostgreSQL refuses (500) what SQLite would store.
    for name in ("email", "external_id"):
        value = getattr(contact, name) or ""
        limit = Contact._meta.get_field(name).max_length
        if len(value) > limit:
            raise ContactDataError(f"{name} is longer than {limit} characters")


def upsert_contact(key_field: KeyField, key_value: str, changes: ContactChanges) -> Contact:
    """Update the contact with this key, or create it. Raises ContactDataError on conflicts."""
    with transaction.atomic():
        matches = list(find_contacts(key_field, [key_value])[key_value])
        if len(matches) > 1:
            raise ContactDataError(f"more than one contact has {key_field.value} {key_value}")
        if matches:
            contact = matches[0]
        else:
            if key_field is KeyField.ID:
                raise ContactDataError(f"no contact with id {key_value}")
            contact = Contact()
            setattr(contact, key_field.value, key_value)
        for name, value in changes.standard.items():
            setattr(contact, name, value)
        contact.fields = {**contact.fields, **changes.extra}
        if not contact.email:
            raise ContactDataError("a new contact needs an email address (field 3)")
        _check_lengths(contact)
        if (
            contact.external_id
            and Contact.objects.filter(external_id=contact.external_id)
            .exclude(pk=contact.pk)
            .exists()
        ):
            raise ContactDataError(f"external_id {contact.external_id} belongs to another contact")
        contact.save()
    return contact
