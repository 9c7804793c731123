"""Emarsys's v2 contact calls: create, update, getdata, checkids, delete, the field list.

Batches follow the trigger batch's conventions (events.api.batches): up to API_MAX_BATCH
entries, HTTP 200, and per-contact refusals in `errors[key value][reply code]`. One contact sent
at the body's root is refused as a whole (HTTP 400) with its reply code, as Emarsys does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from events.contacts import (
    DEFAULT_KEY_ID,
    FIELD_IDS,
    AnyKeyField,
    ContactDataError,
    FieldDefinitions,
    delete_contact,
    find_contacts,
    key_value_names,
    normalise_key_value,
    parse_contact_fields,
    parse_key_field,
    save_contact,
)
from events.json_bodies import JsonBodyError, storable_entry
from events.models import STANDARD_FIELD_IDS, Contact, ContactField
from events.reply_codes import ReplyCode, ReplyError
from events.triggering import ItemError

# The standard fields as GET /api/v2/field lists them (Emarsys's ids, names and types).
STANDARD_FIELDS = [
    {"id": 1, "name": "First Name", "application_type": "shorttext", "string_id": "first_name"},
    {"id": 2, "name": "Last Name", "application_type": "shorttext", "string_id": "last_name"},
    {"id": 3, "name": "E-Mail", "application_type": "email", "string_id": "email"},
    {"id": 31, "name": "Opt-In", "application_type": "singlechoice", "string_id": "opt_in"},
]
# Where getdata reads a standard field (by Emarsys id or name) on the contact.
_COLUMNS = {
    **FIELD_IDS,
    **{name: name for name in FIELD_IDS.values()},
    "external_id": "external_id",
    # Asked for by name, the contact's id is the id `result` always carries, not a free field.
    "id": "id",
}


def key_field_of(key_id: Any) -> AnyKeyField:
    """The key field a call names; Emarsys's default (3, email) when it names none."""
    if key_id is None:
        key_id = DEFAULT_KEY_ID
    key_field = parse_key_field(key_id)
    if key_field is None:
        raise ReplyError(
            ReplyCode.INVALID_KEY_FIELD,
            f'Invalid key field id: {str(key_id)[:100]}. Use 3 (email, the default), "id", '
            '"external_id" or the id of a custom field marked unique (GET /api/v2/field lists '
            "them).",
        )
    return key_field


def checked_entry(entry: dict[str, Any], code: ReplyCode, suspect: bool) -> dict[str, Any]:
    """The entry ready to store (see storable_entry), or a ReplyError with `code` saying why."""
    try:
        return storable_entry(entry, suspect=suspect)
    except JsonBodyError as exc:
        raise ReplyError(code, str(exc)) from exc


def check_batch_size(values: Any, name: str) -> list[Any]:
    if not isinstance(values, list):
        raise ReplyError(ReplyCode.INVALID_FIELD, f"{name} must be a list.")
    if len(values) > settings.API_MAX_BATCH:
        raise ReplyError(
            ReplyCode.BATCH_TOO_LARGE,
            f"The request exceeded the maximum batch size of {settings.API_MAX_BATCH} "
            f"({len(values)} in {name}): split it into several requests.",
        )
    return values


def batch_entries(entries: Any, errors: list[ItemError]) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a batch's `contacts` list (≤ API_MAX_BATCH); other entries become errors."""
    if not isinstance(entries, list):
        raise ReplyError(ReplyCode.INVALID_FIELD, "contacts must be a list of objects.")
    check_batch_size(entries, "contacts")
    objects = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            objects.append((index, entry))
        else:
            errors.append(
                ItemError(f"#{index}", ReplyCode.INVALID_FIELD, "each contact must be an object")
            )
    return objects


def errors_by_key(errors: list[ItemError]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = {}
    for error in errors:
        grouped.setdefault(error.key, {})[str(int(error.code))] = error.text
    return grouped


@dataclass
class ContactEntries:
    """The contacts of a call: `contacts` (a batch) or one contact's fields at the body's root."""

    key_field: AnyKeyField
    entries: list[tuple[int, dict[str, Any]]]
    batch: bool
    errors: list[ItemError] = field(default_factory=list)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ContactEntries:
        key_field = key_field_of(body.get("key_id"))
        if "contacts" in body:
            errors: list[ItemError] = []
            return cls(key_field, batch_entries(body["contacts"], errors), True, errors)
        root = {k: v for k, v in body.items() if k not in ("key_id", "create_if_not_exists")}
        return cls(key_field, [(0, root)], False)

    def key_of(self, index: int, entry: dict[str, Any]) -> str:
        """The entry's key value; a ReplyError (2005) when it has none."""
        names = key_value_names(self.key_field)
        raw = next((entry[n] for n in names if n in entry), None)
        key = normalise_key_value(self.key_field, raw)
        if key is None:
            raise ReplyError(
                ReplyCode.NO_KEY_VALUE,
                f"the key field ({names[0]}) is missing or empty",
            )
        return key

    def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` with the batch's errors; one contact at the root is refused as a whole."""
        if self.errors and not self.batch:
            raise ReplyError(self.errors[0].code, self.errors[0].text)
        if self.errors:
            data["errors"] = errors_by_key(self.errors)
        return data


def write_contacts(
    body: dict[str, Any], *, create: bool, update: bool, suspect: bool
) -> dict[str, Any]:
    """POST (create) or PUT (update; also create with create_if_not_exists) /api/v2/contact."""
    call = ContactEntries.of(body)
    definitions = FieldDefinitions.load()
    ids: list[str] = []
    for index, entry in call.entries:
        label = f"#{index}"
        try:
            label = call.key_of(index, entry)
            entry = checked_entry(entry, ReplyCode.INVALID_CONTACT_DATA, suspect)
            changes = parse_contact_fields(entry, definitions)
            contact = save_contact(call.key_field, label, changes, create=create, update=update)
        except ReplyError as exc:
            call.errors.append(ItemError(label, exc.code, exc.text))
            continue
        except ContactDataError as exc:
            call.errors.append(ItemError(label, exc.code, str(exc)))
            continue
        ids.append(str(contact.pk))
    return call.answer({"ids": ids})


def create_if_not_exists(value: Any) -> bool:
    """Emarsys's `create_if_not_exists` (query string or body): 1/"1"/true create."""
    return value in (1, "1", True, "true", "True")


def delete_contacts(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v2/contact/delete: `{"key_id", "<key>": value}` or `contacts` (≤ 1000)."""
    call = ContactEntries.of(body)
    deleted = 0
    for index, entry in call.entries:
        label = f"#{index}"
        try:
            label = call.key_of(index, entry)
            delete_contact(call.key_field, label)
        except ReplyError as exc:
            call.errors.append(ItemError(label, exc.code, exc.text))
            continue
        except ContactDataError as exc:
            call.errors.append(ItemError(label, exc.code, str(exc)))
            continue
        deleted += 1
    return call.answer({"deleted_contacts": deleted})


def check_ids(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v2/contact/checkids: contact ids by key value (`external_ids`, ≤ 1000).

    With `get_multiple_ids` truthy every id of a value comes back as a list; without, a value
    more than one contact has is refused with 2010.
    """
    key_field = key_field_of(body.get("key_id"))
    values = check_batch_size(body.get("external_ids"), "external_ids")
    multiple = body.get("get_multiple_ids") in (1, "1", True, "true")
    keys, errors = _key_values(key_field, values)
    found = find_contacts(key_field, keys, only=("id",))
    ids: dict[str, Any] = {}
    for key in keys:
        contacts = sorted(c.pk for c in found[key])
        if not contacts:
            errors.append(_not_found(key_field, key))
        elif multiple:
            ids[key] = [str(pk) for pk in contacts]
        elif len(contacts) > 1:
            errors.append(
                ItemError(
                    key,
                    ReplyCode.MULTIPLE_CONTACTS,
                    f"More than one contact has {key_field.value} {key}: send get_multiple_ids "
                    "1 to get them all.",
                )
            )
        else:
            ids[key] = str(contacts[0])
    data: dict[str, Any] = {"ids": ids}
    if errors:
        data["errors"] = errors_by_key(errors)
    return data


def contact_data(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v2/contact/getdata: `{"keyId", "keyValues", "fields"}` as Emarsys takes it.

    Answers Emarsys's shape: `result` (every matching contact's requested fields as text, with
    its `id`; `false` when none matched) and `errors` as a list of
    `{"key", "errorCode", "errorMsg"}`, which Emarsys SDKs read.
    """
    key_field = key_field_of(body.get("keyId", body.get("key_id")))
    values = check_batch_size(body.get("keyValues", []), "keyValues")
    wanted = body.get("fields")
    definitions = FieldDefinitions.load()
    if wanted is None:
        wanted = [f["id"] for f in STANDARD_FIELDS] + list(definitions.by_id)
    wanted = check_batch_size(wanted, "fields")
    names = []
    for name in wanted:
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise ReplyError(ReplyCode.INVALID_FIELD, "fields must be field ids or names.")
        names.append(str(name).strip())
    keys, errors = _key_values(key_field, values)
    found = find_contacts(key_field, keys)
    result = []
    for key in keys:
        if not found[key]:
            errors.append(_not_found(key_field, key))
        for contact in sorted(found[key], key=lambda c: c.pk):
            result.append(
                {
                    "id": str(contact.pk),
                    **{n: _field_text(contact, n, definitions) for n in names},
                }
            )
    return {
        "result": result or False,
        "errors": [{"key": e.key, "errorCode": int(e.code), "errorMsg": e.text} for e in errors],
    }


def _key_values(key_field: AnyKeyField, values: list[Any]) -> tuple[list[str], list[ItemError]]:
    keys: list[str] = []
    errors: list[ItemError] = []
    for index, value in enumerate(values):
        key = normalise_key_value(key_field, value)
        if key is None:
            errors.append(
                ItemError(f"#{index}", ReplyCode.NO_KEY_VALUE, "the key value is missing or empty")
            )
        elif key not in keys:
            keys.append(key)
    return keys, errors


def _not_found(key_field: AnyKeyField, key: str) -> ItemError:
    # Emarsys's own wording, which some clients match on.
    return ItemError(
        key,
        ReplyCode.CONTACT_NOT_FOUND,
        f"No contact found with the external id: {key_field.value} - {key}",
    )


def _field_text(contact: Contact, name: str, definitions: FieldDefinitions) -> str | None:
    """A field's value as Emarsys's getdata gives it: text, or null when empty."""
    if name in _COLUMNS:
        value = getattr(contact, _COLUMNS[name])
        if _COLUMNS[name] == "opt_in":
            return None if value is None else ("1" if value else "2")
    else:
        custom = definitions.find(name)
        value = contact.fields.get(custom.name if custom else name)
    if value in (None, ""):
        return None
    return value if isinstance(value, str) else str(value)


def field_list() -> list[dict[str, Any]]:
    """GET /api/v2/field: the standard fields and the custom ones, with their Emarsys ids."""
    custom = [
        {
            "id": f.pk,
            "name": f.label or f.name,
            "application_type": f.application_type,
            "string_id": f.name,
            "unique": f.unique,
        }
        for f in ContactField.objects.all()
    ]
    return [{**f, "unique": False} for f in STANDARD_FIELDS] + custom


def create_field(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v2/field: `{"name", "application_type"?, "string_id"?, "id"?, "unique"?}`.

    `name` is the label Emarsys shows; `string_id` (the key in templates and contact fields)
    defaults to it in lowercase with underscores. `id` lets an integration keep the field id it
    has in Emarsys; without it the next free id from 1000 is taken.
    """
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ReplyError(ReplyCode.INVALID_FIELD, "name is missing: give the field a name.")
    string_id = body.get("string_id") or slugify(name).replace("-", "_")
    kind = body.get("application_type", ContactField.Type.SHORTTEXT)
    unique = body.get("unique", False)
    number = body.get("id")
    if not isinstance(string_id, str) or not isinstance(kind, str) or not isinstance(unique, bool):
        raise ReplyError(
            ReplyCode.INVALID_FIELD,
            "string_id and application_type must be text, unique true or false.",
        )
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise ReplyError(ReplyCode.INVALID_FIELD, "id must be a whole number.")
    with transaction.atomic():
        if number is None:
            highest = ContactField.objects.aggregate(m=Max("id"))["m"] or 999
            number = max(highest, 999) + 1
        definition = ContactField(
            id=number,
            name=string_id,
            label=name.strip()[:200],
            application_type=kind,
            unique=unique,
        )
        try:
            definition.full_clean(validate_unique=False)
        except ValidationError as exc:
            text = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise ReplyError(ReplyCode.INVALID_FIELD, f"The field is invalid: {text}") from exc
        if ContactField.objects.filter(pk=number).exists() or number in STANDARD_FIELD_IDS:
            raise ReplyError(ReplyCode.INVALID_FIELD, f"Field id {number} is taken already.")
        try:
            with transaction.atomic():
                definition.save(force_insert=True)
        except IntegrityError as exc:
            raise ReplyError(
                ReplyCode.INVALID_FIELD, f"A field named {string_id!r} exists already."
            ) from exc
    return {"id": definition.pk}


def account_settings(host: str) -> dict[str, Any]:
    """GET /api/v2/settings: the minimal account description clients read before calling."""
    return {
        "id": 1,
        "name": "Triggered Email",
        "environment": host,
        "timezone": settings.TIME_ZONE,
        "language": "en",
        "country": "",
        "total_contacts": Contact.objects.count(),
    }
