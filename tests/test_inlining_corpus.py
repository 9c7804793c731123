"""CSS inlining at publish time keeps every template exactly as written, but for added styles.

A corpus of tricky templates goes through inlining; the template syntax must come back
unchanged and in place, and the rendered email must be the same document with style attributes
added.
"""

import lxml.html
import pytest

from streams.inlining import inline_css
from streams.rendering import build_context, compile_parts, contact_context, render
from streams.sanitizing import clean_template_html
from streams.template_tokens import TEMPLATE_SYNTAX

HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>
  td.cell { padding: 4px; color: #333333; }
  a.btn { background: #0f766e; color: #ffffff; }
  p { margin: 0 0 8px 0; }
  .vip { font-weight: bold; }
  @media only screen and (max-width: 600px) { td.cell { display: block !important; } }
</style></head><body>"""
TAIL = "</body></html>"

CORPUS = {
    "loop inside table": """<table><tr><th>Item</th></tr>
{% foreach item in event.items %}<tr><td class="cell">{{ item.name }}</td>
<td class="cell">{{ item.qty }}</td></tr>{% else %}<tr><td>none</td></tr>{% endforeach %}
</table>""",
    "foreach with limit": """<table>{% foreach item in event.items limit 3 %}<tr>
<td class="cell">{{ loop.index }}. {{ item.name }}</td></tr>{% endforeach %}</table>""",
    "comparisons": """<p>{% if event.total > 100 %}Free shipping{% elseif event.total < 10 %}Small
{% else %}Standard{% endif %}</p>
<p>{% if event.a >= 1 and event.b <= 2 or not event.c %}logic{% endif %}</p>""",
    "tags in href src alt": """<p><a class="btn" href="{{ event.url }}?id={{ event.id }}&amp;x=1">
Go</a><img src="{{ event.img|default('https://example.com/a.png') }}"
alt="{{ contact.first_name }}'s &quot;picture&quot;"></p>""",
    "coalescing inside href": """<p><a class="btn"
href="{{ event.link ?? 'https://example.com/?a=1&b=2' }}">Go</a></p>""",
    "concatenation inside attributes": """<p class="{{ 'tier-' ~ (event.tier ?? 'none') }}"
title="{{ contact.first_name ~ ' > ' ~ contact.3 }}">x</p>""",
    "filters with quotes": """<p>{{ event.when|localized_date('de', 'dd.MM.yyyy') }}
{{ event.n|default("a > b") }} {{ event.items|map(attribute='name')|join(", ") }}
{{ event.price|number_format(2, ',', '.') }}</p>""",
    "comments": """<p>{# a note for marketers #}Hello
{# <b>hidden</b> {% if x %} #}</p>""",
    "tag in attribute value": """<p class="{% if event.vip %}vip{% endif %}">Status</p>""",
    "tag in attribute position": """<table><tr>
<td class="cell" {% if event.vip %}data-vip="yes"{% endif %}>x</td></tr></table>""",
    "unicode and entities": """<p>Grüße &amp; €5 &nbsp;– {{ contact.1|default("Zoë") }}
&copy; 2026</p>""",
    "set and ranges": """<table>{% set rows = {odd: 'odd', even: 'even'} %}
{% for i in 1..3 %}<tr class="{% if i is odd %}{{ rows.odd }}{% else %}{{ rows.even }}{% endif %}">
</tr>{% endfor %}</table>""",
}

CONTEXTS = [
    build_context(
        data={
            "items": [{"name": "Tea <b>", "qty": 2}, {"name": "Cup", "qty": 1}],
            "total": 150,
            "a": 1,
            "b": 2,
            "url": "https://shop.example.com/o?q=1&r=2",
            "id": "7",
            "img": "https://cdn.example.com/i.png",
            "when": "2026-11-27",
            "n": "",
            "price": 3.14159,
            "vip": True,
        },
        contact=contact_context(email="jane@example.org", first_name="Jane"),
    ),
    build_context(data={"items": [], "total": 5, "c": True}, contact={}),
]


def strip_styles(html: str) -> str:
    """The document minus what inlining may change: style attributes and <style> elements."""
    root = lxml.html.document_fromstring(html)
    for element in root.iter():
        element.attrib.pop("style", None)
    for style in root.findall(".//style"):
        style.getparent().remove(style)
    return lxml.html.tostring(root, encoding="unicode")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_template_syntax_survives_inlining_in_place(name):
    source = HEAD + CORPUS[name] + TAIL

    inlined = inline_css(source)

    assert TEMPLATE_SYNTAX.findall(inlined) == TEMPLATE_SYNTAX.findall(source)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_rendered_email_is_unchanged_but_for_added_styles(name):
    source = HEAD + CORPUS[name] + TAIL
    inlined = inline_css(source)

    for context in CONTEXTS:
        before = render(compile_parts("s", source, ""), context).html
        after = render(compile_parts("s", inlined, ""), context).html
        assert strip_styles(after) == strip_styles(before)


def test_styles_are_inlined_and_media_rules_stay_in_head():
    inlined = inline_css(HEAD + CORPUS["loop inside table"] + TAIL)

    root = lxml.html.document_fromstring(inlined)
    cell = root.xpath("//td[@class='cell']")[0]
    assert "padding:4px" in cell.get("style").replace(" ", "")
    assert "color:#333" in cell.get("style").replace(" ", "")
    [style] = root.xpath("//head/style")
    assert "@media only screen and (max-width: 600px)" in style.text
    assert "td.cell {" not in style.text.split("@media")[0]
    # No presentational attributes were derived from the CSS.
    assert cell.get("width") is None and cell.get("align") is None


def test_empty_html_is_left_alone():
    assert inline_css("") == ""


@pytest.mark.parametrize(
    "name",
    [
        "foreach with limit",
        "coalescing inside href",
        "concatenation inside attributes",
        "set and ranges",
        "filters with quotes",
    ],
)
def test_esl_syntax_survives_cleaning_on_save_exactly(name):
    source = HEAD + CORPUS[name] + TAIL

    cleaned = clean_template_html(source)

    assert TEMPLATE_SYNTAX.findall(cleaned) == TEMPLATE_SYNTAX.findall(source)
