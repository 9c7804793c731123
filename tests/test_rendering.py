"""The locked-down ESL sandbox and the personalisation context."""

import pytest
from jinja2 import TemplateError

from streams import rendering
from streams.rendering import (
    TemplateProblem,
    build_context,
    check_template,
    compile_parts,
    contact_context,
    render,
)


def render_html(source: str, **context) -> str:
    return render(compile_parts("s", source, ""), context).html


@pytest.mark.parametrize(
    "source",
    [
        "{% load static %}",
        "{% include 'x.html' %}",
        "{% extends 'base.html' %}",
        "{% import 'x.html' as x %}",
        "{% from 'x.html' import y %}",
        "{% macro m() %}{% endmacro %}",
        "{% debug %}",
        "{% url 'admin:index' %}",
        "{% csrf_token %}",
        "{% autoescape false %}{{ x }}{% endautoescape %}",
        "{{ x|safe }}",
        "{{ x|safeseq }}",
        "{{ x|attr('__class__') }}",
        "{{ 'x'|center(3000000000) }}",
        "{{ '%s'|format(x) }}",
    ],
)
def test_engine_refuses_tags_that_reach_outside_the_template(source):
    with pytest.raises(TemplateError):
        compile_parts("subject", source, "")


def test_event_data_is_escaped_in_html_but_not_in_text_or_subject():
    compiled = compile_parts("Hi {{ event.name }}", "<p>{{ event.name }}</p>", "{{ event.name }}")

    rendered = render(compiled, build_context(data={"name": "<b>A&B</b>"}, contact={}))

    assert rendered.html == "<p>&lt;b&gt;A&amp;B&lt;/b&gt;</p>"
    assert rendered.text == "<b>A&B</b>"
    assert rendered.subject == "Hi <b>A&B</b>"


def test_subject_loses_line_breaks_from_data():
    compiled = compile_parts("Order {{ event.id }}", "", "x")

    rendered = render(compiled, build_context(data={"id": "1\r\nBcc: all@example.org"}, contact={}))

    assert rendered.subject == "Order 1 Bcc: all@example.org"
    assert "\n" not in rendered.subject


def test_global_data_is_merged_into_event_and_kept_as_global():
    context = build_context(
        data={"order_id": "root", "global": {"order_id": "g", "shop": "S"}}, contact={}
    )

    assert context["event"]["order_id"] == "root"
    assert context["event"]["shop"] == "S"
    assert context["global"] == {"order_id": "g", "shop": "S"}
    assert render_html("{{ event.shop }}/{{ global.order_id }}", **context) == "S/g"


def test_contact_fields_by_name_and_by_emarsys_field_id(db):
    contact = contact_context(
        email="jane@example.org", first_name="Jane", last_name="Doe", fields={"tier": "gold"}
    )
    context = build_context(data={}, contact=contact)

    html = render_html(
        "{{ contact.1 }} {{ contact.2 }} {{ contact.3 }} {{ contact.first_name }} "
        "{{ contact.tier }}",
        **context,
    )

    assert html == "Jane Doe jane@example.org Jane gold"


def test_loops_and_filters_render():
    context = build_context(data={"items": [{"n": "a", "q": 2}, {"n": "b", "q": 1}]}, contact={})

    html = render_html(
        "{% for i in event.items %}{{ i.n|upper }}{% if i.q > 1 %}x{{ i.q }}{% endif %};"
        "{% endfor %}{{ contact.first_name|default('there') }}",
        **context,
    )

    assert html == "Ax2;B;there"


def test_check_template_reports_the_line_at_fault():
    html = "<p>one</p>\n<p>two</p>\n<p>{% if %}</p>\n"

    with pytest.raises(TemplateProblem) as problem:
        check_template("subject", html, "", build_context(data={}, contact={}))

    assert problem.value.part == "HTML"
    assert problem.value.line == 3
    assert "line 3" in str(problem.value)
    assert "{% if %}" in str(problem.value)


def test_compiled_templates_are_cached_per_version(make_stream, monkeypatch):
    stream = make_stream()
    version = stream.current_version
    compiled = []
    original = rendering.compile_parts
    monkeypatch.setattr(rendering, "compile_parts", lambda *a: compiled.append(a) or original(*a))
    context = build_context(data={"order_id": "1"}, contact={})

    first = rendering.render_version(version, context)
    second = rendering.render_version(version, context)

    assert len(compiled) == 1
    assert first == second
    assert first.subject == "Your order #1"
