"""The data migration that moves Django-syntax stream content to ESL (issue 19, point 5)."""

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from delivery.models import Message
from streams.models import EmailCampaign, MailStream, StreamVersion
from streams.rendering import build_context, check_template, contact_context
from streams.template_conversion import convert

DJANGO_HTML = """<p>Hi {{ contact.first_name|default:"there" }},</p>
{% comment %}internal note{% endcomment %}
<ul>{% for item in event.items %}<li>{{ forloop.counter }}. {{ item.name|upper }}</li>
{% empty %}<li>Details follow.</li>{% endfor %}</ul>"""
DJANGO_TEXT = "Order {{ event.order_id }}: {{ event.note|default:'none' }}"
SAMPLE = {"order_id": "A-1", "items": [{"name": "Tea"}, {"name": "Cup"}]}


def run_migration() -> list[str]:
    lines: list[str] = []
    module = importlib.import_module("streams.migrations.0003_content_to_esl")
    from streams.template_conversion import migrate_content

    assert module.to_esl  # the migration runs exactly this function
    migrate_content(apps, lines.append)
    return lines


@pytest.fixture
def django_stream(db, make_event):
    """A live stream whose only version is published and in Django syntax, as before ESL."""
    stream = MailStream.objects.create(
        name="Orders",
        event=make_event(),
        sender_email="orders@example.com",
        status=MailStream.Status.LIVE,
        sample_data=SAMPLE,
        sample_contact={"first_name": "Jane", "email": "jane@example.org"},
    )
    version = StreamVersion.objects.create(
        stream=stream,
        number=1,
        subject="Order {{ event.order_id|upper }}",
        html_source=DJANGO_HTML,
        html_inlined=DJANGO_HTML,
        text=DJANGO_TEXT,
        published_at=timezone.now(),
    )
    MailStream.objects.filter(pk=stream.pk).update(current_version=version)
    stream.refresh_from_db()
    return stream


def test_converter_rewrites_django_constructs_into_esl():
    converted = convert(DJANGO_HTML).converted

    assert '{{ contact.first_name|default("there") }}' in converted
    assert "{#internal note#}" in converted
    assert "{{ loop.index }}" in converted
    assert "{% else %}" in converted and "{% empty %}" not in converted
    assert convert(converted).converted == converted  # ESL stays as it is


def test_a_current_published_version_gets_a_converted_copy_and_stays_immutable(django_stream):
    old = django_stream.current_version
    queued = Message.objects.create(
        stream=django_stream,
        version=old,
        recipient="a@example.org",
        message_id="<q@example.com>",
        status=Message.Status.QUEUED,
    )
    sent = Message.objects.create(
        stream=django_stream,
        version=old,
        recipient="b@example.org",
        message_id="<s@example.com>",
        status=Message.Status.SENT,
    )

    report = run_migration()

    django_stream.refresh_from_db()
    new = django_stream.current_version
    assert new.number == 2 and new.published_at is not None
    old.refresh_from_db()
    assert old.html_source == DJANGO_HTML  # the record of what was sent is untouched
    queued.refresh_from_db()
    sent.refresh_from_db()
    assert queued.version_id == new.pk and sent.version_id == old.pk
    assert any("v1 into v2 (now current), 1 unsent messages moved" in line for line in report)
    context = build_context(
        data=SAMPLE, contact=contact_context(email="jane@example.org", first_name="Jane")
    )
    rendered = check_template(new.subject, new.html_inlined, new.text, context)
    assert rendered.subject == "Order A-1"
    assert "1. TEA" in rendered.html and "2. CUP" in rendered.html
    assert rendered.text == "Order A-1: none"


def test_drafts_and_campaigns_are_converted_in_place(django_stream):
    draft = StreamVersion.objects.create(
        stream=django_stream, number=2, subject="s", html_source=DJANGO_HTML, text=""
    )
    campaign = EmailCampaign.objects.create(
        name="Spring", subject="Hi {{ contact.first_name|default:'you' }}", html=DJANGO_HTML
    )

    run_migration()

    draft.refresh_from_db()
    campaign.refresh_from_db()
    assert "{% else %}" in draft.html_source
    assert campaign.subject == "Hi {{ contact.first_name|default('you') }}"
    assert StreamVersion.objects.filter(stream=django_stream).count() == 3


def test_content_without_an_esl_equivalent_is_reported_and_left_alone(django_stream):
    old = django_stream.current_version
    unconvertible = "{% for i in event.items %}{% ifchanged %}x{% endifchanged %}{% endfor %}"
    StreamVersion.objects.filter(pk=old.pk).update(html_source=unconvertible)

    report = run_migration()

    django_stream.refresh_from_db()
    assert django_stream.current_version_id == old.pk
    assert any(line.startswith("NOT CONVERTED stream “Orders”") for line in report)
    assert any("{% ifchanged %}" in line for line in report)


def test_a_published_version_no_longer_in_use_is_kept_as_sent(django_stream):
    old = django_stream.current_version
    current = StreamVersion.objects.create(
        stream=django_stream,
        number=2,
        subject="ESL {{ event.order_id }}",
        html_source="<p>{{ event.order_id }}</p>",
        published_at=timezone.now(),
    )
    MailStream.objects.filter(pk=django_stream.pk).update(current_version=current)

    report = run_migration()

    assert StreamVersion.objects.filter(stream=django_stream).count() == 2
    old.refresh_from_db()
    assert old.html_source == DJANGO_HTML
    assert any("v1 as it was (published, no longer sent)" in line for line in report)
