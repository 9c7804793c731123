"""What is wrong with a template, in ESL's words: a sentence, a line and a column.

Jinja2's messages name its own internals ("end of print statement", "Jinja was looking for the
following tags"); a marketer wrote ESL, so each message is told again in ESL's terms, and legacy
Emarsys placeholders (`$First Name$`, `%%name%%`), which ESL no longer reads and which would be
sent as literal text, are refused with the ESL that replaces them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import TemplateError, TemplateSyntaxError

# `$First Name$`, `$email$`: a letter after the first `$`, words and spaces, a closing `$`.
LEGACY_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_ ]{0,40})\$")
LEGACY_PERCENT = re.compile(r"%%([A-Za-z_][A-Za-z0-9_.]{0,40})%%")

_ESL_TAG = {"for": "foreach", "endfor": "endforeach", "elif": "elseif"}

_JARGON = [
    (re.compile(r"'end of print statement'"), "'}}'"),
    (re.compile(r"'end of statement block'"), "'%}'"),
    (re.compile(r"'begin of print statement'"), "'{{'"),
    (re.compile(r"'begin of statement block'"), "'{%'"),
    (re.compile(r"'end of template'"), "the end of the template"),
    (re.compile(r"__esl_coalesce__"), "??"),
    (re.compile(r"__esl_then__"), "?"),
    (re.compile(r"esl_loop"), "foreach"),
    (re.compile(r"__esl_vars\."), ""),
    (re.compile(r"\bJinja2?\b"), "ESL"),
]


@dataclass(frozen=True)
class Located:
    sentence: str
    line: int | None
    column: int | None


def _esl_tag(name: str) -> str:
    return _ESL_TAG.get(name, name)


def _tags(text: str) -> list[str]:
    return [f"{{% {_esl_tag(name)} %}}" for name in re.findall(r"'(\w+)'", text)]


def _column(line_text: str, pattern: str | None) -> int | None:
    if pattern:
        match = re.search(pattern, line_text)
        if match:
            return match.start() + 1
    match = re.search(r"\{\{|\{%", line_text)
    return match.start() + 1 if match else (1 if line_text.strip() else None)


def _sentence(message: str) -> tuple[str, str | None]:
    """(the sentence, a regex for the construct's column) for a Jinja2 message."""
    unknown = re.match(r"Encountered unknown tag '(\w+)'\.(.*)", message, re.DOTALL)
    if unknown:
        name, rest = unknown.group(1), unknown.group(2)
        expected = _tags(rest.split("innermost")[0]) if "looking for" in rest else []
        sentence = f"{{% {name} %}} is not an ESL tag"
        if expected:
            sentence = f"{{% {name} %}} does not fit here: the open block expects " + " or ".join(
                expected
            )
        return sentence + ".", rf"\{{%-?\s*{re.escape(name)}\b"
    if message.startswith("Unexpected end of template"):
        innermost = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
        if innermost:
            opened = _esl_tag(innermost.group(1))
            return (
                f"The template ends while a {{% {opened} %}} is still open: "
                f"close it with {{% end{opened} %}}.",
                None,
            )
        return "The template ends in the middle of a tag.", None
    char = re.match(r"unexpected char '(.)'", message)
    if char:
        return (
            f"The character {char.group(1)!r} cannot be used inside {{{{ }}}} or {{% %}}.",
            re.escape(char.group(1)),
        )
    no_filter = re.match(r"No filter named '(\w+)'", message)
    if no_filter:
        name = no_filter.group(1)
        return f"ESL has no filter |{name}.", rf"\|\s*{re.escape(name)}\b"
    no_test = re.match(r"No test named '(\w+)'", message)
    if no_test:
        name = no_test.group(1)
        return f"ESL has no test 'is {name}'.", rf"\bis\s+(not\s+)?{re.escape(name)}\b"
    if message.startswith("tag name expected"):
        return "A {% %} tag needs a name, such as {% if … %} or {% foreach … %}.", None
    expected = re.match(r"expected token '(.+?)', got '(.+?)'", message)
    if expected and expected.group(2) == ":":
        return (
            "ESL writes a filter's argument in parentheses: |default('x'), not |default:'x'.",
            r"\|\s*\w+\s*:",
        )
    if expected:
        sentence = f"Expected {expected.group(1)!r} but found {expected.group(2)!r}."
        for pattern, words in _JARGON:
            sentence = pattern.sub(words, sentence)
        return sentence, re.escape(expected.group(2))
    sentence = message[:1].upper() + message[1:]
    for pattern, words in _JARGON:
        sentence = pattern.sub(words, sentence)
    return sentence.rstrip(".") + ".", None


_BLOCK_TAG = re.compile(r"\{%-?\s*(\w+)")
_OPENERS = {"for": "for", "foreach": "for", "if": "if", "set": "set", "filter": "filter"}
_CLOSERS = {"endfor": "for", "endforeach": "for", "endif": "if", "endset": "set"}


def _unclosed(source: str, kind: str) -> tuple[int, int] | None:
    """Line and column of the innermost block of `kind` ('for', 'if') that is never closed."""
    stack: list[tuple[str, int]] = []
    for match in _BLOCK_TAG.finditer(source):
        name = match.group(1)
        if name == "set" and "=" in source[match.end() : source.find("%}", match.end())]:
            continue  # {% set x = … %} has no end tag
        if name in _OPENERS:
            stack.append((_OPENERS[name], match.start()))
        elif name in _CLOSERS:
            for index in range(len(stack) - 1, -1, -1):
                if stack[index][0] == _CLOSERS[name]:
                    del stack[index:]
                    break
    for opened, start in reversed(stack):
        if opened == kind:
            line = source.count("\n", 0, start) + 1
            return line, start - (source.rfind("\n", 0, start) + 1) + 1
    return None


def explain(exc: TemplateError, source: str) -> Located:
    """Where `exc` happened in `source` and what it means, in ESL's words."""
    message = str(getattr(exc, "message", None) or exc)
    innermost = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
    if message.startswith("Unexpected end of template") and innermost:
        where = _unclosed(source, innermost.group(1))
        if where is not None:
            return Located(_sentence(message)[0], *where)
    lineno = getattr(exc, "lineno", None) if isinstance(exc, TemplateSyntaxError) else None
    sentence, pattern = _sentence(message)
    lines = source.splitlines()
    if lineno is None or not 0 < lineno <= len(lines):
        return Located(sentence, lineno, None)
    return Located(sentence, lineno, _column(lines[lineno - 1], pattern))


def legacy_placeholder(source: str) -> Located | None:
    """The first `$field$` or `%%name%%` placeholder in `source`, with its ESL replacement."""
    found = []
    for pattern, kind in ((LEGACY_DOLLAR, "$"), (LEGACY_PERCENT, "%%")):
        match = pattern.search(source)
        if match:
            found.append((match.start(), match, kind))
    if not found:
        return None
    start, match, kind = min(found, key=lambda item: item[0])
    line = source.count("\n", 0, start) + 1
    column = start - (source.rfind("\n", 0, start) + 1) + 1
    name = match.group(1).strip()
    replacement = (
        "{{ contact.1 }}"
        if name.lower().replace(" ", "_") == "first_name"
        else "{{ event." + re.sub(r"\W+", "_", name).strip("_").lower() + " }}"
    )
    sentence = (
        f"{match.group(0)} is an old Emarsys placeholder that ESL does not read; it would be "
        f"sent as it is. Write it in ESL, for example {replacement}."
    )
    return Located(sentence, line, column)
