"""Ids typed by staff or found in data are ASCII digits: "²" passed isdigit() and crashed int(),
"١" (Arabic-Indic one) was read as 1. Both are now simply no id."""

from datetime import UTC, datetime, timedelta

import pytest

from events.programs.models import ProgramStep
from events.programs.runs import StepFailed, wait_due_time
from streams.lookups import StreamNotFound, find_stream

pytestmark = pytest.mark.django_db


def test_the_dashboard_treats_a_stream_parameter_in_digit_symbols_as_no_stream(admin_client):
    response = admin_client.get("/dashboard/", {"stream": "\u00b2"})

    assert response.status_code == 200


def test_the_message_log_search_treats_digit_symbols_as_text(admin_client):
    response = admin_client.get("/admin/delivery/message/", {"q": "#\u00b2"})

    assert response.status_code == 200


def test_stream_commands_do_not_read_digit_symbols_as_an_id():
    with pytest.raises(StreamNotFound):
        find_stream("\u00b2")


def test_stream_commands_do_not_read_other_scripts_digits_as_the_id(make_stream):
    stream = make_stream()
    arabic_indic = str(stream.pk).translate({ord("0") + i: 0x0660 + i for i in range(10)})

    with pytest.raises(StreamNotFound):
        find_stream(arabic_indic)


def test_a_wait_step_refuses_a_time_in_digit_symbols_as_no_time():
    step = ProgramStep(kind=ProgramStep.Kind.WAIT, wait_until_path="ship_at")
    now = datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(StepFailed, match="no time at ship_at"):
        wait_due_time(step, {"ship_at": "\u00b2"}, now)
    assert wait_due_time(step, {"ship_at": "1767225600"}, now) == now + timedelta(0)


@pytest.mark.parametrize("seconds", [1e20, -1e20, float("nan"), float("inf")])
def test_a_wait_step_refuses_a_number_beyond_the_calendar_as_no_time(seconds):
    step = ProgramStep(kind=ProgramStep.Kind.WAIT, wait_until_path="ship_at")
    now = datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(StepFailed, match="no time at ship_at"):
        wait_due_time(step, {"ship_at": seconds}, now)
    assert wait_due_time(step, {"ship_at": 1767225600}, now) == now + timedelta(0)
