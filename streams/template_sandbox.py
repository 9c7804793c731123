"""The Jinja2 sandbox that renders ESL: plain data in, no Python reachable.

A template sees dicts, lists, strings, numbers, booleans and null, nothing else. `event.items`
is the data's `items` key or undefined — never the dict's method: attribute access and
subscripts resolve only dict keys and list indices, and the only other object a template can
reach is a loop's `loop` variable (its counters). A missing value is an undefined that prints
empty and chains (`event.a.b.c`). Compiled templates check the render budget
(streams.template_budget) in every loop, every `~` and every `*`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from streams.template_budget import RenderLimitExceeded, check_size, spend
from streams.template_dialect import NAMESPACE, EslExtension
from streams.template_filters import FILTERS, TESTS, esl_cycle, esl_range

_LOOP_FIELDS = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
)
_BIGGEST_POWER = 10**60


class EmptyUndefined(ChainableUndefined):
    """Missing data: prints empty, chains, compares false, counts as zero and as no items."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> EmptyUndefined:
        return self

    def _empty(self, *args: Any, **kwargs: Any) -> EmptyUndefined:
        return self

    def _false(self, *args: Any, **kwargs: Any) -> bool:
        return False

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _empty
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _empty
    __mod__ = __rmod__ = __pos__ = __neg__ = __pow__ = __rpow__ = _empty
    __lt__ = __le__ = __gt__ = __ge__ = _false

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0


class _BoundedCodeGenerator(CodeGenerator):
    """Strings built with `~` are measured against the output cap as they are built."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


def _repeat(left: Any, right: Any) -> Any:
    for text, count in ((left, right), (right, left)):
        if isinstance(text, (str, list, tuple)) and isinstance(count, int):
            check_size(len(text) * max(count, 0))
    return operator.mul(left, right)


def _power(left: Any, right: Any) -> Any:
    if isinstance(right, (int, float)) and abs(right) > 100:
        raise RenderLimitExceeded("a power larger than 100")
    result = operator.pow(left, right)
    if isinstance(result, int) and abs(result) > _BIGGEST_POWER:
        raise RenderLimitExceeded("a number too large to print")
    return result


def _modulo(left: Any, right: Any) -> Any:
    # Twig's % is the remainder; Python's would also format strings ("%0999999999d" % 1).
    if isinstance(left, str) or isinstance(right, str):
        raise SecurityError("'%' gives the remainder of two numbers; use ~ to join text")
    return operator.mod(left, right)


class EslEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, autoescape: bool):
        super().__init__(
            autoescape=autoescape,
            undefined=EmptyUndefined,
            extensions=[EslExtension],
            auto_reload=False,
            cache_size=0,
            keep_trailing_newline=True,
        )
        self.filters = dict(FILTERS)
        self.tests = {**self.tests, **TESTS}
        self.globals = {"range": esl_range, "cycle": esl_cycle, NAMESPACE: Namespace}
        self.binop_table = {**self.binop_table, "*": _repeat, "**": _power, "%": _modulo}

    def bounded(self, value: Any) -> Any:
        check_size(len(value))
        return value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        if obj.__class__ is dict:  # nearly every lookup: the context is JSON data
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext) and attribute in _LOOP_FIELDS:
            return getattr(obj, attribute)
        if type(obj) is Namespace and not attribute.startswith("_"):
            # The template's own `set` variables (streams.template_dialect.VARIABLES).
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[argument]
            except (KeyError, TypeError):
                pass
            # `contact.1`: Emarsys field ids are numbers in templates and keys in the data.
            if isinstance(argument, int) and not isinstance(argument, bool):
                try:
                    return obj[str(argument)]
                except KeyError:
                    pass
            return self.undefined(obj=obj, name=str(argument))
        if isinstance(obj, (Sequence, str)) and isinstance(argument, (int, slice)):
            try:
                return obj[argument]
            except (IndexError, TypeError, ValueError):
                pass
        elif isinstance(obj, LoopContext) and argument in _LOOP_FIELDS:
            return getattr(obj, argument)
        return self.undefined(obj=obj, name=str(argument))


HTML_ENVIRONMENT = EslEnvironment(autoescape=True)
PLAIN_ENVIRONMENT = EslEnvironment(autoescape=False)


def shared_context(context: dict[str, Any]) -> dict[str, Any]:
    """The variables every part of one message renders with (globals included), built once."""
    return {**HTML_ENVIRONMENT.globals, **context}


def generate(template: Any, variables: dict[str, Any]) -> str:
    """Render `template` with `variables` (from `shared_context`); its output counts against the
    budget before it is joined.

    The pieces are references to strings the render made; what a loop can make is bounded by the
    time budget (checked every turn), and the cap is checked before the one large allocation.
    Counting piece by piece in Python instead cost a third of the render.
    """
    environment = template.environment
    context = environment.context_class(environment, variables, None, {})
    pieces = list(template.root_render_func(context))
    spend(sum(map(len, pieces)))
    return "".join(pieces)


def generate_with_lines(template: Any, context: dict[str, Any]) -> str:
    """`generate` with Jinja2's error handling: an exception's traceback names template lines
    (for telling a marketer where a draft failed)."""
    pieces = []
    for piece in template.generate(context):
        spend(len(piece))
        pieces.append(piece)
    return "".join(pieces)
