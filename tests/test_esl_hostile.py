"""Hostile ESL: sandbox escapes reach nothing, and templates that loop or grow without bound end
in a permanent failure with its reason instead of holding a lane worker (issue 19, points 2, 3, 8).
"""

import time

import pytest

from delivery.models import Message
from events.models import Contact
from streams.previewing import preview_draft
from streams.rendering import TemplateProblem, build_context, check_template
from streams.template_budget import REASON

pytestmark = pytest.mark.django_db

# Each must print nothing of Python: no class, function, module, method or settings.
ESCAPES = [
    "{{ event.__class__ }}{{ event.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ event.items() }}{{ event.keys() }}{{ event.values }}{{ event.get('x') }}",
    "{{ event.pop('order_id') }}{{ event.update({'order_id': 'x'}) }}{{ event.order_id }}",
    "{{ self }}{{ self.__init__.__globals__ }}",
    "{{ range.__self__ }}{{ range.__globals__ }}{{ cycle.__globals__ }}",
    "{{ cycler }}{{ joiner }}{{ lipsum }}{{ namespace }}{{ dict }}",
    "{{ (1).__class__ }}{{ 'x'.upper }}{{ 'x'.format }}{{ 'x'['__class__'] }}",
    "{% for i in event.list %}{{ loop.__class__ }}{{ loop.cycle }}{{ loop.changed }}{% endfor %}",
    "{{ config }}{{ request }}{{ settings.SECRET_KEY }}{{ environment }}{{ context }}",
    "{{ event.order_id.__len__ }}{{ event.list.append }}{{ event.list.__getitem__ }}",
    "{% set x = event.__class__ %}{{ x }}{{ x.__base__ }}",
    "{{ event['__class__'] }}{{ event.list[0].__class__ }}",
]
PYTHON_WORDS = ("class", "function", "method", "module", "built-in", "object at", "<", "secret")


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_reach_nothing(template):
    context = build_context(data={"order_id": "A-1", "list": [1]}, contact={})

    text = check_template("s", "", template, context).text

    assert not any(word in text.lower() for word in PYTHON_WORDS), text
    assert "A-1" in text if "order_id }}" in template else True


@pytest.mark.parametrize(
    "template",
    [
        "{{ event|attr('__class__') }}",
        "{{ 'x'|center(3000000000) }}",
        "{{ '%s'|format(event) }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{% include 'admin/base.html' %}",
        "{% import 'admin/base.html' as base %}",
        "{% autoescape false %}{{ event.x }}{% endautoescape %}",
    ],
)
def test_constructs_that_reach_outside_are_refused_when_saved(template):
    with pytest.raises(TemplateProblem):
        check_template("s", template, "", build_context(data={}, contact={}))


BIG = list(range(4000))
# Template, data: each goes over a bound only with the trigger's data.
BOUNDED = {
    "nested loop over 4000 items": (
        "{% for a in event.big %}{% for b in event.big %}{% endfor %}{% endfor %}",
        {"big": BIG},
    ),
    "nested loop printing": (
        "{% for a in event.big %}{% for b in event.big %}{{ b }}{% endfor %}{% endfor %}",
        {"big": BIG},
    ),
    "repeated string": ("{{ event.s * event.n }}", {"s": "x", "n": 3_000_000_000}),
    "huge range": ("{{ (1..event.n)|length }}", {"n": 1_000_000_000}),
    "huge power": ("{{ event.n ** event.n }}", {"n": 99999}),
    "doubling concatenation": (
        "{% set a = event.s ~ event.s ~ event.s ~ event.s ~ event.s ~ event.s ~ event.s %}"
        "{% set b = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}{% set c = b ~ b ~ b ~ b ~ b ~ b %}"
        "{% set d = c ~ c ~ c ~ c ~ c ~ c ~ c ~ c ~ c ~ c %}{{ d|length }}",
        {"s": "x" * 10_000},
    ),
    "replace that multiplies": (
        "{{ event.s|replace({'x': event.s}) }}",
        {"s": "x" * 100_000},
    ),
    "padding a batch": ("{{ event.big|batch(event.n, 'x')|length }}", {"big": [1], "n": 10**10}),
    "joining a long list in a loop": (
        "{% for i in event.big %}{{ event.big|join(',') }}{% endfor %}",
        {"big": BIG},
    ),
}


def test_percent_is_a_remainder_never_string_formatting():
    context = build_context(data={"fmt": "%0999999999d", "n": 7}, contact={})

    assert check_template("s", "", "{{ event.n % 4 }}", context).text == "3"
    with pytest.raises(TemplateProblem, match="remainder of two numbers"):
        check_template("s", "", "{{ event.fmt % 1 }}", context)


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_unbounded_renders_fail_permanently_in_the_lane_without_holding_it(
    name, api, smtp_server, make_stream, settings
):
    template, data = BOUNDED[name]
    settings.TRIGGERED_EMAIL_RENDER_SECONDS = 0.3
    stream = make_stream(subject="Hostile", html="", text=template)
    Contact.objects.create(email="jane@example.org")

    started = time.monotonic()
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": data},
    )
    elapsed = time.monotonic() - started

    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.last_error == REASON
    assert message.attempts <= 1
    # The budget, plus the request, the lane's bookkeeping and a slow shared machine.
    assert elapsed < 0.3 + 2.0
    assert smtp_server.received == []


def test_an_unrelated_order_confirmation_still_goes_out(api, smtp_server, make_stream, settings):
    settings.TRIGGERED_EMAIL_RENDER_SECONDS = 0.3
    hostile = make_stream(
        name="Loop", subject="Loop", html="", text=BOUNDED["nested loop over 4000 items"][0]
    )
    orders = make_stream(
        hostile.event, name="Orders", subject="Order {{ event.order_id }}", html="", text="ok"
    )
    Contact.objects.create(email="jane@example.org")

    api.post(
        f"/api/v2/event/{hostile.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"big": BIG, "order_id": "7"}},
    )

    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Order 7"
    assert Message.objects.get(stream=hostile).last_error == REASON
    assert Message.objects.get(stream=orders).status == Message.Status.SENT


def test_the_preview_explains_the_limit_in_a_marketers_words(settings):
    settings.TRIGGERED_EMAIL_RENDER_SECONDS = 0.2

    started = time.monotonic()
    preview = preview_draft(
        subject="s",
        html="",
        text="{% for a in event.big %}{% for b in event.big %}{{ b }}{% endfor %}{% endfor %}",
        data={"big": BIG},
        contact={},
    )

    assert time.monotonic() - started < 0.2 + 1.5
    assert not preview.ok
    message = str(preview.problem)
    assert "takes too long or produces too much" in message
    assert "a loop inside a loop" in message
    assert "Jinja" not in message and "Exception" not in message


def test_the_preview_refuses_a_huge_width_without_allocating_it():
    preview = preview_draft(
        subject="s", html="", text="{{ 'x' * 3000000000 }}", data={}, contact={}
    )

    assert not preview.ok
    assert "takes too long or produces too much" in str(preview.problem)


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{% if 1 %}" * 2000 + "{% endif %}" * 2000,
        "{{ event" + ".a" * 20000 + " }}",
        "{% for a in event.x %}" * 25 + "{% endfor %}" * 25,
    ],
    ids=["brackets", "ifs", "attributes", "loops"],
)
def test_deep_nesting_is_a_problem_in_words_not_a_server_error(admin_client, source):
    response = admin_client.post(
        "/admin/streams/mailstream/preview/",
        {"subject": "s", "html_source": "", "text": source, "sample_data": "{}"},
    )

    assert response.status_code == 200
    assert "nests too deeply" in response.json()["problem"]["message"]
