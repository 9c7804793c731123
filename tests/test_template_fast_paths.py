"""The fast template paths render exactly what Django's own template code renders."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.template.base import Variable
from django.utils.safestring import mark_safe

from streams.rendering import HTML_ENGINE, PLAIN_ENGINE, build_context, contact_context
from streams.template_fast_paths import FastFilterExpression, FastTemplate, FastVariableNode
from triggered_email.demo import SAMPLE_DATA, template_html, template_text


class Shouting:
    """An object a template reaches by attribute and method, not by key."""

    name = "attr"

    def loud(self) -> str:
        return "LOUD <b>"

    def __str__(self) -> str:
        return "shouting & co"


class KeyedDict(dict):
    """A dict subclass: Django's general lookup decides, not the short path."""


def demo_context() -> dict:
    return build_context(
        data=dict(SAMPLE_DATA, note="<script>x</script> & 'q'"),
        contact=contact_context(email="jane@example.org", first_name="Jane <J>"),
        stream={"id": 3, "name": "Orders"},
        message={"id": 7, "uuid": "u-1", "recipient": "jane@example.org"},
    )


def odd_context() -> dict:
    context = demo_context()
    context["event"].update(
        {
            "count": 1234567,
            "ratio": 0.5,
            "price": Decimal("12.50"),
            "flag": True,
            "nothing": None,
            "when": datetime.datetime(2026, 11, 29, 12, 30, tzinfo=datetime.UTC),
            "day": datetime.date(2026, 11, 29),
            "safe": mark_safe("<em>kept</em>"),
            "obj": Shouting(),
            "keyed": KeyedDict({"inner": "from a subclass <"}),
            "call": lambda: "called <",
            "nested": {"deeper": {"deepest": "d&d"}, "list": [{"x": "first"}, {"x": "second"}]},
            "pairs": [["a", 1], ["b", 2]],
            "html": "<p onclick='x'>para</p><script>bad()</script>",
            "numbers": {"1": "one by string key"},
        }
    )
    return context


TEMPLATES = [
    "{{ contact.first_name }} {{ contact.3 }} {{ event.order_id }} {{ stream.id }}",
    "{{ event.note }}|{{ event.note|upper }}|{{ event.note|default:'x' }}|{{ event.missing }}",
    "{{ event.missing|default:'<fallback>' }} {{ event.nothing|default:event.order_id }}",
    "{{ event.count }} {{ event.ratio }} {{ event.price }} {{ event.flag }} {{ event.nothing }}",
    "{{ event.when }} {{ event.day }} {{ event.when|date:'Y-m-d' }}",
    "{{ event.safe }} {{ event.safe|upper }} {{ event.html|safe_html }} {{ event.html|escape }}",
    "{{ event.obj }} {{ event.obj.name }} {{ event.obj.loud }} {{ event.call }}",
    "{{ event.keyed.inner }} {{ event.nested.deeper.deepest }} {{ event.nested.list.1.x }}",
    "{{ event.items.0.name }} {{ event.items|length }} {{ event.items.count }}",
    "{{ event.numbers.1 }} {{ event.order_id.upper }} {{ event.note.missing.more }}",
    "{% for item in event.items %}{{ forloop.counter }}/{{ forloop.revcounter0 }}"
    "{% if forloop.first %}F{% endif %}{% if forloop.last %}L{% endif %}:{{ item.name }}"
    " x{{ item.quantity|default:1 }}{% empty %}none{% endfor %}",
    "{% for a, b in event.pairs %}{{ a }}={{ b }};{% endfor %}"
    "{% for x in event.missing %}never{% empty %}empty{% endfor %}",
    "{% for outer in event.nested.list %}{% for item in event.items %}"
    "{{ forloop.parentloop.counter }}.{{ forloop.counter }} {{ outer.x }} {{ item.price }};"
    "{% endfor %}{% endfor %}",
    "{% if event.order_date and not event.missing %}yes{% elif event.flag %}flag"
    "{% else %}no{% endif %}{% if event.count > 1000 %}big{% endif %}"
    "{% if event.items|length == 2 %}two{% endif %}{% if 'a' in event.note %}has a{% endif %}",
    "{% with name=contact.first_name total=event.total %}{{ name }} owes {{ total }}{% endwith %}",
    "{% firstof event.missing event.order_id %} {% cycle 'a' 'b' as c %}{% cycle c %}"
    "{% filter upper %}{{ event.note }}{% endfilter %}",
    "{{ event }}",
    "{{ contact }}",
    "{{ True }} {{ None }} {{ 'literal <x>' }} {{ 42 }} {{ 1.5 }}",
    "{% spaceless %}<p> {{ event.order_url }} </p>{% endspaceless %}{% templatetag openbrace %}",
    "{{ event.items|join:', ' }} {{ event.note|truncatechars:5 }} {{ event.total|floatformat:1 }}",
]


def outcome(template, context: dict, autoescape: bool) -> str:
    """What rendering gives: the text, or the exception Django's code raises."""
    try:
        return template.render(Context(context, autoescape=autoescape))
    except Exception as exc:  # a failing variable argument raises in Django's code too
        return f"raised {type(exc).__name__}: {exc}"


@pytest.mark.parametrize("source", [*TEMPLATES, template_html(), template_text()])
@pytest.mark.parametrize("engine", [HTML_ENGINE, PLAIN_ENGINE], ids=["html", "plain"])
def test_fast_template_renders_what_django_renders(source, engine):
    fast = engine.from_string(source)
    assert isinstance(fast, FastTemplate)
    for context in (demo_context(), odd_context(), {}):
        expected = outcome(Template(source, engine=engine), context, engine.autoescape)
        assert outcome(fast, context, engine.autoescape) == expected


def test_fast_template_matches_django_with_thousand_separators(settings):
    settings.USE_THOUSAND_SEPARATOR = True
    source = "{{ event.count }} {% for i in event.pairs %}{{ i.1 }}{% endfor %}"
    context = odd_context()
    expected = Template(source, engine=HTML_ENGINE).render(Context(context))
    assert HTML_ENGINE.from_string(source).render(Context(context)) == expected
    assert "1,234,567" in expected


def test_plain_data_skips_djangos_general_lookup(monkeypatch):
    template = HTML_ENGINE.from_string(template_html())
    variable_nodes = template.nodelist.get_nodes_by_type(FastVariableNode)
    assert variable_nodes
    assert all(isinstance(node.filter_expression, FastFilterExpression) for node in variable_nodes)
    expected = template.render(Context(demo_context()))

    def general_lookup(self, context):
        raise AssertionError(f"general lookup used for {self.var}")

    monkeypatch.setattr(Variable, "_resolve_lookup", general_lookup)
    assert template.render(Context(demo_context())) == expected
    assert "Hi Jane &lt;J&gt;," in expected


def test_other_values_still_take_djangos_lookup(monkeypatch):
    calls = []
    original = Variable._resolve_lookup

    def counting(self, context):
        calls.append(self.var)
        return original(self, context)

    monkeypatch.setattr(Variable, "_resolve_lookup", counting)
    rendered = HTML_ENGINE.from_string("{{ event.obj.loud }}|{{ event.keyed.inner }}").render(
        Context(odd_context())
    )
    assert rendered == "LOUD &lt;b&gt;|from a subclass &lt;"
    assert calls == ["event.obj.loud", "event.keyed.inner"]
