"""Converting stream content written in Django's template language to ESL.

Used once, by the data migration that moved stream content to ESL
(streams/migrations/0003_content_to_esl.py), and kept for content that arrives in Django syntax
later (an old export pasted back). `convert` rewrites what has an ESL equivalent and lists what
has none; the migration renders each template both ways on the stream's sample data and keeps
only conversions that render the same.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.template import Context as DjangoContext
from django.template import Engine, Library

from streams.sanitizing import clean_fragment

_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_COMMENT_BLOCK = re.compile(r"\{%\s*comment\b[^%]*%\}(.*?)\{%\s*endcomment\s*%\}", re.DOTALL)
_STRING = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_FILTER_ARG = re.compile(rf"\|\s*(\w+)\s*:\s*({_STRING}|[\w.\-]+)")
_BARE_FILTER = re.compile(r"\|\s*(\w+)")

_FORLOOP = {
    "counter0": "loop.index0",
    "counter": "loop.index",
    "revcounter0": "loop.revindex0",
    "revcounter": "loop.revindex",
    "first": "loop.first",
    "last": "loop.last",
}
# Django filter → ESL filter (same meaning for the values stream data holds).
_SAME_FILTER = {
    "default": "default",
    "upper": "upper",
    "lower": "lower",
    "title": "title",
    "length": "length",
    "join": "join",
    "first": "first",
    "last": "last",
    "safe_html": "safe_html",
    "striptags": "striptags",
    "escape": "escape",
    "force_escape": "escape",
    "urlencode": "url_encode",
    "linebreaksbr": "nl2br",
    "truncatechars": "truncate",
    "wordcount": "wordcount",
    "slice": None,
}
_CONVERTIBLE_TAGS = {"if", "elif", "else", "endif", "for", "endfor", "empty", "with", "endwith"}
# Already ESL: left as they are.
_ESL_TAGS = {"foreach", "endforeach", "elseif", "set", "endset", "filter", "endfilter"}


@dataclass
class Conversion:
    source: str
    converted: str
    unconverted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.converted != self.source


def _filters(expression: str, unconverted: list[str]) -> str:
    def with_argument(match: re.Match) -> str:
        name, argument = match.group(1), match.group(2)
        if name == "default_if_none":
            return f" ?? {argument}"
        if name == "floatformat":
            return f"|number_format({argument}, '.', '')"
        if name == "date":
            unconverted.append(f"|date:{argument} (write |localized_date('en', 'ICU pattern'))")
            return match.group(0)
        target = _SAME_FILTER.get(name)
        if target is None:
            unconverted.append(f"|{name}:{argument}")
            return match.group(0)
        return f"|{target}({argument})"

    def bare(match: re.Match) -> str:
        name = match.group(1)
        if _SAME_FILTER.get(name):
            return f"|{_SAME_FILTER[name]}"
        if name == "safe":
            return "|raw"
        if name == "capfirst":
            unconverted.append("|capfirst (ESL's |capitalize also lowers the rest)")
            return match.group(0)
        unconverted.append(f"|{name}")
        return match.group(0)

    expression = _FILTER_ARG.sub(with_argument, expression)
    # Bare filters, skipping the ones just written with parentheses.
    return re.sub(r"\|\s*(\w+)\b(?!\s*\()", bare, expression)


def _forloop(expression: str, unconverted: list[str]) -> str:
    if "forloop.parentloop" in expression:
        unconverted.append("forloop.parentloop (ESL has no parent loop counter)")
        return expression
    return re.sub(
        r"\bforloop\.(counter0|counter|revcounter0|revcounter|first|last)\b",
        lambda m: _FORLOOP[m.group(1)],
        expression,
    )


def _tag(inner: str, unconverted: list[str]) -> str:
    words = inner.strip().split(None, 1)
    name = words[0] if words else ""
    rest = words[1] if len(words) > 1 else ""
    if name == "empty":
        return "{% else %}"
    if name == "cycle" and " as " not in f" {rest} ":
        values = ", ".join(re.findall(_STRING, rest))
        return "{{ cycle([" + values + "], loop.index0) }}"
    if name in _ESL_TAGS:
        return "{%" + inner + "%}"
    if name not in _CONVERTIBLE_TAGS:
        unconverted.append(f"{{% {name} %}}")
        return "{% " + inner.strip() + " %}"
    if name == "for" and re.search(r"\breversed\s*$", rest):
        rest = re.sub(r"\s*\breversed\s*$", "", rest)
        target, _, iterable = rest.partition(" in ")
        rest = f"{target} in ({iterable.strip()})|reverse"
    if name == "with":
        rest = ", ".join(re.findall(rf"\w+=(?:{_STRING}|[^\s]+)", rest))
    rest = _forloop(_filters(rest, unconverted), unconverted)
    return "{% " + f"{name} {rest}".strip() + " %}"


def convert(source: str) -> Conversion:
    """The ESL for Django-syntax `source`, and what could not be converted."""
    unconverted: list[str] = []
    text = _COMMENT_BLOCK.sub(lambda m: "{#" + m.group(1).replace("#}", "# }") + "#}", source)

    def block(match: re.Match) -> str:
        code = match.group(0)
        if code.startswith("{{"):
            inner = _forloop(_filters(code[2:-2], unconverted), unconverted)
            return "{{" + inner + "}}"
        return _tag(code[2:-2], unconverted)

    converted = _BLOCK.sub(block, text)
    return Conversion(source, converted, unconverted)


# --- Checking a conversion: the old engine, kept only for that ----------------------------------

register = Library()


@register.filter(name="safe_html", is_safe=True)
def _django_safe_html(value: object) -> str:
    """The `|safe_html` filter as the Django-syntax templates had it."""
    return "" if value is None else clean_fragment(str(value))


_DJANGO = Engine(
    builtins=[
        "django.template.defaulttags",
        "django.template.defaultfilters",
        "streams.template_conversion",
    ],
    loaders=[],
    string_if_invalid="",
)


def render_django(source: str, context: dict, *, autoescape: bool) -> str:
    """`source` rendered as the Django-syntax templates were (raises on any error)."""
    rendered = _DJANGO.from_string(source).render(DjangoContext(context, autoescape=autoescape))
    return str.__str__(rendered)


def same_output(before: str, after: str) -> bool:
    """Equal but for how each engine writes an escaped character (&#x27; against &#39;)."""
    return html.unescape(before) == html.unescape(after)


# --- The data migration ---------------------------------------------------------------------------

PENDING = ("held", "queued", "sending")


@dataclass
class PartsOutcome:
    converted: dict[str, str]
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.converted[name] != self.sources[name] for name in self.converted)


def convert_parts(parts: dict[str, tuple[str, bool]], context: dict) -> PartsOutcome:
    """Convert each part (name → (source, is HTML)) and render it both ways on `context`."""
    from streams.rendering import TemplateProblem, compile_part, shared_context
    from streams.template_budget import render_budget
    from streams.template_sandbox import generate

    outcome = PartsOutcome(converted={}, sources={name: src for name, (src, _) in parts.items()})
    for name, (source, is_html) in parts.items():
        conversion = convert(source)
        outcome.converted[name] = conversion.converted
        if not source.strip():
            continue
        if conversion.unconverted:
            outcome.problems.append(f"{name}: no ESL for " + ", ".join(conversion.unconverted))
            continue
        try:
            template = compile_part(name, conversion.converted, html=is_html)
            with render_budget():
                after = generate(template, shared_context(context))
        except TemplateProblem as problem:
            outcome.problems.append(f"{name}: {problem}")
            continue
        except Exception as exc:  # the converted template fails on the sample data
            outcome.problems.append(f"{name}: renders with an error: {exc}")
            continue
        try:
            before = render_django(source, context, autoescape=is_html)
        except Exception as exc:  # it did not render before either: nothing to compare
            outcome.differences.append(f"{name} (did not render before: {exc})")
            continue
        if not same_output(before, after):
            outcome.differences.append(name)
    return outcome


def migrate_content(apps: Any, report: Callable[[str], None]) -> None:
    """Convert stored campaigns and versions from Django syntax to ESL (see the module doc).

    Campaigns and drafts are converted in place. A published version never changes: when its
    content differs in ESL and it is still in use (the stream's current version, or messages
    not sent yet refer to it), a converted copy is published as the stream's next version, the
    stream points at it and the unsent messages move to it. Published versions no longer in use
    keep their Django syntax, as the record of what was sent.
    """
    from django.utils import timezone

    from streams.previewing import sample_context

    campaigns = apps.get_model("streams", "EmailCampaign")
    streams = apps.get_model("streams", "MailStream")
    versions = apps.get_model("streams", "StreamVersion")
    messages = apps.get_model("delivery", "Message")
    empty = sample_context({}, {})
    for campaign in campaigns.objects.all():
        outcome = convert_parts(
            {
                "subject": (campaign.subject, False),
                "html": (campaign.html, True),
                "text": (campaign.text, False),
            },
            empty,
        )
        where = f"campaign “{campaign.name}” (id {campaign.pk})"
        if outcome.problems:
            report(f"NOT CONVERTED {where}: " + "; ".join(outcome.problems))
        elif outcome.changed:
            campaigns.objects.filter(pk=campaign.pk).update(
                subject=outcome.converted["subject"],
                html=outcome.converted["html"],
                text=outcome.converted["text"],
            )
            report(f"converted {where}" + _differences(outcome))
    for stream in streams.objects.all():
        context = sample_context(
            stream.sample_data, stream.sample_contact, {"id": stream.pk, "name": stream.name}
        )
        for version in versions.objects.filter(stream=stream).order_by("number"):
            outcome = convert_parts(
                {
                    "subject": (version.subject, False),
                    "html": (version.html_source, True),
                    "text": (version.text, False),
                },
                context,
            )
            where = f"stream “{stream.name}” (id {stream.pk}) v{version.number}"
            if outcome.problems:
                report(f"NOT CONVERTED {where}: " + "; ".join(outcome.problems))
                continue
            if not outcome.changed:
                continue
            converted = {
                "subject": outcome.converted["subject"],
                "html_source": outcome.converted["html"],
                "text": outcome.converted["text"],
            }
            if version.published_at is None:
                versions.objects.filter(pk=version.pk).update(**converted)
                report(f"converted {where} (draft, in place)" + _differences(outcome))
                continue
            current = stream.current_version_id == version.pk
            pending = messages.objects.filter(version_id=version.pk, status__in=PENDING)
            if not current and not pending.exists():
                report(f"kept {where} as it was (published, no longer sent)")
                continue
            number = versions.objects.filter(stream=stream).order_by("-number").first().number + 1
            copy = versions.objects.create(
                stream=stream,
                number=number,
                html_inlined=convert(version.html_inlined).converted,
                published_at=timezone.now(),
                **converted,
            )
            moved = pending.update(version_id=copy.pk)
            if current:
                streams.objects.filter(pk=stream.pk).update(current_version_id=copy.pk)
            report(
                f"converted {where} into v{number}"
                + (" (now current)" if current else "")
                + (f", {moved} unsent messages moved to it" if moved else "")
                + _differences(outcome)
            )


def _differences(outcome: PartsOutcome) -> str:
    if not outcome.differences:
        return ""
    return (
        "; renders differently on its sample data in "
        + ", ".join(outcome.differences)
        + " (check it in the preview)"
    )
