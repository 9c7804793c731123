"""Importing contacts from a CSV file: first a plan (what would be created or updated, and which
rows are wrong), then, once confirmed, the import itself.

Columns are the contact's fields by name or Emarsys field id: email (or 3), external_id,
first_name (1), last_name (2), opt_in (31; kept, ignored for sending); any other column becomes a
free field. The key column (email or external_id) decides whether a row updates a contact.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from events.contacts import (
    ContactChanges,
    ContactDataError,
    FieldDefinitions,
    KeyField,
    find_contacts,
    normalise_key_value,
    parse_contact_fields,
    upsert_contact,
)

MAX_ROWS = 10_000
# The key column as it may be spelt in the file's header, per key field.
KEY_COLUMNS = {KeyField.EMAIL: ("email", "3"), KeyField.EXTERNAL_ID: ("external_id",)}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says what to change."""


@dataclass
class RowPlan:
    line: int
    key: str
    action: str  # "create", "update" or "error"
    values: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    changes: ContactChanges | None = None


@dataclass
class ImportPlan:
    key_field: KeyField
    columns: list[str]
    rows: list[RowPlan]

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def creates(self) -> int:
        return self.count("create")

    @property
    def updates(self) -> int:
        return self.count("update")

    @property
    def errors(self) -> list[RowPlan]:
        return [row for row in self.rows if row.action == "error"]


@dataclass
class ImportResult:
    created: int
    updated: int
    errors: list[RowPlan]


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read). Save it as "
            "“CSV UTF-8” and upload it again."
        ) from exc


def _reader(text: str) -> csv.DictReader:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.DictReader(io.StringIO(text), dialect=dialect)


def plan_import(text: str, key_field: KeyField) -> ImportPlan:
    """Read the CSV and say, row by row, what importing it would do. Writes nothing."""
    if key_field not in KEY_COLUMNS:
        raise ImportFileError("Match contacts by email or by external_id.")
    reader = _reader(text)
    columns = [name.strip() for name in (reader.fieldnames or []) if name]
    key_column = next((c for c in columns if c.lower() in KEY_COLUMNS[key_field]), None)
    if key_column is None:
        raise ImportFileError(
            f"The first line must name the columns, one of them {KEY_COLUMNS[key_field][0]} "
            f"(the key); found: {', '.join(columns) or 'nothing'}."
        )
    rows: list[RowPlan] = []
    # Read once for the file: custom field columns by Emarsys id are stored under their name.
    definitions = FieldDefinitions.load()
    for index, record in enumerate(reader):
        if index >= MAX_ROWS:
            raise ImportFileError(
                f"The file has more than {MAX_ROWS} rows: split it, or use the API "
                "(PUT /api/v2/contact) for larger imports."
            )
        line = reader.line_num
        values = {
            (name or "").strip(): (value or "").strip()
            for name, value in record.items()
            if name is not None and name.strip()
        }
        if None in record:
            rows.append(RowPlan(line, "", "error", values, "more values than columns"))
            continue
        if not any(values.values()):
            continue
        rows.append(_plan_row(line, values, key_column, key_field, definitions))
    _mark_existing(rows, key_field)
    return ImportPlan(key_field, columns, rows)


def _plan_row(
    line: int,
    values: dict[str, str],
    key_column: str,
    key_field: KeyField,
    definitions: FieldDefinitions,
) -> RowPlan:
    key = normalise_key_value(key_field, values.get(key_column))
    if key is None:
        return RowPlan(line, "", "error", values, f"the key column {key_column} is empty")
    entry = {name: value for name, value in values.items() if value != "" or name == key_column}
    try:
        changes = parse_contact_fields(entry, definitions)
    except ContactDataError as exc:
        return RowPlan(line, key, "error", values, str(exc))
    return RowPlan(line, key, "create", values, changes=changes)


def _mark_existing(rows: list[RowPlan], key_field: KeyField) -> None:
    valid = [row for row in rows if row.action != "error"]
    found = find_contacts(key_field, [row.key for row in valid])
    seen: dict[str, int] = {}
    for row in valid:
        if row.key in seen:
            row.action = "error"
            row.error = f"the same {key_field.value} as line {seen[row.key]}"
            continue
        seen[row.key] = row.line
        matches = found.get(row.key, [])
        if len(matches) > 1:
            row.action = "error"
            row.error = f"more than one contact has {key_field.value} {row.key}"
        elif matches:
            row.action = "update"
        elif key_field is KeyField.EXTERNAL_ID and "email" not in row.changes.standard:
            row.action = "error"
            row.error = "a new contact needs an email address"


def apply_import(plan: ImportPlan) -> ImportResult:
    """Create or update the contacts of the plan's valid rows (each row on its own)."""
    created = updated = 0
    errors = list(plan.errors)
    for row in plan.rows:
        if row.action == "error":
            continue
        try:
            upsert_contact(plan.key_field, row.key, row.changes)
        except ContactDataError as exc:
            errors.append(RowPlan(row.line, row.key, "error", row.values, str(exc)))
            continue
        if row.action == "create":
            created += 1
        else:
            updated += 1
    return ImportResult(created, updated, sorted(errors, key=lambda row: row.line))
