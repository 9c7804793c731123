"""ESL templates written as Emarsys's ESL documentation shows them, each with its expected output,
through the whole path: API trigger → transactional lane → real SMTP server (issue 19, point 8).

Each case is the text part of a live stream; the trigger's data and the contact are the same for
all cases, so a case's output depends only on its template. (Hashes have keys of one length:
PostgreSQL's jsonb stores shorter keys first.)
"""

import pytest

from events.models import Contact
from streams.rendering import build_context, check_template, contact_context

pytestmark = pytest.mark.django_db

DATA = {
    "order_id": "A-17",
    "total": 1234.5,
    "name": "  mixed Case name  ",
    "email": "jane@example.com",
    "items": [
        {"name": "Tea", "quantity": 2, "price": 4.5},
        {"name": "Cup", "quantity": 1, "price": 12},
        {"name": "Pot", "price": 30},
    ],
    "tags": ["new", "gift"],
    "address": {"city": "Berlin", "code": "10115"},
    "empty_text": "",
    "nothing": None,
    "date": "2026-03-05T14:03:00Z",
    "query": "a b&c",
    "note": "line one\nline two",
    "global": {"campaign": "spring", "order_id": "overridden"},
}

CORPUS = {
    # Personalisation by Emarsys field id and by name; Contact. as an alias.
    "contact by field id": (
        "Hi {{ contact.1 }} {{ contact.2 }} <{{ contact.3 }}>",
        "Hi Jane Doe <jane@example.org>",
    ),
    "contact alias and custom field id": (
        "{{ Contact.1 }}/{{ contact.5 }}/{{ contact.city }}",
        "Jane/gold/Hamburg",
    ),
    "default on missing null and empty": (
        "{{ contact.99|default('there') }} {{ event.nothing|default('n') }} "
        "{{ event.empty_text|default('e') }} {{ event.order_id|default('x') }}",
        "there n e A-17",
    ),
    # Loops.
    "foreach": (
        "{% foreach item in event.items %}{{ item.name }};{% endforeach %}",
        "Tea;Cup;Pot;",
    ),
    "foreach with limit": (
        "{% foreach item in event.items limit 2 %}{{ loop.index }}.{{ item.name }}"
        " {% endforeach %}",
        "1.Tea 2.Cup ",
    ),
    "for with else on missing data": (
        "{% for line in event.lines %}x{% else %}no lines{% endfor %}|"
        "{% foreach item in event.items.missing %}x{% else %}none{% endforeach %}",
        "no lines|none",
    ),
    "event.items is the data, never a method": (
        "{{ event.items|length }} {{ event.keys }}{{ event.values }}{{ event.address.items }}.",
        "3 .",
    ),
    "foreach over a hash": (
        "{% foreach key, value in event.address %}{{ key }}={{ value }} {% endforeach %}",
        "city=Berlin code=10115 ",
    ),
    "loop variables": (
        "{% for tag in event.tags %}{{ loop.index0 }}{{ loop.revindex }}{% if loop.last %}"
        "!{% endif %}"
        "{% endfor %}",
        "0211!",
    ),
    # Conditions.
    "if elseif else": (
        "{% if event.total > 2000 %}big{% elseif event.total > 1000 %}medium{% else %}"
        "small{% endif %}"
        "{% if event.total < 10 %}x{% elif event.total == 1234.5 %}=exact{% endif %}",
        "medium=exact",
    ),
    "and or not in": (
        "{% if 'gift' in event.tags and not event.nothing or false %}gift{% endif %}"
        "{% if 'cash' not in event.tags %}, no cash{% endif %}",
        "gift, no cash",
    ),
    "starts with and ends with": (
        "{% if event.email ends with '@example.com' %}shop{% endif %}"
        "{% if event.order_id starts with 'A-' %} A-order{% endif %}",
        "shop A-order",
    ),
    "is defined and is empty": (
        "{{ event.order_id is defined }} {{ event.missing is defined }}"
        " {{ event.empty_text is empty }}"
        " {{ event.tags is not empty }} {{ event.missing is empty }}",
        "True False True True True",
    ),
    # Variables, literals, operators.
    "set with list and hash literals": (
        "{% set colors = ['red', 'green'] %}{% set sizes = {small: 'S', 'large': 'L'} %}"
        "{{ colors|join('+') }} {{ sizes.small }}{{ sizes.large }}",
        "red+green SL",
    ),
    "a value set inside a loop is still set after it, as in Twig": (
        "{% set total = 0 %}{% foreach item in event.items %}"
        "{% set total = total + item.price %}{% endforeach %}{{ total }}",
        "46.5",
    ),
    "concatenation and ranges": (
        "{{ 'Order ' ~ event.order_id ~ '!' }} {{ (1..4)|join(',') }} {{ ('a'..'c')|join }}",
        "Order A-17! 1,2,3,4 abc",
    ),
    "null coalescing": (
        "{{ event.missing ?? 'fallback' }} {{ event.order_id ?? 'x' }}"
        " {{ event.a.b.c ?? null ?? 'deep' }}",
        "fallback A-17 deep",
    ),
    "ternary and elvis": (
        "{{ event.total > 1000 ? 'VIP' : 'regular' }} {{ event.empty_text ?: 'blank' }} "
        "{{ 'Dear ' ~ (contact.5 == 'gold' ? 'Gold member' : contact.1) }}",
        "VIP blank Dear Gold member",
    ),
    "global data merged and by itself": (
        "{{ event.campaign }} {{ global.campaign }} {{ event.order_id }} {{ global.order_id }}",
        "spring spring A-17 overridden",
    ),
    "missing chain renders empty": ("[{{ event.a.b.c }}][{{ contact.99.x }}]", "[][]"),
    # Filters.
    "case filters": (
        "{{ event.name|trim|upper }}|{{ event.name|trim|lower }}|{{ event.name|trim|capitalize }}"
        "|{{ event.name|trim|title }}",
        "MIXED CASE NAME|mixed case name|Mixed case name|Mixed Case Name",
    ),
    "first last length join": (
        "{{ event.tags|first }} {{ event.tags|last }} {{ event.tags|length }}"
        " {{ event.tags|join(', ') }}",
        "new gift 2 new, gift",
    ),
    "replace with a hash": (
        "{{ 'Dear %name%, %x%'|replace({'%name%': contact.1, '%x%': 'hi'}) }}",
        "Dear Jane, hi",
    ),
    "url_encode and json_encode": (
        "{{ event.query|url_encode }} {{ event.address|json_encode }}",
        'a%20b%26c {"city":"Berlin","code":"10115"}',
    ),
    "number_format": (
        "{{ event.total|number_format(2, ',', '.') }} {{ event.total|number_format }}",
        "1.234,50 1,235",
    ),
    "localized dates": (
        "{{ event.date|localized_date('de', 'dd.MM.yyyy') }} "
        "{{ event.date|localized_datetime('de', 'd. MMMM yyyy, HH:mm') }} "
        "{{ event.date|localized_time('en', 'h:mm a') }}",
        "05.03.2026 5. März 2026, 14:03 2:03 PM",
    ),
}


@pytest.fixture
def jane(db):
    return Contact.objects.create(
        email="jane@example.org",
        first_name="Jane",
        last_name="Doe",
        fields={"5": "gold", "city": "Hamburg"},
    )


def context():
    return build_context(
        data=DATA,
        contact=contact_context(
            email="jane@example.org",
            first_name="Jane",
            last_name="Doe",
            fields={"5": "gold", "city": "Hamburg"},
        ),
    )


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_esl_renders_as_documented(name):
    template, expected = CORPUS[name]

    assert check_template("s", "", template, context()).text == expected


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_esl_corpus_arrives_through_api_lane_and_smtp(name, api, smtp_server, make_stream, jane):
    template, expected = CORPUS[name]
    stream = make_stream(subject="Corpus {{ event.order_id }}", html="", text=template)

    reply = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": jane.email, "data": DATA},
    )

    assert reply.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Corpus A-17"
    assert mail.part("text/plain").rstrip("\r\n").replace("\r\n", "\n") == expected


HTML_CASES = {
    "data is escaped, raw is cleaned": (
        "<p>{{ event.markup }}</p><div>{{ event.markup|raw }}"
        "</div><div>{{ event.markup|safe_html }}</div>",
        {"markup": "<b>bold</b><script>alert(1)</script><img src=x onerror=alert(2)>"},
        "<p>&lt;b&gt;bold&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        "&lt;img src=x onerror=alert(2)&gt;</p>"
        '<div><b>bold</b><img src="x"></div><div><b>bold</b><img src="x"></div>',
    ),
    "nl2br escapes then breaks": (
        "<p>{{ event.note|nl2br }}</p>",
        {"note": "a < b\nc"},
        "<p>a &lt; b<br />\nc</p>",
    ),
    "the demo's empty branch runs when a trigger carries no items": (
        "<ul>{% foreach item in event.items %}<li>{{ item.name }}</li>"
        "{% else %}<li>Details follow.</li>{% endforeach %}</ul>",
        {"order_id": "1"},
        "<ul><li>Details follow.</li></ul>",
    ),
}


@pytest.mark.parametrize("name", sorted(HTML_CASES))
def test_esl_html_arrives_escaped_and_cleaned(name, api, smtp_server, make_stream, jane):
    template, data, expected = HTML_CASES[name]
    stream = make_stream(subject="HTML", html=template, text="")

    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": jane.email, "data": data},
    )

    [mail] = smtp_server.wait_for(1)
    # Publishing inlines CSS, which wraps a fragment in <html><body>.
    assert expected in mail.part("text/html").replace("\r\n", "\n")


def test_the_demo_order_confirmation_says_details_follow_when_a_trigger_has_no_items():
    from triggered_email.demo import template_html, template_text

    context = build_context(data={"order_id": "9", "total": "5"}, contact={})

    rendered = check_template("s", template_html(), template_text(), context)

    # Django's lookup looped over the data dict's own items() method: three empty order lines.
    assert "Your order details will follow in a separate email." in rendered.html
    assert "Your order details will follow in a separate email." in rendered.text
    assert rendered.html.count('<td class="num">') == 1  # only the total's cell
