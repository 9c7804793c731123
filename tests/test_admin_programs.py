"""Programs are built in the admin (steps inline, ordered); it shows runs per step and each
run's history, and resuming there starts the queued entries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Program, ProgramRun, ProgramRunStep
from tests.programs_support import condition, make_program, send, wait

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(make_event, make_stream):
    return make_stream(make_event("welcome"), name="Welcome", subject="Welcome")


def test_a_program_with_ordered_steps_is_built_in_the_admin(admin_client, make_event, welcome):
    event = make_event("signup")
    steps = [
        {"position": "30", "kind": "send", "stream": str(welcome.pk)},
        {"position": "10", "kind": "wait", "wait_for": "01:00:00"},
        {"position": "20", "kind": "condition", "field": "plan", "operator": "eq", "value": "pro"},
    ]
    form = {
        "name": "Onboarding",
        "entry_event": str(event.pk),
        "status": "active",
        "description": "",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for index, step in enumerate(steps):
        step = {"subject": "data", "on_false": "stop", "skip_steps": "1", **step}
        form.update({f"steps-{index}-{name}": value for name, value in step.items()})

    response = admin_client.post("/admin/events/program/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    program = Program.objects.get()
    assert [(s.position, s.kind) for s in program.steps.all()] == [
        (10, "wait"),
        (20, "condition"),
        (30, "send"),
    ]
    assert program.steps.get(position=10).wait_for == timedelta(hours=1)


def test_a_step_missing_what_its_kind_needs_is_refused(admin_client, make_event):
    form = {
        "name": "Broken",
        "entry_event": str(make_event("signup").pk),
        "status": "active",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "10",
        "steps-0-kind": "send",
        "steps-0-subject": "data",
        "steps-0-on_false": "stop",
        "steps-0-skip_steps": "1",
    }

    response = admin_client.post("/admin/events/program/add/", form)

    assert response.status_code == 200
    assert "Choose the mail stream to send." in response.content.decode()
    assert not Program.objects.exists()


def test_program_page_counts_the_runs_at_each_step(admin_client, make_event, make_contact, welcome):
    program = make_program(
        make_event("signup"), wait(hours=1), condition("plan", "eq", "pro"), send(welcome)
    )
    contact = make_contact()
    for position, status in [(0, "waiting"), (10, "waiting"), (10, "waiting"), (30, "finished")]:
        ProgramRun.objects.create(
            program=program, contact=contact, email=contact.email, position=position, status=status
        )

    html = admin_client.get(f"/admin/events/program/{program.pk}/change/").content.decode()

    assert "<td>entry (not started yet)</td><td></td><td>1</td>" in html
    assert "<td>10. wait</td><td>wait 1:00:00</td><td>2</td>" in html
    assert "<td>20. condition</td>" in html
    assert "finished: 1" in html


def test_run_page_shows_its_history(admin_client, make_event, make_contact, welcome):
    program = make_program(make_event("signup"), wait(hours=1), send(welcome))
    contact = make_contact()
    run = ProgramRun.objects.create(
        program=program,
        contact=contact,
        email=contact.email,
        position=10,
        next_due_at=timezone.now() + timedelta(hours=1),
    )
    ProgramRunStep.objects.create(
        run=run,
        position=10,
        kind="wait",
        description="wait 1:00:00",
        outcome="waiting until 2030-01-01 10:00:00 UTC",
    )

    html = admin_client.get(f"/admin/events/programrun/{run.pk}/change/").content.decode()

    assert "waiting until 2030-01-01 10:00:00 UTC" in html
    assert "wait 1:00:00" in html


def test_activating_in_the_admin_starts_queued_entries(
    admin_client,
    django_capture_on_commit_callbacks,
    smtp_server,
    make_event,
    make_contact,
    welcome,
):
    program = make_program(make_event("signup"), send(welcome), status=Program.Status.PAUSED)
    contact = make_contact()
    ProgramRun.objects.create(
        program=program, contact=contact, email=contact.email, status=ProgramRun.Status.QUEUED
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/events/program/",
            {"action": "activate", "_selected_action": [str(program.pk)]},
        )

    assert response.status_code == 302
    smtp_server.wait_for(1)
    assert ProgramRun.objects.get().status == ProgramRun.Status.FINISHED
