"""Personalising a stream version for one recipient.

Templates are ESL (the Emarsys Scripting Language) rendered by Jinja2's sandbox with the dialect
of streams.template_dialect, on plain data (streams.template_sandbox). Per send the only work is
the render: CSS was inlined when the version was published and compiled templates are cached per
version. Every render is bounded (streams.template_budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from django.conf import settings
from jinja2 import Template, TemplateError, nodes

from streams.bounded_cache import BoundedCache
from streams.contact_field_ids import custom_field_ids
from streams.safe_links import drop_unsafe_urls
from streams.template_budget import RenderLimitExceeded, render_budget
from streams.template_budget import begin as begin_budget
from streams.template_errors import explain, legacy_placeholder
from streams.template_sandbox import (
    HTML_ENVIRONMENT,
    PLAIN_ENVIRONMENT,
    generate,
    generate_with_lines,
    shared_context,
)


class TemplateProblem(ValueError):
    """A template that does not compile or render, with where and why."""

    def __init__(
        self,
        part: str,
        message: str,
        line: int | None = None,
        source_line: str = "",
        column: int | None = None,
    ):
        self.part = part
        self.line = line
        self.column = column
        self.source_line = source_line
        self.sentence = message
        where = part
        if line:
            where += f", line {line}" + (f", column {column}" if column else "")
        detail = f": {source_line.strip()}" if source_line.strip() else ""
        super().__init__(f"{where}: {message.rstrip('.')}{detail}")


class RenderLimitProblem(TemplateProblem):
    """A draft that went over the render bounds with its sample data."""


LIMIT_SENTENCE = (
    "This template takes too long or produces too much to send ({detail}): the email would "
    'fail with "template exceeded its render limit". Look for a loop over a long list, a '
    "loop inside a loop, or a very long repeated text."
)


def plain(rendered: str) -> str:
    """The rendered string as a plain `str`, never a SafeString.

    An autoescaped render yields Markup (markupsafe's safe string). A text part rendered
    without autoescape holds event data verbatim (`<img onerror=…>` from a Shopify order), and
    an HTML part is a whole document: either one printed into an admin page must be escaped
    there, so nothing that leaves the renderer may claim to be safe, for Django (SafeString)
    or markupsafe (Markup). (`str(x)` keeps the subclass: SafeString.__str__ returns itself.)
    """
    return str.__str__(rendered)


@dataclass(frozen=True)
class RenderedEmail:
    """One recipient's email; every part is a plain `str` (see `plain`)."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class CompiledVersion:
    subject: Template
    html: Template | None
    text: Template | None


class _VersionCache:
    """Compiled templates per published version, and the published version rows themselves (so
    a worker reads each once). Published versions never change."""

    def __init__(self, size: int = 256):
        self._compiled: BoundedCache[int, CompiledVersion] = BoundedCache(size)
        self._published: BoundedCache[int, Any] = BoundedCache(size)

    def published(self, pk: int) -> Any:
        """The published version `pk` if this process has read it, else None."""
        return self._published.get(pk)

    def remember_published(self, version: Any) -> None:
        self._published.put(version.pk, version)

    def get(self, version: Any) -> CompiledVersion:
        return self._compiled.get_or_build(
            version.pk, lambda: compile_parts(version.subject, _html_of(version), version.text)
        )

    def clear(self) -> None:
        self._compiled.clear()
        self._published.clear()


version_cache = _VersionCache()


def _html_of(version: Any) -> str:
    # Published versions carry the inlined HTML; a draft renders its source.
    return version.html_inlined or version.html_source


def compile_parts(subject: str, html: str, text: str) -> CompiledVersion:
    return CompiledVersion(
        subject=PLAIN_ENVIRONMENT.from_string(subject),
        html=HTML_ENVIRONMENT.from_string(html) if html.strip() else None,
        text=PLAIN_ENVIRONMENT.from_string(text) if text.strip() else None,
    )


def clean_subject(subject: str) -> str:
    """Subjects are one line: line breaks from data could otherwise inject headers."""
    return " ".join(subject.split())


def build_context(
    *,
    data: Mapping[str, Any] | None,
    contact: Mapping[str, Any] | None,
    stream: Mapping[str, Any] | None = None,
    message: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context: `event` (data with `global` merged in), `global`, `contact`, …

    Keys at the root of `data` win over the same keys under `data.global`.
    """
    data = dict(data or {})
    global_data = data.get("global")
    global_data = dict(global_data) if isinstance(global_data, Mapping) else {}
    contact = dict(contact or {})
    return {
        "event": {**global_data, **data},
        "global": global_data,
        "contact": contact,
        # Emarsys's templates write both.
        "Contact": contact,
        "stream": dict(stream or {}),
        "message": dict(message or {}),
    }


def contact_context(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    external_id: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A contact by field name and by Emarsys field id (1 first name, 2 last name, 3 email, and
    each custom field's id)."""
    fields = dict(fields or {})
    if fields:
        ids = custom_field_ids()
        fields.update({ids[name]: value for name, value in list(fields.items()) if name in ids})
    return {
        **fields,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "external_id": external_id or "",
        "1": first_name,
        "2": last_name,
        "3": email,
    }


def render(compiled: CompiledVersion, context: dict[str, Any]) -> RenderedEmail:
    """Render all parts within one budget; raises RenderLimitExceeded over it."""
    begin_budget(settings.TRIGGERED_EMAIL_RENDER_SECONDS, settings.TRIGGERED_EMAIL_RENDER_MAX_CHARS)
    variables = shared_context(context)
    html = drop_unsafe_urls(plain(generate(compiled.html, variables))) if compiled.html else ""
    subject = clean_subject(generate(compiled.subject, variables))
    text = plain(generate(compiled.text, variables)) if compiled.text else ""
    return RenderedEmail(subject=subject, html=html, text=text)


def render_version(version: Any, context: dict[str, Any]) -> RenderedEmail:
    """Render a published version (compiled once per process) for one recipient."""
    return render(version_cache.get(version), context)


def compile_part(part: str, source: str, *, html: bool) -> Template:
    """Compile one part of a draft, raising TemplateProblem in ESL's words."""
    legacy = legacy_placeholder(source)
    if legacy is not None:
        raise _problem(part, source, legacy.sentence, legacy.line, legacy.column)
    environment = HTML_ENVIRONMENT if html else PLAIN_ENVIRONMENT
    try:
        return environment.from_string(source)
    except TemplateError as exc:
        located = explain(exc, source)
        raise _problem(part, source, located.sentence, located.line, located.column) from exc
    except (RecursionError, SyntaxError, MemoryError) as exc:
        # Python's parser and compiler have limits of their own (about 20 loops inside loops,
        # brackets nested hundreds deep).
        raise TemplateProblem(
            part,
            "This template nests too deeply (loops inside loops, or brackets inside brackets): "
            "simplify it.",
        ) from exc


def syntax_problems(subject: str, html: str, text: str) -> dict[str, TemplateProblem]:
    """What does not parse as ESL (or is a legacy placeholder), by part: `subject`, `html`,
    `text`. Empty when all parts compile; no data is needed."""
    problems = {}
    for key, part, source, is_html in (
        ("subject", "subject", subject, False),
        ("html", "HTML", html, True),
        ("text", "text", text, False),
    ):
        if source.strip():
            try:
                compile_part(part, source, html=is_html)
            except TemplateProblem as problem:
                problems[key] = problem
    return problems


def missing_event_keys(sources: list[str], context: dict[str, Any]) -> list[str]:
    """`event.x` and `global.x` the templates read that the (sample) data lacks, in order.

    The editor shows them as warnings: such a value prints empty, which is right when the
    data may omit it and a typo otherwise.
    """
    missing: list[str] = []
    for source in sources:
        if not source.strip():
            continue
        try:
            tree = PLAIN_ENVIRONMENT.parse(source)
        except (TemplateError, RecursionError):
            continue  # reported as a problem, not a warning
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            base = node.node
            if not (isinstance(base, nodes.Name) and base.name in ("event", "global")):
                continue
            if isinstance(node, nodes.Getattr):
                key: Any = node.attr
            elif isinstance(node.arg, nodes.Const):
                key = node.arg.value
            else:
                continue
            data = context.get(base.name) or {}
            name = f"{base.name}.{key}"
            if str(key) not in data and name not in missing:
                missing.append(name)
    return missing


def check_template(subject: str, html: str, text: str, context: dict[str, Any]) -> RenderedEmail:
    """Compile and render a draft, raising TemplateProblem with the line at fault."""
    parts = {}
    with render_budget():
        for part, source, is_html in (
            ("subject", subject, False),
            ("HTML", html, True),
            ("text", text, False),
        ):
            if not source.strip():
                parts[part] = ""
                continue
            template = compile_part(part, source, html=is_html)
            try:
                parts[part] = plain(generate_with_lines(template, context))
            except RenderLimitExceeded as exc:
                sentence = LIMIT_SENTENCE.format(detail=exc.detail)
                line = _template_line(exc.__traceback__)
                raise RenderLimitProblem(part, sentence, line) from exc
            except Exception as exc:  # a filter failing on the sample data, for example
                line = _template_line(exc.__traceback__)
                raise _problem(
                    part, source, f"ESL could not render this with the sample data: {exc}", line
                ) from exc
    return RenderedEmail(
        subject=clean_subject(parts["subject"]),
        html=drop_unsafe_urls(parts["HTML"]),
        text=parts["text"],
    )


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line of the innermost template frame (Jinja2 rewrites tracebacks so
    template code reports the template's own line numbers)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _problem(
    part: str, source: str, sentence: str, line: int | None, column: int | None = None
) -> TemplateProblem:
    lines = source.splitlines()
    source_line = lines[line - 1] if line and 0 < line <= len(lines) else ""
    return TemplateProblem(part, sentence, line, source_line, column)
