"""The fast template paths render exactly what Django's own template code renders."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.template.base import Variable

from streams.rendering import HTML_ENGINE, PLAIN_ENGINE
from streams.template_fast_paths import FastFilterExpression, FastTemplate, FastVariableNode
from tests.template_cases import TEMPLATES, demo_context, odd_context, record_calls
from triggered_email.demo import template_html, template_text


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
    calls = record_calls(monkeypatch, Variable, "_resolve_lookup", lambda variable: variable.var)
    rendered = HTML_ENGINE.from_string("{{ event.obj.loud }}|{{ event.keyed.inner }}").render(
        Context(odd_context())
    )
    assert rendered == "LOUD &lt;b&gt;|from a subclass &lt;"
    assert calls == ["event.obj.loud", "event.keyed.inner"]
