"""Condition steps: compare an event-data or contact field with a value.

Values from JSON come typed; the value in the step is text. Both sides compare as numbers when both
read as numbers, as booleans when the field is one, else as text without regard to case (marketers
type `Gold`, the shop sends `gold`). A field that is missing, null or empty does not exist: it is
unequal to everything and neither less, greater nor containing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from events.json_paths import read_path
from events.programs.models import ProgramStep

Operator = ProgramStep.Operator
MISSING = object()
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_CONTACT_ATTRIBUTES = {"email", "first_name", "last_name", "external_id", "opt_in", "id"}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _equal(actual: Any, expected: str) -> bool:
    if isinstance(actual, bool):
        wanted = expected.strip().lower()
        return (actual and wanted in _TRUE) or (not actual and wanted in _FALSE)
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return _text(actual) == _text(expected)


def compare(actual: Any, operator: str, expected: str) -> bool:
    """Apply `operator` to a field's value (MISSING if absent) and the step's text value."""
    if operator == Operator.EXISTS:
        return actual is not MISSING
    if actual is MISSING:
        return operator == Operator.NOT_EQUALS
    if operator == Operator.EQUALS:
        return _equal(actual, expected)
    if operator == Operator.NOT_EQUALS:
        return not _equal(actual, expected)
    if operator == Operator.CONTAINS:
        if isinstance(actual, list):
            return any(_equal(item, expected) for item in actual)
        if isinstance(actual, dict):
            return expected in actual
        return _text(expected) in _text(actual)
    if operator in (Operator.LESS, Operator.GREATER):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            if isinstance(actual, dict | list):
                return False
            left, right = _text(actual), _text(expected)  # ISO dates compare as text
        return left < right if operator == Operator.LESS else left > right
    raise ValueError(f"unknown operator {operator!r}")


def field_value(step: ProgramStep, data: dict[str, Any], contact: Any, email: str) -> Any:
    """The value the condition looks at, or MISSING."""
    if step.subject == ProgramStep.Subject.CONTACT:
        if contact is None:
            # The contact was deleted since the run started: only the address is known.
            return email if step.field == "email" else MISSING
        if step.field in _CONTACT_ATTRIBUTES:
            value = contact.pk if step.field == "id" else getattr(contact, step.field)
        else:
            value = read_path(contact.fields, step.field, MISSING)
        return MISSING if value is None or value == "" else value
    return read_path(data, step.field, MISSING)


def evaluate(step: ProgramStep, data: dict[str, Any], contact: Any, email: str) -> tuple[bool, str]:
    """Whether the condition holds, and what was compared (for the run's history)."""
    actual = field_value(step, data, contact, email)
    result = compare(actual, step.operator, step.value)
    shown = "missing" if actual is MISSING else repr(actual)
    if isinstance(actual, dict | list):
        shown = f"a {type(actual).__name__}"
    return result, f"{step.field} is {shown[:200]}: {'true' if result else 'false'}"
