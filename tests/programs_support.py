"""Building automation programs for the tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.programs.models import Program, ProgramStep


def make_program(event, *steps: dict[str, Any], status=Program.Status.ACTIVE, name="Onboarding"):
    program = Program.objects.create(name=name, entry_event=event, status=status)
    for position, fields in enumerate(steps, start=1):
        step = ProgramStep(program=program, position=position * 10, **fields)
        step.full_clean()
        step.save()
    return program


def wait(**duration: float) -> dict[str, Any]:
    return {"kind": ProgramStep.Kind.WAIT, "wait_for": timedelta(**duration)}


def condition(field: str, operator: str, value: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "kind": ProgramStep.Kind.CONDITION,
        "subject": extra.pop("subject", ProgramStep.Subject.DATA),
        "field": field,
        "operator": operator,
        "value": value,
        **extra,
    }


def send(stream) -> dict[str, Any]:
    return {"kind": ProgramStep.Kind.SEND, "stream": stream}


END = {"kind": ProgramStep.Kind.END}
