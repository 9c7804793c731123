"""`manage.py faults`, CI-sized: the faults that need no database or Redis restart lose
nothing, and duplicate at most what was in flight."""

import io
import json
import math

import pytest
from django.conf import settings
from django.core.management import call_command

from triggered_email.faults.run import KILL_WHILE_SLOW_SECONDS, SAFE_FAULTS

pytestmark = pytest.mark.qcluster

MESSAGES = 100


@pytest.fixture
def faults_output(transactional_db) -> dict:
    out = io.StringIO()
    call_command(
        "faults",
        "--messages",
        str(MESSAGES),
        "--fault-seconds",
        "3",
        "--slow-seconds",
        "1",
        "--lease-seconds",
        "5",
        "--wait-seconds",
        "90",
        stdout=out,
    )
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_no_fault_loses_a_message_and_only_kills_duplicate_their_open_windows(faults_output):
    results = {row["fault"]: row for row in faults_output["faults"]}

    assert set(results) == set(SAFE_FAULTS)
    for row in results.values():
        assert row["http_errors"] == 0, row
        assert row["accepted"] == MESSAGES, row
        assert row["lost"] == 0, row
        assert row["delivered_once"] + row["duplicates"] >= MESSAGES - row["lost"], row
    for fault in ("mta-down", "mta-refuse", "mta-slow", "kill-lane-main"):
        assert results[fault]["duplicates"] == 0, results[fault]
    # A killed worker leaves at most one recording window unknown (two workers per lane): the
    # answers of TRIGGERED_EMAIL_RECORD_WITHIN_MS at the sink's pace while killing, and the
    # message on the wire.
    answered = math.ceil(settings.TRIGGERED_EMAIL_RECORD_WITHIN_MS / 1000 / KILL_WHILE_SLOW_SECONDS)
    window = min(answered, settings.TRIGGERED_EMAIL_RECORD_EVERY) + 1
    assert results["kill-worker"]["duplicates"] <= window
    assert results["kill-lane"]["duplicates"] <= 2 * window
    assert results["kill-lane-main"]["notes"] == "no orphans"
