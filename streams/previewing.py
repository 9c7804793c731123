"""The live preview: a draft rendered with sample data exactly as it would be sent.

The template is checked as typed (so a problem's line number is the line the marketer sees),
then cleaned as it will be on save, CSS-inlined as it will be on publish, and rendered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.inlining import inline_css
from streams.rendering import (
    RenderedEmail,
    TemplateProblem,
    build_context,
    check_template,
    contact_context,
    missing_event_keys,
)
from streams.sanitizing import clean_template_html, describe_removed
from streams.template_tokens import TokenRoundTripError
from triggered_email.json_form_fields import unstorable

CONTACT_KEYS = ("email", "first_name", "last_name", "external_id")


class SampleDataError(ValueError):
    """Sample JSON that is not a JSON object; the message names the field and the position."""


def parse_sample(raw: str, what: str) -> dict[str, Any]:
    """Parse the sample JSON typed into the admin (an object, or empty for none)."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except RecursionError as exc:  # deep nesting typed by a marketer: a message, not a 500
        raise SampleDataError(f"{what} is nested too deeply.") from exc
    except ValueError as exc:
        raise SampleDataError(f"{what} is not valid JSON: {exc}") from exc
    problem = unstorable(value)
    if problem:
        raise SampleDataError(f"{what}: {problem}")
    if not isinstance(value, dict):
        raise SampleDataError(f"{what} must be a JSON object ({{…}}), not {type(value).__name__}.")
    return value


def sample_context(
    data: Mapping[str, Any] | None,
    contact: Mapping[str, Any] | None,
    stream: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context for sample event data and a sample contact."""
    contact = dict(contact or {})
    known = {key: str(contact.pop(key) or "") for key in CONTACT_KEYS if key in contact}
    return build_context(
        data=data,
        contact=contact_context(
            email=known.get("email", ""),
            first_name=known.get("first_name", ""),
            last_name=known.get("last_name", ""),
            external_id=known.get("external_id") or None,
            fields=contact,
        ),
        stream=stream,
        message={"id": 0, "uuid": "", "recipient": known.get("email", "")},
    )


@dataclass
class Preview:
    subject: str = ""
    html: str = ""
    text: str = ""
    problem: TemplateProblem | None = None
    # What cleaning will remove on save (shown as a warning, the preview shows the result).
    removed: list[str] = field(default_factory=list)
    # Event keys the template reads that the sample data lacks (they print empty).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        problem = None
        if self.problem is not None:
            problem = {
                "part": self.problem.part,
                "line": self.problem.line,
                "column": getattr(self.problem, "column", None),
                "source_line": self.problem.source_line,
                "message": str(self.problem),
            }
        return {
            "ok": self.ok,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "problem": problem,
            "removed": self.removed,
            "warnings": self.warnings,
        }


def preview_draft(
    *,
    subject: str,
    html: str,
    text: str,
    data: Mapping[str, Any] | None,
    contact: Mapping[str, Any] | None,
    stream: Mapping[str, Any] | None = None,
) -> Preview:
    context = sample_context(data, contact, stream)
    try:
        # As typed first: a problem's line number is the marketer's line.
        check_template(subject, html, text, context)
        cleaned = clean_template_html(html)
        inlined = inline_css(cleaned)
        rendered: RenderedEmail = check_template(subject, inlined, text, context)
    except TemplateProblem as problem:
        return Preview(problem=problem)
    except TokenRoundTripError as exc:
        return Preview(problem=TemplateProblem("HTML", str(exc)))
    return Preview(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        removed=describe_removed(html, cleaned),
        warnings=absent_key_warnings([subject, html, text], context),
    )


def preview_version(version: Any) -> Preview:
    """A stored version rendered with its stream's sample data (published: as sent)."""
    stream = version.stream
    context = sample_context(
        stream.sample_data, stream.sample_contact, {"id": stream.pk, "name": stream.name}
    )
    try:
        html = version.html_inlined or inline_css(version.html_source)
        rendered = check_template(version.subject, html, version.text, context)
    except TemplateProblem as problem:
        return Preview(problem=problem)
    except TokenRoundTripError as exc:
        return Preview(problem=TemplateProblem("HTML", str(exc)))
    return Preview(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        warnings=absent_key_warnings([version.subject, version.html_source, version.text], context),
    )


def absent_key_warnings(sources: list[str], context: dict[str, Any]) -> list[str]:
    return [
        f"{{{{ {name} }}}} is not in the sample data, so it prints empty here. Add it to the "
        "sample data if triggers send it; check the spelling if they do."
        for name in missing_event_keys(sources, context)
    ]
