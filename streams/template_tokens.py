"""Swap template syntax for opaque tokens while an HTML tool rewrites the markup, then back.

premailer (CSS inlining) and bleach (cleaning) parse the HTML and mangle template syntax they see:
`{% if a > b %}` becomes `&gt;`, `{{ url }}` inside `href` is URL-quoted. Replacing every
`{{ … }}`, `{% … %}` and `{# … #}` with a lowercase alphanumeric token that no HTML tool touches,
and restoring it afterwards, keeps the template exactly as the marketer wrote it.
"""

import re
import secrets
from dataclasses import dataclass

TEMPLATE_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class TokenRoundTripError(ValueError):
    """A tool dropped or duplicated template syntax: the result cannot be trusted."""


@dataclass(frozen=True)
class ProtectedHtml:
    html: str
    tokens: dict[str, str]
    _pattern: re.Pattern

    def restore(self, html: str) -> str:
        """Put the template syntax back; fail if any piece went missing or was copied."""
        seen: dict[str, int] = {}

        def swap(match: re.Match) -> str:
            token = match.group(1)
            seen[token] = seen.get(token, 0) + 1
            return self.tokens[token]

        restored = self._pattern.sub(swap, html)
        lost = [self.tokens[t] for t in self.tokens if seen.get(t, 0) == 0]
        copied = [self.tokens[t] for t, count in seen.items() if count > 1]
        if lost or copied:
            problems = []
            if lost:
                problems.append("lost " + ", ".join(lost[:3]))
            if copied:
                problems.append("duplicated " + ", ".join(copied[:3]))
            raise TokenRoundTripError(
                "Template syntax did not survive HTML processing (" + "; ".join(problems) + "). "
                "Template tags are supported in text, attribute values and between elements, "
                "not in place of a tag or attribute name."
            )
        return restored


def protect(source: str) -> ProtectedHtml:
    """Replace each piece of template syntax in `source` with a unique token."""
    # A fresh nonce per call: a token can never collide with text that was already there.
    nonce = secrets.token_hex(6)
    tokens: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        token = f"tetok{nonce}n{len(tokens)}x"
        tokens[token] = match.group(0)
        return token

    protected = TEMPLATE_SYNTAX.sub(swap, source)
    # A token an HTML parser had to treat as an attribute name comes back as `token=""`.
    pattern = re.compile(rf'(tetok{nonce}n\d+x)(?:="")?')
    return ProtectedHtml(html=protected, tokens=tokens, _pattern=pattern)
