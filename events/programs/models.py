"""Automation programs: an external event starts a run per contact that waits, checks
conditions and sends mail streams, step by step.

Imported by events.models so Django registers the models under the `events` app.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.json_paths import PathSyntaxError, check_path


class Program(models.Model):
    """An entry event and an ordered list of steps."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        PAUSED = "paused", "paused (new entries wait at the entry; runs hold)"
        FINISHED = "finished", "finished (no new entries; runs complete)"

    name = models.CharField(max_length=200, unique=True)
    entry_event = models.ForeignKey(
        "events.ExternalEvent",
        on_delete=models.PROTECT,
        related_name="programs",
        help_text="Each trigger of this event enters the program, once per contact.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # Serves the trigger path: the active and paused programs of one entry event.
            models.Index(fields=["entry_event", "status"], name="program_entry_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def accepts_entries(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.PAUSED)


class ProgramStep(models.Model):
    """One step of a program. Which fields matter depends on the kind."""

    class Kind(models.TextChoices):
        WAIT = "wait", "wait"
        CONDITION = "condition", "condition"
        SEND = "send", "send a mail stream"
        END = "end", "end"

    class Subject(models.TextChoices):
        DATA = "data", "event data"
        CONTACT = "contact", "contact field"

    class Operator(models.TextChoices):
        EQUALS = "eq", "="
        NOT_EQUALS = "ne", "≠"
        LESS = "lt", "<"
        GREATER = "gt", ">"
        CONTAINS = "contains", "contains"
        EXISTS = "exists", "exists"

    class OnFalse(models.TextChoices):
        STOP = "stop", "stop the run"
        SKIP = "skip", "skip ahead"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(help_text="Steps run in ascending position.")
    kind = models.CharField(max_length=16, choices=Kind.choices)

    wait_for = models.DurationField(
        null=True,
        blank=True,
        help_text="wait: how long, e.g. 1:00:00 for an hour or '2 00:00:00' for two days. With "
        "a time from the data, added to that time (negative: before it).",
    )
    wait_until_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="wait: path to a time in the event data (ISO 8601 or Unix seconds).",
    )

    subject = models.CharField(
        max_length=16, choices=Subject.choices, default=Subject.DATA, blank=True
    )
    field = models.CharField(
        max_length=255,
        blank=True,
        help_text="condition: path into the event data, or a contact field (first_name, "
        "email, or any field of the contact's further fields).",
    )
    operator = models.CharField(max_length=16, choices=Operator.choices, blank=True)
    value = models.CharField(max_length=500, blank=True)
    on_false = models.CharField(
        max_length=8, choices=OnFalse.choices, default=OnFalse.STOP, blank=True
    )
    skip_steps = models.PositiveSmallIntegerField(
        default=1, help_text="condition, on false = skip ahead: how many following steps to skip."
    )

    stream = models.ForeignKey(
        "streams.MailStream",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="program_steps",
        help_text="send: the mail stream; it gets the data stored when the contact entered.",
    )

    class Meta:
        ordering = ["program", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "position"], name="program_step_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.describe()}"

    def describe(self) -> str:
        if self.kind == self.Kind.WAIT:
            if self.wait_until_path:
                if not self.wait_for:
                    return f"wait until {self.wait_until_path}"
                sign = "-" if self.wait_for < timedelta(0) else "+"
                return f"wait until {self.wait_until_path} {sign} {abs(self.wait_for)}"
            return f"wait {self.wait_for}"
        if self.kind == self.Kind.CONDITION:
            value = "" if self.operator == self.Operator.EXISTS else f" {self.value!r}"
            then = (
                "stop"
                if self.on_false == self.OnFalse.STOP
                else f"skip {self.skip_steps} step{'s' if self.skip_steps != 1 else ''}"
            )
            subject = self.get_subject_display()
            return f"if {subject} {self.field} {self.get_operator_display()}{value} (else {then})"
        if self.kind == self.Kind.SEND:
            return f"send {self.stream}"
        return "end"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.WAIT:
            if self.wait_for is None and not self.wait_until_path:
                errors["wait_for"] = "A wait needs a duration or a time from the data."
            if (
                self.wait_for is not None
                and not self.wait_until_path
                and (self.wait_for.total_seconds() < 0)
            ):
                errors["wait_for"] = "A duration to wait cannot be negative."
            if self.wait_until_path:
                try:
                    check_path(self.wait_until_path)
                except PathSyntaxError as exc:
                    errors["wait_until_path"] = str(exc)
        elif self.kind == self.Kind.CONDITION:
            if not self.field:
                errors["field"] = "Name the field the condition looks at."
            elif self.subject == self.Subject.DATA:
                try:
                    check_path(self.field)
                except PathSyntaxError as exc:
                    errors["field"] = str(exc)
            if not self.operator:
                errors["operator"] = "Choose how to compare."
            if not self.subject:
                errors["subject"] = "Choose event data or contact field."
            if self.on_false == self.OnFalse.SKIP and self.skip_steps < 1:
                errors["skip_steps"] = "Skip at least one step."
        elif self.kind == self.Kind.SEND and self.stream_id is None:
            errors["stream"] = "Choose the mail stream to send."
        if errors:
            raise ValidationError(errors)


class ProgramRun(models.Model):
    """One contact's way through a program: where it is, when it continues, what it carries.

    The row is the truth: a wait is a stored due time, never a sleeping task, so a run survives
    restarts of every process. A worker advances a run only after claiming it (conditional
    UPDATE of the status); each executed step is a ProgramRunStep row written in the same
    transaction as the step's effects, so a step is never executed twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued (program paused at entry)"
        WAITING = "waiting", "waiting for its next step"
        RUNNING = "running", "running (claimed by a worker)"
        FINISHED = "finished", "finished"
        STOPPED = "stopped", "stopped by a condition"
        FAILED = "failed", "failed"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="runs")
    contact = models.ForeignKey(
        "events.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="program_runs",
    )
    email = models.EmailField(max_length=254)
    # The data of the entering trigger: every email of the run is personalised with it.
    data = models.JSONField(default=dict, blank=True)
    entry_trigger = models.ForeignKey(
        "events.Trigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    # Position of the last executed step (0: none yet); the next step is the first above it.
    position = models.PositiveIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Claims since the run last made progress: a run that keeps failing stops being retried.
    attempts = models.PositiveSmallIntegerField(default=0)
    # sha256 of (program, recipient, entering trigger_id): a retried trigger enters once.
    dedup_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    entered_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-entered_at", "-id"]
        indexes = [
            # Serves the periodic pick-up: waiting runs whose next step is due.
            models.Index(
                fields=["next_due_at"],
                condition=Q(status="waiting"),
                name="program_run_due_idx",
            ),
            # Serves recovery: runs a dead worker left claimed.
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="running"),
                name="program_run_claimed_idx",
            ),
            # Serves resume and the admin's runs-per-step counts: one program's runs by status.
            models.Index(fields=["program", "status", "position"], name="program_run_state_idx"),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.program} for {self.email} ({self.status})"


class ProgramRunStep(models.Model):
    """A step a run executed: its history. Unique per run and step position, so executing a
    step twice fails the second transaction instead of sending twice."""

    run = models.ForeignKey(ProgramRun, on_delete=models.CASCADE, related_name="history")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ProgramStep.Kind.choices)
    description = models.CharField(max_length=500)
    outcome = models.CharField(max_length=500)
    executed_at = models.DateTimeField(default=timezone.now)
    trigger = models.ForeignKey(
        "events.Trigger", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="program_run_step_once"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.description}: {self.outcome}"
