"""Converting stream content written in Django's template language to ESL.

Used once, by the data migration that moved stream content to ESL
(streams/migrations/0003_content_to_esl.py), and kept for content that arrives in Django syntax
later (an old export pasted back). `convert` rewrites what has an ESL equivalent and lists what
has none; the migration renders each template both ways on the stream's sample data and keeps
only conversions that render the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
