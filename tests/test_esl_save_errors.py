"""Content that is not ESL is refused when a draft is saved or published — in the admin, by
`edit_stream` and when a campaign is copied — with the line, the column and a sentence naming
the construct in ESL's words; event keys missing from the sample data are warnings
(issue 19, point 4)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from streams.models import EmailCampaign, MailStream
from streams.rendering import syntax_problems
from tests.test_marketer_workflow import stream_form

pytestmark = pytest.mark.django_db

JARGON = ("jinja", "django", "templatesyntaxerror", "print statement", "statement block", "token")

MISTAKES = {
    "legacy dollar placeholder": (
        "<p>Hello</p>\n<p>Dear $First Name$,</p>",
        "$First Name$ is an old Emarsys placeholder",
        (2, 9),
    ),
    "legacy percent placeholder": (
        "<p>Your code: %%voucher_code%%</p>",
        "%%voucher_code%% is an old Emarsys placeholder",
        (1, 15),
    ),
    "unclosed foreach": (
        "<ul>\n  {% foreach item in event.items %}<li>{{ item.name }}</li>\n</ul>",
        "{% foreach %} is still open: close it with {% endforeach %}",
        (2, 3),
    ),
    "unknown tag": (
        "<p>\n{% if event.a %}x{% elsif event.b %}y{% endif %}</p>",
        "{% elsif %} does not fit here",
        (2, 18),
    ),
    "django filter argument": (
        '<p>{{ contact.1|default:"there" }}</p>',
        "ESL writes a filter's argument in parentheses: |default('x'), not |default:'x'",
        (1, 16),
    ),
    "unknown filter": (
        "<p>\n\n{{ event.total|money }}</p>",
        "ESL has no filter |money",
        (3, 15),
    ),
    "unclosed if": (
        "{% if event.vip %}\n<p>VIP</p>",
        "{% if %} is still open: close it with {% endif %}",
        (1, 1),
    ),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistakes_are_told_in_esl_words_with_line_and_column(name):
    source, sentence, (line, column) = MISTAKES[name]

    problem = syntax_problems("s", source, "")["html"]

    assert sentence in str(problem)
    assert (problem.line, problem.column) == (line, column)
    assert f"line {line}, column {column}" in str(problem)
    assert not any(word in str(problem).lower() for word in JARGON), str(problem)


def test_admin_refuses_to_save_a_legacy_placeholder(admin_client, make_stream):
    stream = make_stream(status=MailStream.Status.DRAFT)

    response = admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(stream, subject="Hi $First Name$", html_source="<p>ok</p>"),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "$First Name$ is an old Emarsys placeholder" in errors["subject"][0]
    assert "{{ contact.1 }}" in errors["subject"][0]
    assert stream.versions.count() == 1


def test_edit_stream_refuses_a_legacy_placeholder(make_stream, tmp_path):
    stream = make_stream()
    html = tmp_path / "new.html"
    html.write_text("<p>Hi</p>\n<p>%%first_name%%</p>")

    with pytest.raises(CommandError) as refused:
        call_command("edit_stream", str(stream.pk), "--html-file", str(html), stdout=StringIO())

    assert "HTML, line 2, column 4: %%first_name%% is an old Emarsys placeholder" in str(
        refused.value
    )
    assert stream.versions.count() == 1


def test_copying_a_campaign_with_legacy_placeholders_is_refused(admin_client, make_event):
    event = make_event()
    campaign = EmailCampaign.objects.create(
        name="Old Emarsys mail",
        subject="Hello $First Name$",
        sender_email="hello@example.com",
        html="<p>Hi</p>",
    )

    response = admin_client.post(
        f"/admin/streams/emailcampaign/{campaign.pk}/copy-to-stream/",
        {"event": event.pk, "name": "Copied", "sender_email": "hello@example.com"},
    )

    assert response.status_code == 200
    assert "$First Name$ is an old Emarsys placeholder" in response.content.decode()
    assert not MailStream.objects.filter(name="Copied").exists()


def test_prices_with_dollar_signs_are_not_placeholders():
    assert syntax_problems("Save $5 or $10 today", "<p>US$ 20 and 50% off, 100%%</p>", "") == {}


def test_event_keys_missing_from_the_sample_data_are_warnings(admin_client, make_stream):
    make_stream()

    preview = admin_client.post(
        "/admin/streams/mailstream/preview/",
        {
            "subject": "Order {{ event.order_id }}",
            "html_source": "<p>{{ event.ordr_total }} {{ global.campaign }} {{ contact.1 }}</p>",
            "text": "{% foreach i in event.items %}{{ i.name }}{% endforeach %}",
            "sample_data": json.dumps({"order_id": "1", "items": []}),
        },
    ).json()

    assert preview["ok"] is True
    assert len(preview["warnings"]) == 2
    assert "{{ event.ordr_total }} is not in the sample data" in preview["warnings"][0]
    assert "{{ global.campaign }}" in preview["warnings"][1]
