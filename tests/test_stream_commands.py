"""Operators' commands: list_streams, pause_stream, resume_stream, edit_stream, send_test."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.models import Message
from streams.models import MailStream
from tests.conftest import database_url_for_subprocess

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def trigger(api, stream, order_id="C-1"):
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": order_id}},
    )


def test_list_streams_shows_status_lane_version_and_held_count(api, make_stream, make_contact):
    stream = make_stream()
    make_stream(name="Newsletter draft", status=MailStream.Status.DRAFT)
    make_contact()
    run("pause_stream", str(stream.pk))
    trigger(api, stream)

    output = run("list_streams")

    header, first, second = output.splitlines()
    assert header.split() == ["ID", "NAME", "EVENT", "STATUS", "LANE", "VERSION", "HELD"]
    assert "Order confirmation" in first and "paused (hold)" in first
    assert first.split()[-3:] == ["transactional", "v1", "1"]
    assert "Newsletter draft" in second and "draft" in second


def test_pause_and_resume_by_name_report_what_changed(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()

    paused = run("pause_stream", "Order confirmation", "--policy", "hold")
    trigger(api, stream, "R-1")
    trigger(api, stream, "R-2")
    with django_capture_on_commit_callbacks(execute=True):
        resumed = run("resume_stream", "Order confirmation")

    assert "Paused Order confirmation (policy hold)" in paused
    assert "2 held messages released, 0 expired" in resumed
    assert len(smtp_server.wait_for(2)) == 2


def test_pause_with_discard_policy_and_policy_change_while_paused(make_stream):
    stream = make_stream()

    run("pause_stream", str(stream.pk), "--policy", "discard")
    changed = run("pause_stream", str(stream.pk), "--policy", "hold")

    stream.refresh_from_db()
    assert stream.status == "paused" and stream.pause_policy == "hold"
    assert "its pause policy is now hold" in changed


def test_resume_expires_with_max_age_option(api, make_stream, make_contact):
    stream = make_stream()
    make_contact()
    run("pause_stream", str(stream.pk))
    trigger(api, stream)
    Message.objects.update(received_at=Message.objects.get().received_at.replace(year=2020))

    output = run("resume_stream", str(stream.pk), "--max-age-hours", "1")

    assert "0 held messages released, 1 expired" in output
    assert Message.objects.get().skip_reason == Message.SkipReason.EXPIRED


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("pause_stream", "No such stream"), "No mail stream with the id or name 'No such stream'"),
        (("resume_stream", "Order confirmation"), "is live, not paused"),
        (("resume_stream", "Order confirmation", "--max-age-hours", "0"), "must be more than 0"),
        (("edit_stream", "Order confirmation"), "Nothing to do"),
        (
            ("edit_stream", "Order confirmation", "--sender", "x@elsewhere.org"),
            "is not a sender domain",
        ),
        (("edit_stream", "Order confirmation", "--html-file", "/nonexistent.html"), "cannot read"),
        (("send_test", "Order confirmation", "--to", "not an address"), "not a valid email"),
        (
            ("send_test", "Order confirmation", "--to", "a@example.org", "--data", "[1]"),
            "JSON object",
        ),
    ],
)
def test_commands_fail_with_clear_errors(make_stream, args, error):
    make_stream()

    with pytest.raises(CommandError, match=error):
        run(*args)


def test_pause_of_a_draft_is_refused(make_stream):
    make_stream(status=MailStream.Status.DRAFT)

    with pytest.raises(CommandError, match="only live streams can be paused"):
        run("pause_stream", "Order confirmation")


def test_edit_stream_writes_a_draft_and_publishes_it(make_stream, tmp_path):
    stream = make_stream()
    html = tmp_path / "new.html"
    html.write_text('<p onclick="x()">New {{ event.order_id }}</p><script>bad()</script>')

    draft_output = run(
        "edit_stream",
        "Order confirmation",
        "--subject",
        "New #{{ event.order_id }}",
        "--html-file",
        str(html),
    )
    publish_output = run("edit_stream", str(stream.pk), "--publish")

    assert "Saved draft v2" in draft_output
    assert "Published v2 of Order confirmation. New triggers use it now." in publish_output
    stream.refresh_from_db()
    assert stream.current_version.number == 2
    assert stream.current_version.subject == "New #{{ event.order_id }}"
    assert stream.current_version.html_source == "<p>New {{ event.order_id }}</p>"


def test_edit_stream_refuses_content_that_does_not_render(make_stream, tmp_path):
    stream = make_stream()
    html = tmp_path / "broken.html"
    html.write_text("<p>one</p>\n<p>{% if event.x %}two</p>")

    with pytest.raises(CommandError, match=r"does not render: HTML, line 2"):
        run("edit_stream", str(stream.pk), "--html-file", str(html), "--publish")

    assert stream.versions.count() == 1


def test_edit_stream_changes_the_sender(make_stream):
    stream = make_stream()

    run("edit_stream", str(stream.pk), "--sender", "service@example.com")

    stream.refresh_from_db()
    assert stream.sender_email == "service@example.com"


def test_send_test_sends_with_given_data(smtp_server, make_stream):
    make_stream()

    output = run(
        "send_test",
        "Order confirmation",
        "--to",
        "qa@example.org",
        "--data",
        '{"order_id": "CLI-1"}',
    )

    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[TEST] Your order #CLI-1"
    assert "Sent a test of Order confirmation v1 to qa@example.org" in output
    assert Message.objects.get().is_test


def test_send_test_refused_by_the_mta_exits_with_an_error(smtp_server, make_stream):
    make_stream()
    smtp_server.rcpt_replies["qa@example.org"] = "550 5.1.1 no such user"

    with pytest.raises(CommandError, match=r"550 5\.1\.1 no such user"):
        run("send_test", "Order confirmation", "--to", "qa@example.org")

    assert Message.objects.get().status == Message.Status.FAILED


def test_failing_command_exits_non_zero_and_help_works(transactional_db):
    env = {"DATABASE_URL": database_url_for_subprocess(), "PATH": "/usr/bin:/bin"}

    failed = subprocess.run(
        [sys.executable, "manage.py", "pause_stream", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    helped = subprocess.run(
        [sys.executable, "manage.py", "edit_stream", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert failed.returncode != 0
    assert "No mail stream with the id or name 'nope'" in failed.stderr
    assert helped.returncode == 0
    assert "--html-file" in helped.stdout and "--publish" in helped.stdout
