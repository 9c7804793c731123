"""Rendering a published template straight from plain data, with Django's result.

A lane worker renders three templates per message. After streams.template_fast_paths took the
variable lookups short, much of a render was Django's machinery around them: a `Context` per
part, `Template.render`'s two context managers, `NodeList.render` and `render_annotated` per
node, and `ForNode.render` pushing context layers and resolving through the general code.
This module turns the nodes a mail template is made of (text, `{{ }}` with filters, `{% if %}`,
`{% for %}`, `{% with %}`, `{% comment %}`) into nested closures that read the context's dicts
directly: two fifths off the demo template's render (docs/performance.md).

It renders speculatively. Whatever this code cannot decide exactly as Django would — an object
instead of a dict, a missing key whose name is also a dict method, a callable, a debug-logged
lookup failure, any exception — raises `Undecided`, and the caller renders the whole template
with Django's own code instead (`PlainRenderTemplate.render_data`). Rendering has no side effects,
so the output is always Django's: `tests/test_template_plain_render.py` compares both on
templates that use every tag compiled here and every kind of filter and argument. A template
using any other tag is never compiled here and always takes Django's path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.template import Context
from django.template.base import (
    FilterExpression,
    Node,
    NodeList,
    TextNode,
    VariableDoesNotExist,
)
from django.template.defaulttags import CommentNode, ForNode, IfNode, TemplateLiteral, WithNode
from django.template.smartif import OPERATORS
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import template_localtime

from streams.template_fast_paths import FastTemplate, FastVariableNode, value_text

# Django's lookup failures are logged here at DEBUG; while that is on, Django's code runs.
_template_logger = logging.getLogger("django.template")
# A fresh Context starts with these below the data (BaseContext._reset_dicts). Never written to.
_BUILTINS = {"True": True, "False": False, "None": None}

# The context's layers, innermost last, as Context.dicts.
Scope = list[dict]
Render = Callable[[Scope], str]
Evaluate = Callable[[Scope], Any]


class Undecided(Exception):
    """This render needs Django's general code: render the template with Django instead."""


class Unsupported(Exception):
    """The template uses something this module does not compile."""


class _Flags:
    """What render_value_in_context reads of a Context, as Context(data, autoescape=…) has it."""

    __slots__ = ("autoescape", "use_l10n", "use_tz")

    def __init__(self, autoescape: bool):
        self.autoescape = autoescape
        self.use_l10n = None
        self.use_tz = None


_FLAGS = {True: _Flags(True), False: _Flags(False)}


def _int_like(bit: str) -> bool:
    try:
        int(bit)
    except ValueError:
        return False
    return True


def _missing_is_decided(bit: str, owner: type) -> bool:
    """Whether Django's lookup of a key `bit` missing from an `owner` (dict or Context) ends in
    VariableDoesNotExist. It tries an attribute of that name next, then `int(bit)` as an index:
    where either could find something, Django must decide."""
    return not hasattr(owner, bit) and not _int_like(bit)


# Values of JSON data Django reaches into by index (`items.0`) or not at all (`count.x`).
_INDEXED = (list, str)
_SCALARS = (int, float, bool, type(None))


def _step_plan(bit: str) -> tuple[Any, bool, frozenset[type]]:
    """For one step of a lookup: `int(bit)` or None, whether a missing dict key is decided, and
    the value types on which Django would find an attribute of that name (undecided there)."""
    index = int(bit) if _int_like(bit) else None
    attributes = frozenset(kind for kind in (*_INDEXED, *_SCALARS) if hasattr(kind, bit))
    return index, _missing_is_decided(bit, dict), attributes


# What a lookup returns where Django's would end in VariableDoesNotExist.
MISSING = object()


def _compile_lookup(lookups: tuple[str, ...]) -> Evaluate:
    """`a.b.c` through plain data, as Variable._resolve_lookup goes. Returns MISSING where
    Django's lookup ends in VariableDoesNotExist; raises Undecided wherever its general lookup
    (attributes, calls, other types) could find something."""
    first = lookups[0]
    first_decided = _missing_is_decided(first, Context)
    steps = tuple((bit, *_step_plan(bit)) for bit in lookups[1:])

    def lookup(scope: Scope) -> Any:
        # BaseContext.__getitem__: the innermost layer that has the key wins.
        for layer in reversed(scope):
            if first in layer:
                current = layer[first]
                break
        else:
            return _does_not_exist(first_decided)
        for bit, index, decided, attributes in steps:
            kind = type(current)
            if kind is dict:
                if bit in current:
                    current = current[bit]
                    continue
                return _does_not_exist(decided)
            current = _step_into_other(current, kind, index, attributes)
            if current is MISSING:
                return MISSING
        if callable(current):
            raise Undecided
        return current

    return lookup


def _step_into_other(current: Any, kind: type, index: Any, attributes: frozenset[type]) -> Any:
    """A lookup step on a value that is not a dict: Django's item, attribute, index order."""
    if kind in attributes or (kind not in _INDEXED and kind not in _SCALARS):
        # A method or attribute of that name (called if callable), or an object: Django's.
        raise Undecided
    if kind in _INDEXED and index is not None:
        try:
            return current[index]
        except IndexError:
            return _does_not_exist(True)
    # A str key into a list or str, or any key into a number or None: TypeError, then no
    # attribute, then no index.
    return _does_not_exist(True)


def _does_not_exist(decided: bool) -> Any:
    if not decided or _template_logger.isEnabledFor(logging.DEBUG):
        # Django logs every failed lookup at DEBUG: let it.
        raise Undecided
    return MISSING


def _compile_expression(
    expression: FilterExpression, *, ignore_failures: bool, autoescape: bool
) -> Evaluate:
    """FilterExpression.resolve(context, ignore_failures) for a plain-data context."""
    if expression.is_var:
        var = expression.var
        if var.translate or var.message_context:
            raise Unsupported(f"variable {var}")
        if var.lookups is None:
            # A number (`{{ 42 }}`, `{% if n > 1000 %}`): Variable.resolve gives its literal.
            return _with_filters(lambda scope, literal=var.literal: literal, expression, autoescape)
        lookup = _compile_lookup(var.lookups)
        # The locked engines render a failed lookup as "" (string_if_invalid).
        on_failure = None if ignore_failures else ""

        def base(scope: Scope) -> Any:
            value = lookup(scope)
            return on_failure if value is MISSING else value

    else:
        constant = expression.var

        def base(scope: Scope) -> Any:
            return constant

    return _with_filters(base, expression, autoescape)


def _with_filters(base: Evaluate, expression: FilterExpression, autoescape: bool) -> Evaluate:
    filters = [_compile_filter(func, args, autoescape) for func, args in expression.filters]
    if not filters:
        return base

    def evaluate(scope: Scope) -> Any:
        obj = base(scope)
        for apply in filters:
            obj = apply(obj, scope)
        return obj

    return evaluate


def _compile_filter(
    func: Callable[..., Any], args: list[tuple[bool, Any]], autoescape: bool
) -> Callable[[Any, Scope], Any]:
    """One step of FilterExpression.resolve's filter loop."""
    arguments: list[Callable[[Scope], Any]] = []
    for is_lookup, arg in args:
        if is_lookup:
            if arg.translate or arg.message_context:
                raise Unsupported(f"filter argument {arg}")
            if arg.lookups is None:
                # A number (`|default:1`): Variable.resolve gives its literal, not marked safe.
                arguments.append(lambda scope, literal=arg.literal: literal)
                continue
            # A missing argument raises in Django's code, wherever the filter is: let it.
            arguments.append(_undecided_if_missing(_compile_lookup(arg.lookups)))
        else:
            # Django marks a literal argument safe on every render; the result never changes.
            literal = mark_safe(arg)  # noqa: S308 - a literal of the template's own source
            arguments.append(lambda scope, literal=literal: literal)
    localtime = getattr(func, "expects_localtime", False)
    extra = {"autoescape": autoescape} if getattr(func, "needs_autoescape", False) else {}
    is_safe = getattr(func, "is_safe", False)

    def apply(obj: Any, scope: Scope) -> Any:
        values = [argument(scope) for argument in arguments]
        if localtime:
            obj = template_localtime(obj, None)
        new_obj = func(obj, *values, **extra)
        if is_safe and isinstance(obj, SafeData):
            return mark_safe(new_obj)  # noqa: S308 - Django's rule for is_safe filters
        return new_obj

    return apply


def _undecided_if_missing(lookup: Evaluate) -> Evaluate:
    def evaluate(scope: Scope) -> Any:
        value = lookup(scope)
        if value is MISSING:
            raise Undecided
        return value

    return evaluate


def _compile_variable(node: FastVariableNode, autoescape: bool) -> Render:
    """VariableNode.render: resolve, then render_value_in_context."""
    expression = node.filter_expression
    var = expression.var
    plain = expression.is_var and not (var.translate or var.message_context)
    if plain and not expression.filters and var.lookups is not None:
        # The most common node, `{{ event.order_id }}`: one call fewer.
        evaluate = _compile_lookup(var.lookups)
    else:
        evaluate = _compile_expression(expression, ignore_failures=False, autoescape=autoescape)
    flags = _FLAGS[autoescape]

    def render(scope: Scope) -> str:
        try:
            output = evaluate(scope)
        except UnicodeDecodeError:
            return ""
        if output is MISSING:
            output = ""
        return value_text(output, autoescape, flags)

    return render


def _compile_condition(condition: Any, autoescape: bool) -> Evaluate:
    """A smartif tree: TemplateLiteral.eval and the operators' eval."""
    if type(condition) is TemplateLiteral:
        return _compile_expression(condition.value, ignore_failures=True, autoescape=autoescape)
    operator = OPERATORS.get(getattr(condition, "id", None))
    if operator is None or type(condition) is not operator:
        raise Unsupported(f"condition {condition!r}")
    first = _compile_condition(condition.first, autoescape)
    if condition.id == "not":
        return _guarded(lambda scope: not first(scope))
    second = _compile_condition(condition.second, autoescape)
    combine = _COMBINE[condition.id]
    return _guarded(lambda scope: combine(first, second, scope))


# The operators of django.template.smartif; `or` and `and` evaluate their right side lazily.
_COMBINE: dict[str, Callable[[Evaluate, Evaluate, Scope], Any]] = {
    "or": lambda x, y, s: x(s) or y(s),
    "and": lambda x, y, s: x(s) and y(s),
    "in": lambda x, y, s: x(s) in y(s),
    "not in": lambda x, y, s: x(s) not in y(s),
    "is": lambda x, y, s: x(s) is y(s),
    "is not": lambda x, y, s: x(s) is not y(s),
    "==": lambda x, y, s: x(s) == y(s),
    "!=": lambda x, y, s: x(s) != y(s),
    ">": lambda x, y, s: x(s) > y(s),
    ">=": lambda x, y, s: x(s) >= y(s),
    "<": lambda x, y, s: x(s) < y(s),
    "<=": lambda x, y, s: x(s) <= y(s),
}


def _guarded(evaluate: Evaluate) -> Evaluate:
    """An operator's eval: any exception is False (smartif), except ours."""

    def guarded(scope: Scope) -> Any:
        try:
            return evaluate(scope)
        except Undecided:
            raise
        except Exception:
            return False

    return guarded


def _compile_if(node: IfNode, autoescape: bool) -> Render:
    branches = [
        (
            None if condition is None else _compile_condition(condition, autoescape),
            compile_plain(nodelist, autoescape),
        )
        for condition, nodelist in node.conditions_nodelists
    ]

    def render(scope: Scope) -> str:
        for condition, body in branches:
            if condition is None:
                return body(scope)
            try:
                match = condition(scope)
            except VariableDoesNotExist:
                match = None
            if match:
                return body(scope)
        return ""

    return render


def _compile_for(node: ForNode, autoescape: bool) -> Render:
    """ForNode.render, step by step."""
    sequence = _compile_expression(node.sequence, ignore_failures=True, autoescape=autoescape)
    body = compile_plain(node.nodelist_loop, autoescape)
    empty = compile_plain(node.nodelist_empty, autoescape)
    loopvars = list(node.loopvars)
    unpack = len(loopvars) > 1
    loopvar = loopvars[0]
    is_reversed = node.is_reversed

    def render(scope: Scope) -> str:
        parentloop = {}
        for layer in reversed(scope):
            if "forloop" in layer:
                parentloop = layer["forloop"]
                break
        layer: dict = {}
        inner = [*scope, layer]
        values = sequence(inner)
        if values is None:
            values = []
        if not hasattr(values, "__len__"):
            values = list(values)
        len_values = len(values)
        if len_values < 1:
            return empty(inner)
        if is_reversed:
            values = reversed(values)
        parts = []
        loop_dict = layer["forloop"] = {"parentloop": parentloop}
        for i, item in enumerate(values):
            loop_dict["counter0"] = i
            loop_dict["counter"] = i + 1
            loop_dict["revcounter"] = len_values - i
            loop_dict["revcounter0"] = len_values - i - 1
            loop_dict["first"] = i == 0
            loop_dict["last"] = i == len_values - 1
            if unpack:
                try:
                    len_item = len(item)
                except TypeError:
                    len_item = 1
                if len(loopvars) != len_item:
                    raise Undecided  # Django raises ValueError with its message
                parts.append(body([*inner, dict(zip(loopvars, item, strict=True))]))
            else:
                layer[loopvar] = item
                parts.append(body(inner))
        return "".join(parts)

    return render


def _compile_with(node: WithNode, autoescape: bool) -> Render:
    values = {
        key: _compile_expression(value, ignore_failures=False, autoescape=autoescape)
        for key, value in node.extra_context.items()
    }
    body = compile_plain(node.nodelist, autoescape)

    def render(scope: Scope) -> str:
        layer = {key: evaluate(scope) for key, evaluate in values.items()}
        return body([*scope, layer])

    return render


def _compile_node(node: Node, autoescape: bool) -> Render | str:
    kind = type(node)
    if kind is TextNode:
        return node.s
    if kind is FastVariableNode:
        return _compile_variable(node, autoescape)
    if kind is IfNode:
        return _compile_if(node, autoescape)
    if kind is ForNode:
        return _compile_for(node, autoescape)
    if kind is WithNode:
        return _compile_with(node, autoescape)
    if kind is CommentNode:
        return ""
    raise Unsupported(kind.__name__)


def compile_plain(nodelist: NodeList, autoescape: bool) -> Render:
    """NodeList.render for a plain-data scope. Raises Unsupported for other nodes."""
    parts = [_compile_node(node, autoescape) for node in nodelist]
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts)
        return lambda scope: text
    if len(parts) == 1:
        return parts[0]
    steps = [(part, None) if isinstance(part, str) else (None, part) for part in parts]

    def render(scope: Scope) -> str:
        return "".join([text if render is None else render(scope) for text, render in steps])

    return render


class PlainRenderTemplate(FastTemplate):
    """A FastTemplate that renders plain data without Django's machinery where it can."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._plain: dict[bool, Render | None] = {}

    def _plain_render(self, autoescape: bool) -> Render | None:
        if autoescape not in self._plain:
            render = None
            if not self.engine.debug and self.engine.string_if_invalid == "":
                try:
                    render = compile_plain(self.nodelist, autoescape)
                except Unsupported:
                    render = None
            self._plain[autoescape] = render
        return self._plain[autoescape]

    def render_data(self, data: dict, *, autoescape: bool) -> SafeString:
        """self.render(Context(data, autoescape=autoescape)), the same string, usually faster."""
        render = self._plain_render(autoescape)
        if render is not None:
            try:
                return SafeString(render([_BUILTINS, data]))
            except Exception:  # noqa: S110 - Django's render decides, and raises if it must
                pass
        return self.render(Context(data, autoescape=autoescape))
