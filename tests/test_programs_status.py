"""Program status: paused programs queue entries and start them on resume; finished ones take
no new entries; an event that only starts programs is triggerable and lists them as usages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Message
from events.models import Program, ProgramRun
from events.programs.runs import change_program_status
from events.programs.tasks import advance_due_runs
from tests.programs_support import make_program, send, wait

pytestmark = pytest.mark.django_db


@pytest.fixture
def signup(make_event):
    return make_event("signup")


@pytest.fixture
def welcome(make_event, make_stream):
    return make_stream(make_event("welcome"), name="Welcome", subject="Welcome {{ event.n }}")


def trigger(api, event, email="jane@example.org", **data):
    return api.post(
        f"/api/v2/event/{event.pk}/trigger", {"key_id": "3", "external_id": email, "data": data}
    )


def test_pausing_queues_new_entries_and_resuming_starts_them(
    api, django_capture_on_commit_callbacks, smtp_server, signup, welcome, make_contact
):
    make_contact("jane@example.org")
    make_contact("joe@example.org")
    program = make_program(signup, send(welcome))
    change_program_status(program, Program.Status.PAUSED)

    trigger(api, signup, "jane@example.org", n=1)
    trigger(api, signup, "joe@example.org", n=2)
    # Even the periodic pick-up leaves them alone while the program is paused.
    advance_due_runs(now=timezone.now() + timedelta(hours=1))

    assert set(ProgramRun.objects.values_list("status", flat=True)) == {"queued"}
    assert not Message.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        change_program_status(program, Program.Status.ACTIVE)

    mails = smtp_server.wait_for(2)
    assert sorted(m.message["Subject"] for m in mails) == ["Welcome 1", "Welcome 2"]
    assert set(ProgramRun.objects.values_list("status", flat=True)) == {"finished"}


def test_a_paused_program_holds_its_running_runs_until_resumed(
    api, django_capture_on_commit_callbacks, smtp_server, signup, welcome, make_contact
):
    make_contact("jane@example.org")
    program = make_program(signup, wait(hours=1), send(welcome))
    trigger(api, signup, n=1)
    change_program_status(program, Program.Status.PAUSED)
    later = timezone.now() + timedelta(hours=2)

    with django_capture_on_commit_callbacks(execute=True):
        advance_due_runs(now=later)
    assert not Message.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        change_program_status(program, Program.Status.ACTIVE, now=later)

    smtp_server.wait_for(1)


def test_finished_program_takes_no_new_entries_but_completes_its_runs(
    api, django_capture_on_commit_callbacks, smtp_server, signup, welcome, make_contact
):
    make_contact("jane@example.org")
    make_contact("late@example.org")
    program = make_program(signup, wait(hours=1), send(welcome))
    trigger(api, signup, "jane@example.org", n=1)
    change_program_status(program, Program.Status.FINISHED)

    late = trigger(api, signup, "late@example.org", n=2)
    with django_capture_on_commit_callbacks(execute=True):
        advance_due_runs(now=timezone.now() + timedelta(hours=2))

    # Nothing else is linked to the event any more: the API says so.
    assert late.json()["replyCode"] == 5005
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["jane@example.org"]]
    assert ProgramRun.objects.get().email == "jane@example.org"


def test_event_with_an_active_program_and_no_stream_is_accepted(api, signup, welcome, make_contact):
    make_contact("jane@example.org")
    make_program(signup, wait(hours=1), send(welcome))

    response = trigger(api, signup, n=1)

    assert response.json()["replyCode"] == 0
    assert ProgramRun.objects.get().status == ProgramRun.Status.WAITING


def test_event_without_streams_or_programs_answers_5005(api, signup):
    response = trigger(api, signup, n=1)

    assert response.json()["replyCode"] == 5005
    assert "automation program" in response.json()["replyText"]


def test_a_trigger_sends_the_linked_stream_and_enters_the_program(
    api,
    django_capture_on_commit_callbacks,
    smtp_server,
    signup,
    welcome,
    make_stream,
    make_contact,
):
    make_contact("jane@example.org")
    make_stream(signup, name="Direct", subject="Direct {{ event.n }}")
    make_program(signup, send(welcome))

    trigger(api, signup, n=7)

    mails = smtp_server.wait_for(2)
    assert sorted(m.message["Subject"] for m in mails) == ["Direct 7", "Welcome 7"]


def test_usages_list_the_programs_of_the_event(api, signup, welcome, make_event):
    program = make_program(signup, send(welcome))
    make_program(make_event("other"), send(welcome), name="Elsewhere")

    response = api.get(f"/api/v2/event/{signup.pk}/usages")

    assert response.json()["data"]["programs"] == [
        {"id": program.pk, "name": "Onboarding", "status": "active"}
    ]


def test_an_event_used_by_a_program_cannot_be_deleted(api, signup, welcome):
    make_program(signup, send(welcome))

    response = api.post(f"/api/v2/event/{signup.pk}/delete")

    assert response.json()["replyCode"] == 5006
    assert "program Onboarding" in response.json()["replyText"]
