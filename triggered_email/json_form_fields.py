"""JSON typed into admin forms, accepted only when the database can store it.

Python's json module reads more than the JSON columns keep: NaN, Infinity and numbers that
overflow to infinity (1e999) fail SQLite's JSON_VALID check and PostgreSQL's jsonb; PostgreSQL
also refuses U+0000 and lone UTF-16 surrogates; deep nesting makes the parser itself give up
with a RecursionError. Each of those was a 500 on saving a form. Here they are form errors that
say what to change. Neutral module: any app's admin form may use it.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from triggered_email.json_storage import (
    MAX_JSON_DEPTH,
    non_finite_path,
    too_deep,
    unstorable_text,
)


def _refuse_constant(name: str) -> Any:
    raise ValidationError(
        f"{name} is not a number JSON can store: write a finite number, or the value as a string.",
        code="invalid",
    )


def unstorable(document: Any) -> str | None:
    """What in `document` no JSON column stores, said for the person who typed it, or None."""
    if too_deep(document):
        return f"Objects and lists are nested more than {MAX_JSON_DEPTH} levels deep."
    path = non_finite_path(document)
    if path is not None:
        return f"The number at {path} is too large to store (such as 1e999): write it as a string."
    character = unstorable_text(document)
    if character is not None:
        return f"A text contains {character}, which cannot be stored."
    return None


def parse_storable_json(raw: str) -> Any:
    """`raw` parsed as JSON that a JSON column can store; ValidationError saying why not."""
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValidationError(
            f"Objects and lists are nested more than {MAX_JSON_DEPTH} levels deep.", code="invalid"
        ) from exc
    except ValueError as exc:  # JSONDecodeError
        raise ValidationError(f"Not valid JSON: {exc}", code="invalid") from exc
    problem = unstorable(document)
    if problem:
        raise ValidationError(problem, code="invalid")
    return document


class StorableJSONField(forms.JSONField):
    """forms.JSONField refusing, as form errors, what the database would refuse with a 500."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        parse_storable_json(value)
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Re-show what was typed, as typed, when it is refused: parsing it again would raise
        # (deep nesting) or put a lone surrogate into the page, which cannot be encoded.
        if not self.disabled and isinstance(data, str):
            try:
                parse_storable_json(data)
            except ValidationError:
                return InvalidJSONInput(data)
        return super().bound_data(data, initial)
