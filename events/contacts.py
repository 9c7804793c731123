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

from events.models import STANDARD_FIELD_IDS, Contact, ContactField
from events.reply_codes import ReplyCode
from triggered_email.numbers import ascii_int
from triggered_email.row_lookup import rows_where_in


class KeyField(Enum):
    EMAIL = "email"
    ID = "id"
    EXTERNAL_ID = "external_id"


@dataclass(frozen=True)
class CustomKey:
    """A custom field marked unique, used as the key field (`key_id` = its id or name).

    `value` is the field's name, as KeyField's value is the column's: callers name the key
    field by it in their messages.
    """

    field_id: int
    value: str


AnyKeyField = KeyField | CustomKey

# Emarsys field ids of the standard fields this product knows.
FIELD_IDS = {str(number): name for number, name in STANDARD_FIELD_IDS.items()}
KEY_FIELDS = {
    "3": KeyField.EMAIL,
    "email": KeyField.EMAIL,
    "id": KeyField.ID,
    "external_id": KeyField.EXTERNAL_ID,
}
# Emarsys uses the email field when a call names no key field.
DEFAULT_KEY_ID = "3"


def parse_key_field(key_id: Any) -> AnyKeyField | None:
    """`key_id` as Emarsys clients send it (3, "3", "email", "id", "external_id"), or a custom
    field marked unique by its id (4711, "4711") or name."""
    if isinstance(key_id, bool) or not isinstance(key_id, str | int):
        return None
    text = str(key_id).strip().lower()
    if text in KEY_FIELDS:
        return KEY_FIELDS[text]
    number = ascii_int(text)
    if number is not None:
        custom = ContactField.objects.filter(pk=number, unique=True).first()
    elif len(text) <= ContactField._meta.get_field("name").max_length:
        custom = ContactField.objects.filter(name=text, unique=True).first()
    else:
        custom = None
    return CustomKey(custom.pk, custom.name) if custom else None


def key_value_names(key_field: AnyKeyField) -> tuple[str, ...]:
    """Where a contact entry holds the key value: the field's id and its name."""
    if isinstance(key_field, CustomKey):
        return (str(key_field.field_id), key_field.value)
    return {
        KeyField.EMAIL: ("3", "email"),
        KeyField.ID: ("id",),
        KeyField.EXTERNAL_ID: ("external_id",),
    }[key_field]


def normalise_key_value(key_field: AnyKeyField, value: Any) -> str | None:
    """The key value as stored, or None if it cannot identify anyone."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.lower() if key_field is KeyField.EMAIL else text


def find_contacts(
    key_field: AnyKeyField, values: Iterable[str], *, only: Sequence[str] = ()
) -> dict[str, list[Contact]]:
    """Contacts by key value, in one query. Values with no contact map to an empty list.

    `only`: the fields the caller reads (others are loaded when read, one query each).
    """
    wanted = set(values)
    found: dict[str, list[Contact]] = defaultdict(list)
    if isinstance(key_field, CustomKey):
        # Values of key fields are stored as text (parse_contact_fields), so one JSON lookup
        # matches them on SQLite and PostgreSQL alike.
        name = key_field.value
        rows = Contact.objects.filter(**{f"fields__{name}__in": list(wanted)})
        if only:
            rows = rows.only(*{*only, "fields"})
        for contact in rows:
            found[str(contact.fields.get(name))].append(contact)
        return {value: found.get(value, []) for value in wanted}
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
    """A contact cannot be written as asked; `code` is the Emarsys reply code that says why."""

    code = ReplyCode.INVALID_CONTACT_DATA


class ContactNotFound(ContactDataError):
    code = ReplyCode.CONTACT_NOT_FOUND


class ContactExists(ContactDataError):
    code = ReplyCode.CONTACT_EXISTS


class MultipleContacts(ContactDataError):
    code = ReplyCode.MULTIPLE_CONTACTS


@dataclass(frozen=True)
class FieldDefinitions:
    """The custom fields, read once per call: by Emarsys id (as text) and by name."""

    by_id: dict[str, ContactField]
    by_name: dict[str, ContactField]

    @classmethod
    def load(cls) -> FieldDefinitions:
        fields = list(ContactField.objects.all())
        return cls({str(f.pk): f for f in fields}, {f.name: f for f in fields})

    def find(self, key: str) -> ContactField | None:
        return self.by_id.get(key) or self.by_name.get(key)


def parse_contact_fields(
    entry: Mapping[str, Any], definitions: FieldDefinitions | None = None
) -> ContactChanges:
    """Fields by Emarsys id or name; custom fields by their id are stored under their name."""
    definitions = definitions or FieldDefinitions.load()
    changes = ContactChanges()
    for raw_key, value in entry.items():
        key = FIELD_IDS.get(str(raw_key), str(raw_key))
        custom = definitions.find(key)
        if custom is not None:
            changes.extra[custom.name] = _custom_value(custom, value)
            continue
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


def _custom_value(definition: ContactField, value: Any) -> Any:
    if not definition.unique:
        return value
    if value in (None, ""):
        return None
    # A unique field may identify contacts: its values are kept as text, the form key values
    # arrive in (normalise_key_value), so 123 and "123" are one value.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ContactDataError(
            f"field {definition.pk} ({definition.name}) must be text or a number"
        )
    text = str(value).strip()
    limit = 255
    if len(text) > limit:
        raise ContactDataError(f"{definition.name} is longer than {limit} characters")
    return text or None


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


def upsert_contact(key_field: AnyKeyField, key_value: str, changes: ContactChanges) -> Contact:
    """Update the contact with this key, or create it. Raises ContactDataError on conflicts."""
    return save_contact(key_field, key_value, changes, create=True, update=True)


def save_contact(
    key_field: AnyKeyField,
    key_value: str,
    changes: ContactChanges,
    *,
    create: bool,
    update: bool,
) -> Contact:
    """Write one contact as Emarsys's contact calls do.

    `create` only (POST /contact): an existing contact is ContactExists (2009); `update` only
    (PUT /contact): an unknown one is ContactNotFound (2008); both: create or update.
    """
    with transaction.atomic():
        matches = list(find_contacts(key_field, [key_value])[key_value])
        if len(matches) > 1:
            raise MultipleContacts(f"more than one contact has {key_field.value} {key_value}")
        if matches and not update:
            raise ContactExists(f"a contact with {key_field.value} {key_value} exists already")
        if not matches and not create:
            raise ContactNotFound(f"No contact found with {key_field.value} {key_value}")
        if matches:
            contact = matches[0]
        else:
            if key_field is KeyField.ID:
                raise ContactNotFound(
                    f"no contact with id {key_value}: new contacts get their id from us, "
                    "create them with key_id 3 (email) or external_id"
                )
            contact = Contact()
            if isinstance(key_field, CustomKey):
                contact.fields = {key_field.value: key_value}
            else:
                setattr(contact, key_field.value, key_value)
        for name, value in changes.standard.items():
            setattr(contact, name, value)
        contact.fields = {**contact.fields, **changes.extra}
        if isinstance(key_field, CustomKey):
            # The key stays the key: an entry cannot move the contact to another key value.
            contact.fields[key_field.value] = key_value
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
        _check_unique_fields(contact, changes, key_field)
        contact.save()
    return contact


def _check_unique_fields(contact: Contact, changes: ContactChanges, key_field: AnyKeyField) -> None:
    names = set(changes.extra)
    if isinstance(key_field, CustomKey):
        names.add(key_field.value)
    unique = ContactField.objects.filter(name__in=names, unique=True).values_list("name", "pk")
    for name, field_id in unique:
        value = contact.fields.get(name)
        if value in (None, ""):
            continue
        taken = Contact.objects.filter(**{f"fields__{name}": value}).exclude(pk=contact.pk)
        if taken.exists():
            raise ContactDataError(
                f"field {field_id} ({name}) {value} belongs to another contact: it is unique"
            )


def delete_contact(key_field: AnyKeyField, key_value: str) -> None:
    """Delete the one contact with this key; its messages and program runs keep their rows."""
    with transaction.atomic():
        matches = find_contacts(key_field, [key_value])[key_value]
        if not matches:
            raise ContactNotFound(f"No contact found with {key_field.value} {key_value}")
        if len(matches) > 1:
            raise MultipleContacts(f"more than one contact has {key_field.value} {key_value}")
        matches[0].delete()
