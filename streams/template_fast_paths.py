"""Cheaper resolution of the variables a mail template reads, with Django's results.

Rendering a published version is the largest part of a lane worker's CPU per message, and most
of it is Django resolving `{{ event.order_id }}`-style lookups and escaping their strings: a
general lookup (dictionary, attribute, list index, callables) and `localize` for every value.
A stream's context is plain data (`streams.rendering.build_context`: dicts of JSON values), so
these classes take a short path for exactly that case — exact `dict`s all the way down, a plain
`str` at the end — and hand every other case to Django's own code, unchanged. The output is the
same string either way; `tests/test_template_fast_paths.py` renders templates both ways.
"""

from __future__ import annotations

from html import escape as html_escape
from typing import Any

from django.conf import settings
from django.template.base import (
    FilterExpression,
    Lexer,
    Parser,
    Template,
    VariableNode,
    render_value_in_context,
)
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import template_localtime

# Returned by the short path where Django's general lookup must decide.
_UNDECIDED = object()


def _lookup(lookups: tuple[str, ...], context: Any) -> Any:
    """`context[a][b]…` where every step is an exact dict holding the key, else _UNDECIDED.

    Django's lookup tries `current[bit]` first and keeps the result unless it is callable, so
    for a dict that has the key the answer is the same. Missing keys, other types (lists,
    models, dict subclasses) and callables take Django's path, with its attribute and index
    fallbacks, its calls and its logging.
    """
    first = lookups[0]
    # BaseContext.__getitem__: the innermost dict that has the key wins.
    for layer in reversed(context.dicts):
        if first in layer:
            current = layer[first]
            break
    else:
        return _UNDECIDED
    for bit in lookups[1:]:
        if callable(current) or type(current) is not dict or bit not in current:
            return _UNDECIDED
        current = current[bit]
    if callable(current):
        return _UNDECIDED
    return current


class FastFilterExpression(FilterExpression):
    """A FilterExpression whose variable takes the short path when it can."""

    __slots__ = ()

    def resolve(self, context: Any, ignore_failures: bool = False) -> Any:
        var = self.var
        if not self.is_var or var.lookups is None or var.translate:
            return super().resolve(context, ignore_failures)
        obj = _lookup(var.lookups, context)
        if obj is _UNDECIDED:
            return super().resolve(context, ignore_failures)
        # From here as FilterExpression.resolve, with the variable already resolved.
        for func, args in self.filters:
            # Literal arguments were made safe strings when the template was compiled.
            arg_vals = [
                arg.resolve(context)
                if lookup
                else arg
                if type(arg) is SafeString
                else mark_safe(arg)  # noqa: S308 - a literal in the template's own source
                for lookup, arg in args
            ]
            if getattr(func, "expects_localtime", False):
                obj = template_localtime(obj, context.use_tz)
            if getattr(func, "needs_autoescape", False):
                new_obj = func(obj, *arg_vals, autoescape=context.autoescape)
            else:
                new_obj = func(obj, *arg_vals)
            if getattr(func, "is_safe", False) and isinstance(obj, SafeData):
                obj = mark_safe(new_obj)  # noqa: S308 - Django's rule for is_safe filters
            else:
                obj = new_obj
        return obj


class FastVariableNode(VariableNode):
    """`{{ … }}` that writes a plain string without Django's general value handling."""

    def render(self, context: Any) -> str:
        try:
            output = self.filter_expression.resolve(context)
        except UnicodeDecodeError:
            return ""
        return value_text(output, context.autoescape, context)


def value_text(output: Any, autoescape: bool, context: Any) -> str:
    """render_value_in_context(output, context) with `context.autoescape` given, without its
    general handling for a plain str or an int."""
    kind = type(output)
    if kind is str:
        # localize and localtime leave a str alone, and conditional_escape is
        # SafeString(html.escape(…)).
        return SafeString(html_escape(output)) if autoescape else output
    if kind is SafeString:
        return output
    if kind is int and not settings.USE_THOUSAND_SEPARATOR:
        # localize → numberformat.format returns mark_safe(number) for an int whenever
        # no grouping applies, whatever the language; a safe string is not escaped.
        return str(output)
    return render_value_in_context(output, context)


class FastParser(Parser):
    def compile_filter(self, token: str) -> FilterExpression:
        # Every filter expression: {{ … }}, {% if … %}, {% for … in … %}, tag arguments.
        return FastFilterExpression(token, self)

    def extend_nodelist(self, nodelist: Any, node: Any, token: Any) -> None:
        if type(node) is VariableNode:
            node = FastVariableNode(node.filter_expression)
        super().extend_nodelist(nodelist, node, token)


class FastTemplate(Template):
    """A Template compiled with FastParser; everything else is Django's."""

    def compile_nodelist(self) -> Any:
        if self.engine.debug:
            # Debug engines check drafts and annotate errors with their line: Django's own.
            return super().compile_nodelist()
        parser = FastParser(
            Lexer(self.source).tokenize(),
            self.engine.template_libraries,
            self.engine.template_builtins,
            self.origin,
        )
        nodelist = parser.parse()
        self.extra_data = parser.extra_data
        return nodelist
