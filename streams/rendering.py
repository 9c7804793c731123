"""Personalising a stream version for one recipient.

Templates use Django's template language in a locked-down engine of its own (see
streams.template_library). Per send the only work is the render: CSS was inlined when the version
was published and compiled templates are cached per version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import VariableDoesNotExist

from streams.bounded_cache import BoundedCache
from streams.safe_links import drop_unsafe_urls
from streams.template_plain_render import PlainRenderTemplate


class LockedEngine(Engine):
    # Engine adds defaulttags, defaultfilters and loader_tags ({% include %}, {% extends %})
    # to every instance; this engine gets only the vetted library.
    default_builtins: list[str] = []

    def from_string(self, template_code: str) -> Template:
        # Per-send rendering takes the short paths of streams.template_fast_paths and
        # streams.template_plain_render.
        return PlainRenderTemplate(template_code, engine=self)


def _engine(*, autoescape: bool, debug: bool = False) -> LockedEngine:
    return LockedEngine(
        loaders=[],
        libraries={},
        builtins=["streams.template_library"],
        autoescape=autoescape,
        debug=debug,
        string_if_invalid="",
    )


HTML_ENGINE = _engine(autoescape=True)
PLAIN_ENGINE = _engine(autoescape=False)
# Only for checking drafts: debug mode records the line of each error.
_CHECK_ENGINES = {
    True: _engine(autoescape=True, debug=True),
    False: _engine(autoescape=False, debug=True),
}


class TemplateProblem(ValueError):
    """A template that does not compile or render, with where and why."""

    def __init__(self, part: str, message: str, line: int | None = None, source_line: str = ""):
        self.part = part
        self.line = line
        self.source_line = source_line
        where = f"{part}, line {line}" if line else part
        detail = f": {source_line.strip()}" if source_line.strip() else ""
        super().__init__(f"{where}: {message}{detail}")


def plain(rendered: str) -> str:
    """The rendered string as a plain `str`, never a SafeString.

    Django's template render marks its result safe. A text part rendered without autoescape
    holds event data verbatim (`<img onerror=…>` from a Shopify order), and an HTML part is a
    whole document: either one printed into an admin page must be escaped there, so nothing
    that leaves the renderer may claim to be safe. (`str(x)` keeps the subclass:
    SafeString.__str__ returns itself.)
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
    subject: PlainRenderTemplate
    html: PlainRenderTemplate | None
    text: PlainRenderTemplate | None


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
        subject=PLAIN_ENGINE.from_string(subject),
        html=HTML_ENGINE.from_string(html) if html.strip() else None,
        text=PLAIN_ENGINE.from_string(text) if text.strip() else None,
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
    return {
        "event": {**global_data, **data},
        "global": global_data,
        "contact": dict(contact or {}),
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
    """A contact by field name and by Emarsys field id (1 first name, 2 last name, 3 email)."""
    return {
        **dict(fields or {}),
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "external_id": external_id or "",
        "1": first_name,
        "2": last_name,
        "3": email,
    }


def render(compiled: CompiledVersion, context: dict[str, Any]) -> RenderedEmail:
    html = (
        drop_unsafe_urls(plain(compiled.html.render_data(context, autoescape=True)))
        if compiled.html
        else ""
    )
    subject = clean_subject(compiled.subject.render_data(context, autoescape=False))
    text = plain(compiled.text.render_data(context, autoescape=False)) if compiled.text else ""
    return RenderedEmail(subject=subject, html=html, text=text)


def render_version(version: Any, context: dict[str, Any]) -> RenderedEmail:
    """Render a published version (compiled once per process) for one recipient."""
    return render(version_cache.get(version), context)


def check_template(subject: str, html: str, text: str, context: dict[str, Any]) -> RenderedEmail:
    """Compile and render a draft, raising TemplateProblem with the line at fault."""
    parts = {}
    for part, source, autoescape in (
        ("subject", subject, False),
        ("HTML", html, True),
        ("text", text, False),
    ):
        if not source.strip():
            parts[part] = ""
            continue
        try:
            template = _CHECK_ENGINES[autoescape].from_string(source)
            parts[part] = plain(template.render(Context(context, autoescape=autoescape)))
        except (TemplateSyntaxError, VariableDoesNotExist) as exc:
            raise _problem(part, source, exc) from exc
        except Exception as exc:  # a filter failing on the sample data, for example
            raise _problem(part, source, exc) from exc
    return RenderedEmail(
        subject=clean_subject(parts["subject"]),
        html=drop_unsafe_urls(parts["HTML"]),
        text=parts["text"],
    )


def _problem(part: str, source: str, exc: Exception) -> TemplateProblem:
    debug = getattr(exc, "template_debug", None)
    if debug:
        line = debug.get("line")
        lines = source.splitlines()
        source_line = lines[line - 1] if line and 0 < line <= len(lines) else ""
        return TemplateProblem(part, str(exc), line, source_line)
    return TemplateProblem(part, str(exc))
