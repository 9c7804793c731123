"""A program: event → wait 1 h → condition → send, with the clock moved instead of slept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Message
from events.models import ProgramRun, ProgramStep
from events.programs.tasks import advance_due_runs
from tests.programs_support import condition, make_program, send, wait

pytestmark = pytest.mark.django_db

Op = ProgramStep.Operator


@pytest.fixture
def signup(make_event):
    return make_event("signup")


@pytest.fixture
def tips_stream(make_event, make_stream):
    # Linked to an event of its own: only the program sends it.
    return make_stream(
        make_event("tips"),
        name="Pro tips",
        subject="Tips for your {{ event.plan }} plan, {{ contact.first_name }}",
        html="<p>{{ event.plan }}</p>",
        text="Plan {{ event.plan }} since {{ event.signed_up }}",
    )


def trigger(api, event, email="jane@example.org", **data):
    response = api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {"key_id": "3", "external_id": email, "data": data},
    )
    assert response.status_code == 200, response.content
    assert response.json()["replyCode"] == 0, response.json()
    return response


def pick_up(capture, now):
    """What the periodic task does at `now`; queued sends run before this returns."""
    with capture(execute=True):
        return advance_due_runs(now=now)


def test_nothing_is_sent_before_the_wait_ends_and_the_right_email_after_it(
    api, django_capture_on_commit_callbacks, smtp_server, signup, tips_stream, make_contact
):
    make_contact("jane@example.org", first_name="Jane")
    make_program(signup, wait(hours=1), condition("plan", Op.EQUALS, "pro"), send(tips_stream))
    entered = timezone.now()

    trigger(api, signup, plan="pro", signed_up="2025-03-04")

    run = ProgramRun.objects.get()
    assert run.status == ProgramRun.Status.WAITING
    assert entered + timedelta(hours=1) <= run.next_due_at <= timezone.now() + timedelta(hours=1)
    pick_up(django_capture_on_commit_callbacks, entered + timedelta(minutes=59))
    assert not Message.objects.exists()
    assert smtp_server.received == []

    pick_up(django_capture_on_commit_callbacks, run.next_due_at + timedelta(seconds=1))

    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["jane@example.org"]
    assert mail.message["Subject"] == "Tips for your pro plan, Jane"
    assert mail.part("text/plain").strip() == "Plan pro since 2025-03-04"
    run.refresh_from_db()
    assert run.status == ProgramRun.Status.FINISHED
    wait_step, check, sent = run.history.all()
    assert (wait_step.kind, check.kind, sent.kind) == ("wait", "condition", "send")
    assert wait_step.outcome.startswith("waiting until ")
    assert check.outcome == "plan is 'pro': true"
    assert sent.outcome == f"message #{Message.objects.get().pk} to jane@example.org: queued"


def test_false_condition_stops_the_run_and_sends_nothing(
    api, django_capture_on_commit_callbacks, smtp_server, signup, tips_stream, make_contact
):
    make_contact("jane@example.org")
    make_program(signup, wait(hours=1), condition("plan", Op.EQUALS, "pro"), send(tips_stream))
    trigger(api, signup, plan="free")

    pick_up(django_capture_on_commit_callbacks, timezone.now() + timedelta(hours=2))

    run = ProgramRun.objects.get()
    assert run.status == ProgramRun.Status.STOPPED
    assert run.history.last().outcome == "plan is 'free': false; run stopped"
    assert not Message.objects.exists()
    assert smtp_server.received == []


def test_false_condition_can_skip_ahead_instead(
    api,
    django_capture_on_commit_callbacks,
    smtp_server,
    signup,
    tips_stream,
    make_stream,
    make_event,
    make_contact,
):
    other = make_stream(make_event("other"), name="Free plan", subject="Upgrade?")
    make_contact("jane@example.org")
    make_program(
        signup,
        condition("plan", Op.EQUALS, "pro", on_false="skip", skip_steps=1),
        send(tips_stream),
        send(other),
    )

    trigger(api, signup, plan="free")

    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Upgrade?"
    assert ProgramRun.objects.get().status == ProgramRun.Status.FINISHED


def test_every_email_of_the_run_gets_the_data_stored_at_entry(
    api, django_capture_on_commit_callbacks, smtp_server, signup, tips_stream, make_contact
):
    make_contact("jane@example.org")
    make_program(signup, send(tips_stream), wait(days=1), send(tips_stream))
    trigger(api, signup, plan="pro", signed_up="monday")

    pick_up(django_capture_on_commit_callbacks, timezone.now() + timedelta(days=1, minutes=1))

    first, second = smtp_server.wait_for(2)
    assert first.part("text/plain") == second.part("text/plain") == "Plan pro since monday"
    assert Message.objects.count() == 2


def test_wait_until_a_time_from_the_data(
    api, django_capture_on_commit_callbacks, smtp_server, signup, tips_stream, make_contact
):
    make_contact("jane@example.org")
    make_program(
        signup,
        {
            "kind": "wait",
            "wait_until_path": "appointment.starts_at",
            "wait_for": timedelta(hours=-24),
        },
        send(tips_stream),
    )
    starts = timezone.now() + timedelta(days=3)

    trigger(api, signup, plan="pro", appointment={"starts_at": starts.isoformat()})

    run = ProgramRun.objects.get()
    assert abs(run.next_due_at - (starts - timedelta(days=1))) < timedelta(seconds=1)
    pick_up(django_capture_on_commit_callbacks, starts - timedelta(days=1, minutes=1))
    assert not Message.objects.exists()
    pick_up(django_capture_on_commit_callbacks, starts - timedelta(hours=23))
    smtp_server.wait_for(1)


def test_wait_for_a_time_missing_from_the_data_fails_the_run_with_the_reason(
    api, django_capture_on_commit_callbacks, signup, tips_stream, make_contact
):
    make_contact("jane@example.org")
    make_program(signup, {"kind": "wait", "wait_until_path": "starts_at"}, send(tips_stream))

    trigger(api, signup, plan="pro")

    run = ProgramRun.objects.get()
    assert run.status == ProgramRun.Status.FAILED
    assert "the data has no time at starts_at" in run.last_error
    assert not Message.objects.exists()


def test_condition_on_a_contact_field(
    api, django_capture_on_commit_callbacks, smtp_server, signup, tips_stream, make_contact
):
    make_contact("vip@example.org", fields={"tier": "Gold", "orders": 12})
    make_contact("new@example.org", fields={"orders": 1})
    make_program(
        signup,
        condition("orders", Op.GREATER, "10", subject="contact"),
        condition("tier", Op.EXISTS, subject="contact"),
        send(tips_stream),
    )

    trigger(api, signup, email="vip@example.org", plan="pro")
    trigger(api, signup, email="new@example.org", plan="pro")

    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["vip@example.org"]
    statuses = dict(ProgramRun.objects.values_list("email", "status"))
    assert statuses == {"vip@example.org": "finished", "new@example.org": "stopped"}


def test_the_same_trigger_id_enters_the_program_once(
    api, django_capture_on_commit_callbacks, signup, tips_stream, make_contact
):
    make_contact("jane@example.org")
    make_program(signup, wait(hours=1), send(tips_stream))
    body = {"key_id": "3", "external_id": "jane@example.org", "trigger_id": "signup-1"}

    api.post(f"/api/v2/event/{signup.pk}/trigger", body)
    api.post(f"/api/v2/event/{signup.pk}/trigger", body)

    assert ProgramRun.objects.count() == 1
