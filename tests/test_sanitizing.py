"""Marketer-authored HTML is cleaned on save; real email layouts and templates survive intact."""

from pathlib import Path

import pytest
from jinja2 import TemplateError

from streams.models import EmailCampaign
from streams.rendering import build_context, check_template, compile_parts
from streams.sanitizing import clean_template_html
from streams.template_filters import safe_html
from streams.versions import save_draft
from tests.conftest import ORDER_HTML
from triggered_email.demo import template_html

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A realistic responsive email: XHTML doctype, Outlook namespaces and conditional comments,
# <style> with media queries in the head, nested layout tables with their attributes, inline
# styles, images, entities, and template syntax in text, loops between rows and in attributes.
LAYOUT = (FIXTURES / "responsive_order_layout.html").read_text()


def test_realistic_table_layout_survives_unchanged():
    assert clean_template_html(LAYOUT) == LAYOUT


@pytest.mark.parametrize("template", [ORDER_HTML, template_html()], ids=["fixture", "demo"])
def test_project_templates_survive_unchanged(template):
    assert clean_template_html(template) == template


def test_cleaned_layout_still_renders_its_loops_inside_tables():
    context = build_context(
        data={"order_id": "A-1", "total": 120, "items": [{"name": "Tee", "price": "4"}]},
        contact={"first_name": "Jana"},
    )

    rendered = check_template("s", clean_template_html(LAYOUT), "", context)

    assert '<tr class="odd">' in rendered.html
    assert "Tee</td>" in rendered.html
    assert "Versandkostenfrei" in rendered.html
    assert "<title>Ihre Bestellung A-1</title>" in rendered.html


HOSTILE = (FIXTURES / "hostile.html").read_text()


def test_hostile_html_is_neutralised():
    cleaned = clean_template_html(HOSTILE).lower()

    assert "<script" not in cleaned
    # Script elements are removed whole, text included (bleach alone would keep it).
    assert "document.cookie" not in cleaned
    assert "alert('mso')" not in cleaned
    assert "javascript:" not in cleaned
    assert "vbscript:" not in cleaned
    assert "onload" not in cleaned
    assert "onerror" not in cleaned
    assert "onclick" not in cleaned
    assert "onmouseover" not in cleaned
    for element in ("<iframe", "<svg", "<form", "<input", "<button", "<object", "<embed"):
        assert element not in cleaned
    assert "<link" not in cleaned
    assert "<base" not in cleaned
    assert "@import" not in cleaned
    assert "expression(" not in cleaned
    assert "http-equiv" not in cleaned
    assert "position:fixed" not in cleaned.replace(" ", "")
    assert "behavior" not in cleaned
    # What is harmless stays, including template syntax in a safe attribute.
    assert '<a href="{{ event.url }}">six</a>' in cleaned
    assert 'style="margin:0"' in cleaned
    assert '<img src="x.png" alt="x">' in cleaned
    assert "styled</p>" in cleaned


def test_saving_a_draft_or_campaign_cleans_its_html(make_stream):
    stream = make_stream()
    hostile = '<p onclick="x()">Hi</p><script>alert(1)</script>'

    draft = save_draft(stream, subject="s", html_source=hostile, text="")
    campaign = EmailCampaign.objects.create(
        name="c", subject="s", sender_email="a@example.com", html=hostile
    )

    draft.refresh_from_db()
    campaign.refresh_from_db()
    assert draft.html_source == "<p>Hi</p>"
    assert campaign.html == "<p>Hi</p>"


def test_event_data_is_escaped_and_safe_html_cleans_it():
    source = "<div>{{ event.note }}</div><div>{{ event.note|safe_html }}</div>"
    note = '<b>Gift</b> <img src="x" onerror="alert(1)"><script>steal()</script>'

    html = check_template("s", source, "", build_context(data={"note": note}, contact={})).html

    escaped, cleaned = html.split("</div><div>")
    assert "&lt;b&gt;Gift&lt;/b&gt;" in escaped
    assert "<b>Gift</b>" in cleaned
    assert "onerror" not in cleaned and "steal" not in cleaned and "<script" not in cleaned
    assert safe_html(None) == ""


def test_safe_filter_is_not_available_to_templates():
    with pytest.raises(TemplateError):
        compile_parts("s", "{{ event.note|safe }}", "")
