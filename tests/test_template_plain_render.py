"""Rendering straight from plain data gives exactly what Django's template code renders."""

from __future__ import annotations

import logging

import pytest
from django.template import Context, Template

from streams.rendering import HTML_ENGINE, PLAIN_ENGINE
from streams.template_plain_render import PlainRenderTemplate
from tests.template_cases import TEMPLATES, demo_context, odd_context, record_calls
from triggered_email.demo import template_html, template_text

# What the plain path must decide itself (missing keys, loops, conditions) or hand back to
# Django (names of dict methods, indexes, objects, failing filters), beyond the shared cases.
PLAIN_TEMPLATES = [
    "{{ event.missing }}|{{ event.missing.deeper }}|{{ nothere }}|{{ nothere.at.all }}",
    "{{ event.missing|default:'none' }}|{{ event.missing|length }}|{{ event.nothing|default:0 }}",
    "{{ event.items.missing }}|{{ event.keys }}|{{ event.values.x }}|{{ event.get }}",
    "{{ event.nested.list.0.x }}|{{ event.nested.list.9 }}|{{ event.numbers.2 }}|{{ event.1 }}",
    "{{ contact.first_name|upper|default:'x' }} {{ event.note|truncatechars:4|upper }}",
    "{{ event.order_id|add:event.count }} {{ event.order_id|add:event.missing }}",
    "{{ event.count|add:1 }} {{ event.ratio|floatformat:2 }} {{ event.when|date:'D' }}",
    "{{ event.note|linebreaksbr }} {{ event.note|urlize }} {{ event.html|safe_html|upper }}",
    "{% comment %}not {{ shown }}{% endcomment %}{# nor this #}x",
    "{% with a=event.order_id b=event.missing c=event.items|length %}{{ a }}-{{ b }}-{{ c }}"
    "{% with a='inner' %}{{ a }}{% endwith %}{{ a }}{% endwith %}{{ a }}",
    "{% for item in event.items reversed %}{{ forloop.counter }}{{ item.name }}"
    "{{ forloop.parentloop }}{% endfor %}",
    "{% for key in event.nested %}{{ key }};{% endfor %}{% for c in event.order_id %}{{ c }}."
    "{% endfor %}{% for x in event.count %}never{% empty %}not iterable{% endfor %}",
    "{% for a, b in event.pairs %}{{ a }}{{ b }}{% endfor %}"
    "{% for a, b, c in event.pairs %}{{ a }}{% endfor %}",
    "{% for a, b in event.items %}{{ a }}{% endfor %}",
    "{% for forloop in event.items %}{{ forloop }}{% endfor %}",
    "{% for item in event.items %}{% for x in event.pairs %}{% for y in x %}"
    "{{ forloop.parentloop.parentloop.counter }}{{ forloop.parentloop.first }}{{ y }}"
    "{% endfor %}{% endfor %}{% empty %}e{% endfor %}",
    "{% if event.missing %}a{% elif event.items.missing %}b{% elif not event.nope %}c{% endif %}",
    "{% if event.count > 'text' %}never{% else %}compare failed{% endif %}"
    "{% if event.nothing is None %}none{% endif %}{% if event.flag is not True %}x{% endif %}"
    "{% if event.order_id == '10042' or event.missing.deeper %}eq{% endif %}"
    "{% if 2 in event.pairs.0 %}in{% endif %}{% if 'b' not in event.pairs.1 %}out{% endif %}"
    "{% if event.count >= 1234567 and event.count <= 1234567 and event.count != 1 %}range"
    "{% endif %}{% if event.count < 0 %}neg{% endif %}",
    "{% if event.missing|default:event.order_id %}{{ event.missing|default:event.order_id }}"
    "{% endif %}{% if event.note|add:event.missing %}x{% endif %}",
    "{% if True %}{{ True }}{{ False }}{{ None }}{% endif %}{% if forloop %}f{% endif %}",
    "{{ event.items|first }} {{ event.items|dictsort:'name' }} {{ event.note|slice:':3' }}",
    "{{ event.missing|date:'Y' }} {{ event.note|date:'Y' }} {{ event.count|filesizeformat }}",
]


def outcome(render) -> str:
    """What rendering gives: the text, or the exception Django's code raises."""
    try:
        return render()
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"


def django_outcome(source: str, engine, context: dict) -> str:
    template = Template(source, engine=engine)
    return outcome(lambda: template.render(Context(context, autoescape=engine.autoescape)))


def with_root_keys(context: dict) -> dict:
    # Data whose root keys shadow names the plain path also uses.
    return {**context, "forloop": {"counter": "from the data"}, "True": "data's True"}


@pytest.mark.parametrize("source", [*TEMPLATES, *PLAIN_TEMPLATES, template_html(), template_text()])
@pytest.mark.parametrize("engine", [HTML_ENGINE, PLAIN_ENGINE], ids=["html", "plain"])
def test_plain_render_gives_what_django_renders(source, engine):
    template = engine.from_string(source)
    assert isinstance(template, PlainRenderTemplate)
    contexts = [demo_context(), odd_context(), with_root_keys(odd_context()), {}]
    for context in contexts:
        expected = django_outcome(source, engine, context)
        rendered = outcome(
            lambda context=context: template.render_data(context, autoescape=engine.autoescape)
        )
        assert rendered == expected


def test_demo_template_renders_without_djangos_render(monkeypatch):
    html = HTML_ENGINE.from_string(template_html())
    text = PLAIN_ENGINE.from_string(template_text())
    expected = (
        html.render(Context(demo_context(), autoescape=True)),
        text.render(Context(demo_context(), autoescape=False)),
    )

    def djangos_render(self, context):
        raise AssertionError("Django's Template.render was used")

    monkeypatch.setattr(Template, "render", djangos_render)
    rendered = (
        html.render_data(demo_context(), autoescape=True),
        text.render_data(demo_context(), autoescape=False),
    )
    assert rendered == expected
    assert "Hi Jane &lt;J&gt;," in rendered[0]


def test_missing_keys_are_decided_without_django(monkeypatch):
    template = HTML_ENGINE.from_string(
        "[{{ event.missing }}|{{ event.missing|default:'d' }}|{% if event.nope %}x{% endif %}"
        "{% for i in event.none %}y{% empty %}empty{% endfor %}]"
    )
    monkeypatch.setattr(Template, "render", lambda self, context: "Django's render")
    assert template.render_data(demo_context(), autoescape=True) == "[|d|empty]"


def test_objects_and_dict_method_names_go_to_django(monkeypatch):
    calls = record_calls(monkeypatch, Template, "render", lambda template: template.source)
    for source, expected in [
        ("{{ event.obj.name }}", "attr"),
        ("{{ event.keyed.inner }}", "from a subclass &lt;"),
        ("{{ event.items.count }}", ""),
        ("{{ event.note.upper }}", "&lt;SCRIPT&gt;X&lt;/SCRIPT&gt; &amp; &#x27;Q&#x27;"),
    ]:
        template = HTML_ENGINE.from_string(source)
        assert template.render_data(odd_context(), autoescape=True) == expected
    assert len(calls) == 4


def test_lookup_failures_are_logged_by_django_while_debug_logging(caplog):
    template = PLAIN_ENGINE.from_string("[{{ event.missing }}]")
    with caplog.at_level(logging.DEBUG, logger="django.template"):
        assert template.render_data(demo_context(), autoescape=False) == "[]"
    assert "Exception while resolving variable 'missing'" in caplog.text


def test_templates_with_other_tags_render_with_django(monkeypatch):
    template = PLAIN_ENGINE.from_string("{% cycle 'a' 'b' as c %}{{ event.order_id }}")
    monkeypatch.setattr(Template, "render", lambda self, context: "Django's render")
    assert template.render_data(demo_context(), autoescape=False) == "Django's render"
