"""Templates and contexts that exercise every tag and filter kind a stream's template can use,
shared by the tests that hold the fast template paths to Django's own rendering."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils.safestring import mark_safe

from streams.rendering import build_context, contact_context
from triggered_email.demo import SAMPLE_DATA


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


def record_calls(monkeypatch, owner: type, method: str, what) -> list:
    """Wrap `owner.method` to record `what(self)` for every call; the calls go through."""
    calls = []
    original = getattr(owner, method)

    def recording(self, *args, **kwargs):
        calls.append(what(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, recording)
    return calls
