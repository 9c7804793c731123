"""Automation programs: entering runs, advancing them step by step, handing them to the workers,
recovering them.

How a run stays correct with many workers and crashes:

- A run is advanced only by the worker that claimed it: a conditional UPDATE
  `waiting → running` with a fresh claim token (works the same on PostgreSQL and SQLite).
- Each step executes in one transaction that writes its effects (a send step's Trigger and
  outbox rows), its history row (unique per run and step: a second execution fails) and the run's
  new position, the last only `WHERE claim_token = <ours>`. A worker that lost its claim rolls
  back everything it did, so a step either happened once or not at all.
- A wait stores a due time and releases the claim; nothing sleeps. The periodic pick-up claims
  due runs again, and recovery hands back runs whose worker died while holding the claim.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from delivery.outbox import Recipient, write_outbox
from events.json_paths import read_path
from events.models import ExternalEvent, Trigger
from events.programs.conditions import evaluate
from events.programs.models import Program, ProgramRun, ProgramRunStep, ProgramStep
from events.programs.queue import enqueue
from triggered_email.numbers import ascii_int

logger = logging.getLogger(__name__)

Status = ProgramRun.Status
# Programs whose runs move on: paused ones hold their runs where they are.
ADVANCING = (Program.Status.ACTIVE, Program.Status.FINISHED)


@dataclass(frozen=True)
class Entered:
    """What a trigger did in one program for one recipient."""

    program: Program
    run: ProgramRun
    duplicate: bool = False


class ClaimLost(Exception):
    """Another worker owns the run now (recovery judged this one dead): undo this step."""


class StepFailed(Exception):
    """The step cannot run with this run's data or the program's setup; retrying won't help."""


# --- entering ---------------------------------------------------------------------------------


# A trigger enters active programs, and paused ones (their entries queue).
PROGRAM_ENTRY_STATUSES = (Program.Status.ACTIVE, Program.Status.PAUSED)


def entry_programs(event: ExternalEvent) -> list[Program]:
    """Programs a trigger of `event` enters: active ones, and paused ones (entries queue)."""
    return list(
        Program.objects.filter(entry_event=event, status__in=PROGRAM_ENTRY_STATUSES).order_by("pk")
    )


def run_dedup_key(program: Program, recipient: Recipient) -> str | None:
    if not recipient.trigger_id:
        return None
    who = f"c{recipient.contact.pk}" if recipient.contact is not None else recipient.email.lower()
    raw = f"{program.pk}\x1f{who}\x1f{recipient.trigger_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def enter_programs(
    programs: Sequence[Program], trigger: Trigger, recipients: Sequence[Recipient]
) -> list[Entered]:
    """Start a run per program and recipient, in the caller's transaction (with the Trigger).

    Runs of active programs are handed to the workers after commit; those of paused programs
    queue until it resumes. A repeated trigger_id starts nothing new.
    """
    if not programs or not recipients:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enter_programs() must run inside transaction.atomic()")
    now = timezone.now()
    pairs = [(program, recipient) for recipient in recipients for program in programs]
    keys = {run_dedup_key(p, r) for p, r in pairs} - {None}
    existing = {r.dedup_key: r for r in ProgramRun.objects.filter(dedup_key__in=keys)}
    entered: list[Entered] = []
    new_runs: list[ProgramRun] = []
    for program, recipient in pairs:
        key = run_dedup_key(program, recipient)
        earlier = existing.get(key) if key else None
        if earlier is not None:
            entered.append(Entered(program, earlier, duplicate=True))
            continue
        active = program.status == Program.Status.ACTIVE
        run = ProgramRun(
            program=program,
            contact=recipient.contact,
            email=recipient.email,
            data=recipient.data,
            entry_trigger=trigger,
            status=Status.WAITING if active else Status.QUEUED,
            next_due_at=now if active else None,
            dedup_key=key,
            entered_at=now,
        )
        if key:
            existing[key] = run
        new_runs.append(run)
        entered.append(Entered(program, run))
    ProgramRun.objects.bulk_create(new_runs)
    hand_over_on_commit(r.pk for r in new_runs if r.status == Status.WAITING)
    return entered


def change_program_status(program: Program, status: str, now: datetime | None = None) -> int:
    """Set a program's status; resuming starts its queued entries and due runs at once.

    Returns how many runs were handed to the workers.
    """
    now = now or timezone.now()
    with transaction.atomic():
        Program.objects.filter(pk=program.pk).update(status=status, updated_at=now)
        program.status = status
        if status != Program.Status.ACTIVE:
            return 0
        started = start_queued_runs(now, program=program)
        due = list(
            ProgramRun.objects.filter(
                program=program, status=Status.WAITING, next_due_at__lte=now
            ).values_list("pk", flat=True)
        )
        hand_over_on_commit(due, now)
    if started:
        logger.info("Program %s resumed: %d queued entries start now", program.pk, started)
    return len(due)


def start_queued_runs(now: datetime, program: Program | None = None) -> int:
    """Entries queued while their program was paused start now, if it is active again."""
    queued = ProgramRun.objects.filter(status=Status.QUEUED, program__status=Program.Status.ACTIVE)
    if program is not None:
        queued = queued.filter(program=program)
    return queued.update(status=Status.WAITING, next_due_at=now)


# --- advancing --------------------------------------------------------------------------------


def claim_run(run_id: int, now: datetime) -> uuid.UUID | None:
    """Take a due run for this worker; None if it is not due, not waiting or someone has it."""
    token = uuid.uuid4()
    claimed = ProgramRun.objects.filter(
        pk=run_id,
        status=Status.WAITING,
        next_due_at__lte=now,
        program__status__in=ADVANCING,
    ).update(
        status=Status.RUNNING,
        claim_token=token,
        claimed_at=now,
        started_at=Coalesce(F("started_at"), now),
        attempts=F("attempts") + 1,
    )
    return token if claimed else None


def advance_run(run_id: int, now: datetime | None = None) -> str | None:
    """Claim the run and execute its steps until it waits or ends; its status, or None if
    it was not ours to advance."""
    now = now or timezone.now()
    token = claim_run(run_id, now)
    if token is None:
        return None
    try:
        while True:
            run = ProgramRun.objects.select_related("program", "contact").get(pk=run_id)
            if run.claim_token != token:
                return None
            steps = list(run.program.steps.order_by("position"))
            if not execute_next_step(run, steps, token, now):
                return ProgramRun.objects.values_list("status", flat=True).get(pk=run_id)
    except ClaimLost:
        logger.warning("Run %s was taken over by another worker; this one stepped back", run_id)
        return None
    except Exception:
        logger.exception("Advancing run %s failed; it will be retried", run_id)
        _release_after_error(run_id, token, now)
        return None


def _next_step(steps: list[ProgramStep], position: int) -> ProgramStep | None:
    return next((step for step in steps if step.position > position), None)


def execute_next_step(run: ProgramRun, steps: list[ProgramStep], token: uuid.UUID, now: datetime):
    """Execute the run's next step in one transaction; True if the run goes straight on."""
    step = _next_step(steps, run.position)
    with transaction.atomic():
        # Hold the run's row for the whole step (PostgreSQL; SQLite locks the database): recovery
        # cannot hand it to another worker between this check and the step's last write.
        owned = ProgramRun.objects.select_for_update().filter(
            pk=run.pk, claim_token=token, status=Status.RUNNING
        )
        if not owned.exists():
            raise ClaimLost(run.pk)
        if step is None:
            _update_claimed(run, token, _ended(Status.FINISHED, now))
            return False
        trigger = None
        try:
            outcome, changes, trigger = _perform(run, step, steps, now)
        except StepFailed as exc:
            outcome = f"failed: {exc}"
            changes = {**_ended(Status.FAILED, now), "last_error": str(exc)}
        ProgramRunStep.objects.create(
            run=run,
            position=step.position,
            kind=step.kind,
            description=step.describe()[:500],
            outcome=outcome[:500],
            executed_at=now,
            trigger=trigger,
        )
        changes.setdefault("position", step.position)
        _update_claimed(run, token, {**changes, "attempts": 0})
    return changes.get("status", Status.RUNNING) == Status.RUNNING


def _ended(status: str, now: datetime) -> dict[str, Any]:
    return {
        "status": status,
        "ended_at": now,
        "next_due_at": None,
        "claim_token": None,
        "claimed_at": None,
    }


def _update_claimed(run: ProgramRun, token: uuid.UUID, changes: dict[str, Any]) -> None:
    updated = ProgramRun.objects.filter(pk=run.pk, claim_token=token, status=Status.RUNNING).update(
        **changes
    )
    if updated != 1:
        raise ClaimLost(run.pk)


def _perform(
    run: ProgramRun, step: ProgramStep, steps: list[ProgramStep], now: datetime
) -> tuple[str, dict[str, Any], Trigger | None]:
    """Do what `step` says; return its outcome text, the run's changes and a send's Trigger."""
    if step.kind == ProgramStep.Kind.WAIT:
        due = wait_due_time(step, run.data, now)
        if due <= now:
            return f"no wait: {due:%Y-%m-%d %H:%M:%S %Z} has passed", {}, None
        changes = {
            "status": Status.WAITING,
            "next_due_at": due,
            "claim_token": None,
            "claimed_at": None,
        }
        return f"waiting until {due:%Y-%m-%d %H:%M:%S %Z}", changes, None
    if step.kind == ProgramStep.Kind.CONDITION:
        holds, shown = evaluate(step, run.data, run.contact, run.email)
        if holds:
            return shown, {}, None
        if step.on_false == ProgramStep.OnFalse.STOP:
            return f"{shown}; run stopped", _ended(Status.STOPPED, now), None
        later = [s for s in steps if s.position > step.position]
        skipped = later[: step.skip_steps]
        position = skipped[-1].position if skipped else step.position
        return f"{shown}; skipped {len(skipped)} step(s)", {"position": position}, None
    if step.kind == ProgramStep.Kind.SEND:
        return _send(run, step, now)
    return "end of the program", _ended(Status.FINISHED, now), None


def wait_due_time(step: ProgramStep, data: dict[str, Any], now: datetime) -> datetime:
    """When a wait step lets the run go on: now + duration, or a time from the data (+ offset)."""
    offset = step.wait_for or timedelta(0)
    if not step.wait_until_path:
        return now + offset
    raw = read_path(data, step.wait_until_path)
    moment = _moment(raw)
    if moment is None:
        shown = "missing" if raw is None else repr(raw)[:100]
        raise StepFailed(
            f"the data has no time at {step.wait_until_path} ({shown}); send an ISO 8601 time "
            "such as 2025-03-01T09:00:00Z or Unix seconds"
        )
    return moment + offset


_FIRST_SECOND = -62_135_596_800  # 0001-01-01T00:00:00Z
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z


def _moment(raw: Any) -> datetime | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        # Up to the end of year 9999: datetime cannot hold a later time (1e20 or NaN in event
        # data would otherwise raise here and fail the run with a traceback, not a reason).
        if not _FIRST_SECOND <= raw <= _LAST_SECOND:
            return None
        return datetime.fromtimestamp(raw, tz=UTC)
    if isinstance(raw, str):
        text = raw.strip()
        seconds = ascii_int(text, maximum=_LAST_SECOND)
        if seconds is not None:
            return datetime.fromtimestamp(seconds, tz=UTC)
        try:
            parsed = parse_datetime(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed is None:
            return None
        # A time without an offset is read as UTC, never the server's local time.
        return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    return None


def send_trigger_id(run: ProgramRun, step: ProgramStep) -> str:
    """Deterministic per run and step: if the step's transaction were ever repeated, the outbox
    would find the first message by this id and write none."""
    return f"program-run:{run.pk}:step:{step.pk}"


def _send(
    run: ProgramRun, step: ProgramStep, now: datetime
) -> tuple[str, dict[str, Any], Trigger | None]:
    stream = step.stream
    if stream is None or not stream.accepts_triggers or stream.current_version_id is None:
        name = stream.name if stream is not None else "(none)"
        raise StepFailed(
            f"mail stream {name} is not live or paused with a published version; launch it"
        )
    contact = run.contact
    recipient = Recipient(
        email=contact.email if contact is not None else run.email,
        contact=contact,
        data=run.data,
        trigger_id=send_trigger_id(run, step),
    )
    trigger = Trigger.objects.create(
        event_id=run.program.entry_event_id,
        source=Trigger.Source.AUTOMATION,
        trigger_id=recipient.trigger_id,
        received_at=now,
        recipient_count=1,
    )
    [written] = write_outbox(
        trigger=trigger,
        streams=[stream],
        recipients=[recipient],
        event_id=run.program.entry_event_id,
    )
    message = written.message
    if written.duplicate:
        return f"already written: message #{message.pk}", {}, trigger
    trigger.message_count = 1
    trigger.save(update_fields=["message_count"])
    state = message.status + (f" ({message.skip_reason})" if message.skip_reason else "")
    return f"message #{message.pk} to {message.recipient}: {state}", {}, trigger


def _release_after_error(run_id: int, token: uuid.UUID, now: datetime) -> None:
    """An unexpected error (database gone, a bug): try again later, but not forever."""
    run = ProgramRun.objects.filter(pk=run_id, claim_token=token).first()
    if run is None:
        return
    if run.attempts >= settings.PROGRAM_RUN_MAX_ATTEMPTS:
        changes = {
            **_ended(Status.FAILED, now),
            "last_error": f"gave up after {run.attempts} attempts that ended in errors",
        }
    else:
        delay = min(60 * 2 ** (run.attempts - 1), 3600)
        changes = {
            "status": Status.WAITING,
            "next_due_at": now + timedelta(seconds=delay),
            "claim_token": None,
            "claimed_at": None,
            "last_error": f"attempt {run.attempts} ended in an error; retrying in {delay} s",
        }
    ProgramRun.objects.filter(pk=run_id, claim_token=token).update(**changes)


# --- handing over -----------------------------------------------------------------------------


def hand_over(run_ids: Iterable[int], now: datetime | None = None) -> None:
    """Give due runs to the workers (queue.enqueue), which advance them with tasks.advance_runs.

    With TRIGGERED_EMAIL_RUN_TASKS_INLINE (the tests) they are advanced here and now instead, as
    that task would. `now` is only honoured then (tests moving the clock); a worker reads its
    own clock.
    """
    ids = list(run_ids)
    if not settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE:
        enqueue(ids)
        return
    for run_id in ids:
        advance_run(run_id, now=now)


def hand_over_on_commit(run_ids: Iterable[int], now: datetime | None = None) -> None:
    """Hand over once the surrounding transaction has committed (never rolled-back runs)."""
    ids = list(run_ids)
    if ids:
        transaction.on_commit(lambda: hand_over(ids, now))


# --- recovering ---------------------------------------------------------------------------------


def recover_stalled_runs(now: datetime) -> dict[str, int]:
    """Runs left `running` by a worker that died: due again now, or failed when they have
    stalled too often. Nothing a dead worker did is repeated: its last step either committed
    (the run's position moved on) or left no trace."""
    cutoff = now - timedelta(seconds=settings.PROGRAM_RUN_CLAIM_TIMEOUT_SECONDS)
    stalled = ProgramRun.objects.filter(status=Status.RUNNING, claimed_at__lt=cutoff)
    with transaction.atomic():
        gave_up = stalled.filter(attempts__gte=settings.PROGRAM_RUN_MAX_ATTEMPTS).update(
            **_ended(Status.FAILED, now),
            last_error="the worker advancing it stopped, and no attempts are left",
        )
        revived = stalled.update(
            status=Status.WAITING,
            next_due_at=now,
            claim_token=None,
            claimed_at=None,
            last_error="the worker advancing it stopped; continued by another",
        )
    return {"revived": revived, "gave_up": gave_up}


def due_run_ids(now: datetime, limit: int) -> list[int]:
    return list(
        ProgramRun.objects.filter(
            status=Status.WAITING, next_due_at__lte=now, program__status__in=ADVANCING
        )
        .order_by("next_due_at")
        .values_list("pk", flat=True)[:limit]
    )
