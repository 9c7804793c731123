"""A worker that dies or stalls mid-run loses nothing and repeats nothing.

The worker's death is simulated at each point where it can happen: after claiming and before
the step's transaction, after a step's transaction committed, and a stalled worker that wakes
up after recovery gave its run to another. (tests/test_programs_qcluster.py kills real
qcluster processes.)
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Message
from events.models import ProgramRun, ProgramRunStep
from events.programs.runs import (
    ClaimLost,
    advance_run,
    claim_run,
    execute_next_step,
    recover_stalled_runs,
)
from events.programs.tasks import advance_due_runs
from tests.programs_support import make_program, send, wait

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(make_event, make_stream, make_contact, settings):
    """A run of event → send A → wait 1 h → send B, entered but not yet advanced."""
    settings.PROGRAM_RUN_CLAIM_TIMEOUT_SECONDS = 300
    event = make_event("signup")
    first = make_stream(make_event("a"), name="First", subject="First")
    second = make_stream(make_event("b"), name="Second", subject="Second")
    program = make_program(event, send(first), wait(hours=1), send(second))
    contact = make_contact("jane@example.org")
    return ProgramRun.objects.create(
        program=program,
        contact=contact,
        email=contact.email,
        data={"n": 1},
        next_due_at=timezone.now(),
    )


def steps_of(run):
    return list(run.program.steps.order_by("position"))


def test_a_claim_whose_worker_vanished_is_recovered_and_the_step_runs_once(
    run, django_capture_on_commit_callbacks, smtp_server
):
    now = timezone.now()
    # The worker claimed the run and died before its first step's transaction.
    assert claim_run(run.pk, now) is not None
    # Before the claim times out, nobody else may touch the run.
    with django_capture_on_commit_callbacks(execute=True):
        early = advance_due_runs(now=now + timedelta(seconds=60))
    assert early["revived"] == 0
    assert not Message.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        recovered = advance_due_runs(now=now + timedelta(seconds=301))

    assert recovered["revived"] == 1
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "First"
    run.refresh_from_db()
    assert run.status == ProgramRun.Status.WAITING
    assert [h.kind for h in run.history.all()] == ["send", "wait"]
    assert Message.objects.count() == 1


def test_a_worker_that_died_after_a_step_committed_does_not_repeat_it(
    run, django_capture_on_commit_callbacks, smtp_server
):
    now = timezone.now()
    token = claim_run(run.pk, now)
    # The send step's transaction committed; then the worker died, still holding the claim.
    with django_capture_on_commit_callbacks(execute=True):
        assert execute_next_step(ProgramRun.objects.get(pk=run.pk), steps_of(run), token, now)
    smtp_server.wait_for(1)

    with django_capture_on_commit_callbacks(execute=True):
        advance_due_runs(now=now + timedelta(seconds=301))
    with django_capture_on_commit_callbacks(execute=True):
        advance_due_runs(now=now + timedelta(hours=2))

    subjects = [m.message["Subject"] for m in smtp_server.wait_for(2)]
    assert subjects == ["First", "Second"]
    assert Message.objects.count() == 2
    run.refresh_from_db()
    assert run.status == ProgramRun.Status.FINISHED
    assert [h.kind for h in run.history.all()] == ["send", "wait", "send"]


def test_a_stalled_worker_waking_up_after_recovery_writes_nothing(
    run, django_capture_on_commit_callbacks, smtp_server
):
    now = timezone.now()
    stale_token = claim_run(run.pk, now)
    stale_view = ProgramRun.objects.get(pk=run.pk)
    # Recovery judged the worker dead and another worker advanced the run meanwhile.
    with django_capture_on_commit_callbacks(execute=True):
        advance_due_runs(now=now + timedelta(seconds=301))
    smtp_server.wait_for(1)

    with pytest.raises(ClaimLost):
        execute_next_step(stale_view, steps_of(run), stale_token, now + timedelta(seconds=302))

    assert Message.objects.count() == 1
    assert ProgramRunStep.objects.filter(run=run, kind="send").count() == 1
    assert len(smtp_server.received) == 1


def test_two_workers_handed_the_same_run_advance_it_once(
    run, django_capture_on_commit_callbacks, smtp_server
):
    with django_capture_on_commit_callbacks(execute=True):
        first = advance_run(run.pk)
        second = advance_run(run.pk)

    assert first == ProgramRun.Status.WAITING
    assert second is None
    assert Message.objects.count() == 1


def test_a_run_that_keeps_stalling_fails_instead_of_retrying_forever(run, settings):
    settings.PROGRAM_RUN_MAX_ATTEMPTS = 2
    first = timezone.now()
    second = first + timedelta(seconds=301)

    assert claim_run(run.pk, first) is not None
    assert recover_stalled_runs(second) == {"revived": 1, "gave_up": 0}
    assert claim_run(run.pk, second) is not None
    assert recover_stalled_runs(second + timedelta(seconds=301)) == {"revived": 0, "gave_up": 1}

    run.refresh_from_db()
    assert run.status == ProgramRun.Status.FAILED
    assert "no attempts are left" in run.last_error
    assert not Message.objects.exists()
