"""ESL, the Emarsys Scripting Language, read by Jinja2.

ESL is Twig syntax with Emarsys's own tags. Jinja2's syntax is close to Twig's; this extension
rewrites the differences before Jinja2's parser sees them, so campaigns copied from Emarsys work
unchanged:

- `{% foreach item in list limit 3 %}…{% endforeach %}` and `{% for … %}`: every loop goes
  through the `esl_loop` filter, which applies `limit`, iterates a hash's values (or key/value
  pairs with two loop variables) as Twig does, and checks the render budget on every turn;
- `{% elseif %}` is `{% elif %}`;
- `a ?? b` (null coalescing), `a..b` (ranges), `starts with`, `ends with`, `divisible by`,
  `same as`, `null`, and hash literals with unquoted keys (`{name: 'x'}`).

Tags that reach outside one template or switch off escaping are refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jinja2 import TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

# `??` cannot be lexed by Jinja2; it becomes this name first and an `esl_coalesce` filter below.
COALESCE = "__esl_coalesce__"
# Nor can Twig's ternary `a ? b : c` (and `a ?: b`): `?` becomes this name, then Jinja2's
# `(b) if (a) else (c)`.
THEN = "__esl_then__"

# Tags that would reach other templates, define code, or switch off escaping.
REFUSED_TAGS = {
    "macro": "ESL has no macros",
    "call": "ESL has no macros",
    "import": "a mail template cannot load other templates",
    "from": "a mail template cannot load other templates",
    "include": "a mail template cannot load other templates",
    "extends": "a mail template cannot load other templates",
    "block": "a mail template cannot define blocks",
    "autoescape": "escaping cannot be switched off (use |raw or |safe_html for HTML from data)",
}

_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)

_OPEN = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}
_CLOSE = set(_OPEN.values())
_ATOMS = {"name", "string", "integer", "float"}


_QUESTION = re.compile(r"\?\?|\?")


def _lexable(code: str) -> str:
    return _QUESTION.sub(lambda m: f" {COALESCE} " if m.group(0) == "??" else f" {THEN} ", code)


def _outside_strings(code: str) -> str:
    pieces, last = [], 0
    for match in _STRING.finditer(code):
        pieces.append(_lexable(code[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_lexable(code[last:]))
    return "".join(pieces)


def preprocess(source: str) -> str:
    """Make `??` and `?` lexable. Line breaks are kept, so Jinja2's line numbers are the
    marketer's."""
    if "?" not in source:
        return source
    return _BLOCK.sub(lambda m: _outside_strings(m.group(0)), source)


def _group_end(tokens: list[Token], start: int) -> int:
    """Index after the bracket group that opens at `start`."""
    depth = 0
    for index in range(start, len(tokens)):
        kind = tokens[index].type
        if kind in _OPEN:
            depth += 1
        elif kind in _CLOSE:
            depth -= 1
            if depth == 0:
                return index + 1
    return len(tokens)


def _primary_end(tokens: list[Token], start: int) -> int:
    """Index after the operand starting at `start`: an atom or a bracket group, with its
    attribute, subscript, call and filter suffixes (Twig's `??` and `..` bind tighter than
    anything but those)."""
    index = start
    while index < len(tokens) and tokens[index].type in ("sub", "add"):
        index += 1
    if index >= len(tokens):
        return index
    if tokens[index].type in _OPEN:
        index = _group_end(tokens, index)
    elif tokens[index].type in _ATOMS:
        index += 1
    else:
        return index
    while index < len(tokens):
        kind = tokens[index].type
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == "dot" and following is not None and following.type in ("name", "integer"):
            index += 2
        elif kind in ("lbracket", "lparen"):
            index = _group_end(tokens, index)
        elif kind == "pipe" and following is not None and following.type == "name":
            index += 2
            if index < len(tokens) and tokens[index].type == "lparen":
                index = _group_end(tokens, index)
        else:
            break
    return index


def _as_filter(lineno: int, name: str, argument: list[Token]) -> list[Token]:
    return [
        Token(lineno, "pipe", "|"),
        Token(lineno, "name", name),
        Token(lineno, "lparen", "("),
        *argument,
        Token(lineno, "rparen", ")"),
    ]


_HIDDEN_NAMES = {"self", "caller", "varargs", "kwargs"}

_WORD_PAIRS = {
    ("starts", "with"): [("name", "is"), ("name", "esl_starts_with")],
    ("ends", "with"): [("name", "is"), ("name", "esl_ends_with")],
    ("divisible", "by"): [("name", "divisibleby")],
    ("same", "as"): [("name", "sameas")],
}


def _ternary(tokens: list[Token]) -> list[Token]:
    """`a ? b : c` → `(b) if (a) else (c)`, and `a ?: b` → `(a) or (b)`, at this bracket level
    and inside every bracket group (the ternary binds loosest, as in Twig)."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        if tokens[index].type in _OPEN:
            end = _group_end(tokens, index)
            out += [tokens[index], *_ternary(tokens[index + 1 : end - 1]), tokens[end - 1]]
            index = end
        else:
            out.append(tokens[index])
            index += 1
    depth, question = 0, None
    for position, token in enumerate(out):
        if token.type in _OPEN:
            depth += 1
        elif token.type in _CLOSE:
            depth -= 1
        elif depth == 0 and token.type == "name" and token.value == THEN:
            question = position
            break
    if question is None:
        return out
    lineno = out[question].lineno
    condition, rest = out[:question], out[question + 1 :]
    depth, colon = 0, None
    nested = 0
    for position, token in enumerate(rest):
        if token.type in _OPEN:
            depth += 1
        elif token.type in _CLOSE:
            depth -= 1
        elif depth == 0 and token.type == "name" and token.value == THEN:
            nested += 1
        elif depth == 0 and token.type == "colon":
            if nested == 0:
                colon = position
                break
            nested -= 1
    if colon is None:
        raise TemplateSyntaxError("'?' needs a ':' after it: a ? b : c", lineno)
    then, otherwise = rest[:colon], _ternary(rest[colon + 1 :])

    def group(part: list[Token]) -> list[Token]:
        return [Token(lineno, "lparen", "("), *part, Token(lineno, "rparen", ")")]

    if not then:  # a ?: b
        return [*group(condition), Token(lineno, "name", "or"), *group(otherwise)]
    return [
        *group(_ternary(then)),
        Token(lineno, "name", "if"),
        *group(condition),
        Token(lineno, "name", "else"),
        *group(otherwise),
    ]


def rewrite_expression(tokens: list[Token]) -> list[Token]:
    """Twig operators and literals as Jinja2 reads them."""
    rewritten = _rewrite_operators(tokens)
    if any(token.type == "name" and token.value == THEN for token in rewritten):
        return _ternary(rewritten)
    return rewritten


def _rewrite_operators(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    braces: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        previous = out[-1] if out else None
        if kind == "name" and token.value == COALESCE:
            end = _primary_end(tokens, index + 1)
            right = _rewrite_operators(tokens[index + 1 : end])
            if not right:
                raise TemplateSyntaxError("'??' needs a value after it", token.lineno)
            out.extend(_as_filter(token.lineno, "esl_coalesce", right))
            index = end
            continue
        if kind == "dot" and following is not None and following.type == "dot":
            end = _primary_end(tokens, index + 2)
            right = _rewrite_operators(tokens[index + 2 : end])
            if not right or previous is None:
                raise TemplateSyntaxError("'..' needs a number on each side", token.lineno)
            out.extend(_as_filter(token.lineno, "esl_range", right))
            index = end
            continue
        if (
            kind == "name"
            and following is not None
            and following.type == "name"
            and (token.value, following.value) in _WORD_PAIRS
            and not (previous is not None and previous.type == "dot")
        ):
            out.extend(
                Token(token.lineno, t, v) for t, v in _WORD_PAIRS[token.value, following.value]
            )
            index += 2
            continue
        if (
            kind == "name"
            and token.value in _HIDDEN_NAMES
            and not (previous is not None and previous.type == "dot")
        ):
            # Jinja2's own objects behind these names are not data.
            out.append(Token(token.lineno, "name", "__esl_hidden__"))
            index += 1
            continue
        if (
            kind == "name"
            and token.value in ("null", "NULL")
            and not (previous is not None and previous.type == "dot")
        ):
            out.append(Token(token.lineno, "name", "none"))
            index += 1
            continue
        if (
            kind == "name"
            and braces
            and braces[-1] == "lbrace"
            and previous is not None
            and previous.type in ("lbrace", "comma")
            and following is not None
            and following.type == "colon"
        ):
            # Twig's hash keys may be bare names: {name: 'x'} means {'name': 'x'}.
            out.append(Token(token.lineno, "string", token.value))
            index += 1
            continue
        if kind in _OPEN:
            braces.append(kind)
        elif kind in _CLOSE and braces:
            braces.pop()
        out.append(token)
        index += 1
    return out


def _split_at(tokens: list[Token], names: set[str]) -> int:
    """Index of the first name in `names` outside brackets, or len(tokens)."""
    depth = 0
    for index, token in enumerate(tokens):
        if token.type in _OPEN:
            depth += 1
        elif token.type in _CLOSE:
            depth -= 1
        elif depth == 0 and token.type == "name" and token.value in names:
            return index
    return len(tokens)


def rewrite_loop(lineno: int, body: list[Token]) -> list[Token]:
    """`for|foreach TARGET in ITER [limit N] [if …]` → `for TARGET in (ITER)|esl_loop(pairs, N)`."""
    split = _split_at(body, {"in"})
    if split == len(body):
        raise TemplateSyntaxError("a loop needs 'in': foreach item in event.items", lineno)
    target, rest = body[:split], body[split + 1 :]
    end_of_iter = _split_at(rest, {"limit", "if", "recursive"})
    iterable, tail = rest[:end_of_iter], rest[end_of_iter:]
    limit: list[Token] = []
    if tail and tail[0].value == "limit":
        end_of_limit = _split_at(tail[1:], {"if", "recursive"}) + 1
        limit, tail = tail[1:end_of_limit], tail[end_of_limit:]
        if not limit:
            raise TemplateSyntaxError("'limit' needs a number: limit 3", lineno)
    if not iterable:
        raise TemplateSyntaxError("a loop needs a list after 'in'", lineno)
    pairs = sum(1 for token in target if token.type == "comma") >= 1
    argument = [Token(lineno, "name", "true" if pairs else "false")]
    if limit:
        argument += [Token(lineno, "comma", ","), *limit]
    return [
        Token(lineno, "name", "for"),
        *target,
        Token(lineno, "name", "in"),
        Token(lineno, "lparen", "("),
        *iterable,
        Token(lineno, "rparen", ")"),
        *_as_filter(lineno, "esl_loop", argument),
        *tail,
    ]


_RENAMED_TAGS = {"endforeach": "endfor", "elseif": "elif"}


def rewrite_block(tokens: list[Token]) -> list[Token]:
    """One `{% … %}` block's tokens between its delimiters."""
    if not tokens or tokens[0].type != "name":
        return rewrite_expression(tokens)
    first = tokens[0]
    if first.value in REFUSED_TAGS:
        raise TemplateSyntaxError(
            f"{{% {first.value} %}} is not available: {REFUSED_TAGS[first.value]}", first.lineno
        )
    if first.value in ("for", "foreach"):
        return rewrite_loop(first.lineno, rewrite_expression(tokens[1:]))
    if first.value == "set":
        assign = next((i for i, t in enumerate(tokens) if t.type == "assign"), None)
        if assign is not None:
            return [*tokens[: assign + 1], *rewrite_expression(tokens[assign + 1 :])]
    if first.value in _RENAMED_TAGS:
        return [Token(first.lineno, "name", _RENAMED_TAGS[first.value]), *tokens[1:]]
    return [first, *rewrite_expression(tokens[1:])]


# Variables `{% set %}` writes live here, so a value set inside a loop is still set after it, as
# in Twig (Jinja2 scopes it to the loop: `{% set total = total + item.price %}` summed nothing).
VARIABLES = "__esl_vars"
NAMESPACE = "__esl_namespace"


def _set_variables(tokens: list[Token]) -> set[str]:
    """Names a `{% set name = … %}` or `{% set name %}` assigns, except loop variables."""
    assigned: set[str] = set()
    loop_targets: set[str] = set()
    for index, token in enumerate(tokens[:-3]):
        if token.type != "block_begin" or tokens[index + 1].type != "name":
            continue
        tag, target, after = tokens[index + 1].value, tokens[index + 2], tokens[index + 3]
        if tag == "set" and target.type == "name" and after.type in ("assign", "block_end"):
            assigned.add(target.value)
        elif tag in ("for", "foreach"):
            for following in tokens[index + 2 :]:
                if following.type == "name" and following.value == "in":
                    break
                if following.type == "name":
                    loop_targets.add(following.value)
    return assigned - loop_targets - {"loop", VARIABLES}


def _to_variables(tokens: list[Token], names: set[str]) -> list[Token]:
    """Each read and write of a `set` variable as an attribute of the template's namespace."""
    out: list[Token] = []
    depth = 0
    for index, token in enumerate(tokens):
        previous = out[-1] if out else None
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.type in _OPEN:
            depth += 1
        elif token.type in _CLOSE:
            depth -= 1
        if (
            token.type == "name"
            and token.value in names
            and not (previous is not None and previous.type in ("dot", "pipe"))
            and not (previous is not None and previous.type == "name" and previous.value == "is")
            and not (depth > 0 and following is not None and following.type == "assign")
        ):
            out += [
                Token(token.lineno, "name", VARIABLES),
                Token(token.lineno, "dot", "."),
                Token(token.lineno, "name", token.value),
            ]
        else:
            out.append(token)
    return out


class EslExtension(Extension):
    """Reads ESL: see the module's docstring."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return preprocess(source)

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        tokens = list(self._rewrite(stream))
        names = _set_variables(tokens)
        if not names:
            yield from tokens
            return
        lineno = tokens[0].lineno if tokens else 1
        yield from (
            Token(lineno, kind, value)
            for kind, value in (
                ("block_begin", "{%"),
                ("name", "set"),
                ("name", VARIABLES),
                ("assign", "="),
                ("name", NAMESPACE),
                ("lparen", "("),
                ("rparen", ")"),
                ("block_end", "%}"),
            )
        )
        region: list[Token] | None = None
        for token in tokens:
            if token.type in ("block_begin", "variable_begin"):
                yield token
                region = []
            elif token.type in ("block_end", "variable_end") and region is not None:
                yield from _to_variables(region, names)
                yield token
                region = None
            elif region is not None:
                region.append(token)
            else:
                yield token

    def _rewrite(self, stream: TokenStream) -> Iterator[Token]:
        region: list[Token] | None = None
        for token in stream:
            if token.type in ("block_begin", "variable_begin"):
                yield token
                region = []
            elif token.type == "block_end" and region is not None:
                yield from rewrite_block(region)
                yield token
                region = None
            elif token.type == "variable_end" and region is not None:
                yield from rewrite_expression(region)
                yield token
                region = None
            elif region is not None:
                region.append(token)
            else:
                yield token
