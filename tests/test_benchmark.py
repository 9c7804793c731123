"""`manage.py benchmark` runs every mode against the real system and reports sane,
self-consistent numbers. Small N: what the numbers reach is the benchmark's business, not the
test suite's (docs/performance.md)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.template import Context, Engine

from delivery.models import Message
from events.models import ApiCredential, Contact, ExternalEvent
from streams.models import MailStream
from streams.rendering import build_context, compile_parts, contact_context, plain, render
from tests.conftest import wait_until
from triggered_email import demo
from triggered_email.benchmarking.dataset import RECIPIENT_DOMAIN, order_data
from triggered_email.benchmarking.modes import rate_steps
from triggered_email.benchmarking.post_office_sender import django_template

pytestmark = [pytest.mark.qcluster, pytest.mark.django_db(transaction=True)]

SMALL = ["--warmup", "2", "--web-workers", "1", "--workers", "1", "--bulk-workers", "1"]
SMALL += ["--ceiling-messages", "200"]


def benchmark(*args: str) -> dict:
    out = StringIO()
    call_command("benchmark", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, "the command prints exactly one JSON line"
    return json.loads(lines[0])


def assert_latency_sane(latency: dict, count: int) -> None:
    assert latency["count"] == count
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]


def assert_raw_limit_sane(result: dict) -> None:
    assert result["raw_smtp_per_s"] > 0
    assert result["sink"] in ("builtin", "smtp-sink")
    assert result["sink_ceiling_per_s"] == result["sink_ceilings_per_s"][result["sink"]] > 0
    assert result["throughput_vs_raw"] == round(
        result["throughput_per_s"] / result["raw_smtp_per_s"], 3
    )


def assert_cpu_accounted(result: dict) -> None:
    """Where the CPU went: the web server and the lane that sent did work, and the parts add up."""
    cpu = result["cpu_ms_per_message"]
    assert cpu["web"] > 0
    assert cpu["transactional_lane"] > 0
    assert cpu["busy_cores"] > 0
    parts = {name: ms for name, ms in cpu.items() if name not in ("total", "busy_cores")}
    assert cpu["total"] == pytest.approx(sum(parts.values()), abs=0.001 * len(parts))


def assert_nothing_left_behind() -> None:
    assert not Contact.objects.filter(email__endswith=f"@{RECIPIENT_DOMAIN}").exists()
    assert not MailStream.objects.exists()
    assert not ExternalEvent.objects.exists()
    assert not Message.objects.exists()
    assert not ApiCredential.objects.exists()


def test_batch_mode_sends_every_recipient_and_cleans_up():
    result = benchmark("--mode", "batch", "--messages", "60", "--batch-size", "25", *SMALL)

    assert result["mode"] == "batch"
    assert result["accepted"] == result["received"] == result["sent"] == 60
    assert result["http_errors"] == 0
    # The durations are printed to the millisecond: a 25 ms accept phase is ±2 % from that alone.
    accept_rel = max(0.01, 0.0006 / result["accept_s"])
    assert result["accept_per_s"] == pytest.approx(60 / result["accept_s"], rel=accept_rel)
    total_rel = max(0.01, 0.0006 / result["total_s"])
    assert result["throughput_per_s"] == pytest.approx(60 / result["total_s"], rel=total_rel)
    assert_raw_limit_sane(result)
    assert set(result["targets"]) == {"throughput_vs_raw>=0.6", "accept_per_s>=20000"}
    assert result["setup"]["database"] in ("sqlite", "postgresql")
    assert result["setup"]["cpu_model"]
    assert_cpu_accounted(result)
    assert_nothing_left_behind()


def test_single_mode_reports_latency_from_request_to_smtp_acceptance():
    result = benchmark("--mode", "single", "--messages", "15", "--rate", "20", *SMALL)

    assert result["received"] == result["requests"] == 15
    assert result["http_errors"] == 0
    assert result["sink"] == "builtin"  # only it timestamps each message
    assert_latency_sane(result["latency_ms"], 15)
    assert_raw_limit_sane(result)
    assert_cpu_accounted(result)
    assert_nothing_left_behind()


def test_post_office_mode_sends_the_same_number_through_django_post_office_and_cleans_up():
    result = benchmark("--mode", "post-office", "--messages", "40", "--batch-size", "15", *SMALL)

    assert result["mode"] == "post-office"
    assert result["received"] == result["sent"] == 40
    assert result["failed"] == 0
    assert result["processes"] == 1  # as many as the compared lane has workers (--workers 1)
    assert result["post_office"] == "3.12.0"
    # Its defaults unless the environment says otherwise.
    assert result["post_office_settings"] == {
        "batch_size": 100,
        "threads_per_process": 5,
        "log_level": 2,
    }
    assert_raw_limit_sane(result)
    total_rel = max(0.01, 0.0006 / result["total_s"])
    assert result["throughput_per_s"] == pytest.approx(40 / result["total_s"], rel=total_rel)
    assert result["enqueue_per_s"] == pytest.approx(40 / result["enqueue_s"], rel=0.02)
    cpu = result["cpu_ms_per_message"]
    assert cpu["post_office"] > 0
    assert "web" not in cpu and "transactional_lane" not in cpu  # nothing of ours ran
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM post_office_email")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT COUNT(*) FROM post_office_emailtemplate")
        assert cursor.fetchone() == (0,)
    assert_nothing_left_behind()


def test_post_office_gets_the_demo_template_in_djangos_language():
    """The side-by-side figure is only fair if both send the same email: the demo order
    confirmation in Django's template language renders the text ESL renders."""
    context = build_context(
        data=order_data(7), contact=contact_context(email="a@example.com", first_name="Reader")
    )
    esl = render(compile_parts("x", demo.template_html(), demo.template_text()), context)
    engine = Engine()
    as_django = {
        part: engine.from_string(django_template(source)).render(Context(context))
        for part, source in (("text", demo.template_text()), ("html", demo.template_html()))
    }

    assert plain(as_django["text"]) == esl.text
    assert "Milk frother: 1 x 39.00 EUR" in esl.text
    assert plain(as_django["html"]).split() == esl.html.split()
    empty = {**context, "event": {**context["event"], "items": []}}
    assert "will follow in a separate email" in engine.from_string(
        django_template(demo.template_text())
    ).render(Context(empty))


def test_find_max_rate_steps_up_until_a_step_fails_or_the_limit():
    result = benchmark(
        "--mode", "single", "--find-max-rate", "--rate", "5", "--max-rate", "10",
        "--step-seconds", "2", "--step-min-messages", "10", *SMALL,
    )  # fmt: skip

    steps = result["steps"]
    assert (
        [step["rate"] for step in steps] == rate_steps(5, 10)[: len(steps)] == [5, 10][: len(steps)]
    )
    passed = [step["rate"] for step in steps if step["ok"]]
    assert result["max_rate_per_s"] == (max(passed) if passed else None)
    assert all(step["ok"] for step in steps[:-1])
    for step in steps:
        if step["received"]:
            assert_latency_sane(step["latency_ms"], step["received"])


def test_isolation_mode_measures_singles_idle_and_during_a_broadcast():
    result = benchmark(
        "--mode", "isolation", "--broadcast", "120", "--batch-size", "50", "--messages", "10",
        "--rate", "20", *SMALL,
    )  # fmt: skip

    assert result["broadcast_accepted"] == result["broadcast_received"] == 120
    assert result["broadcast_via"].startswith("POST /api/v2/email/")
    assert result["received"] == result["idle_received"] == 10
    assert_latency_sane(result["latency_ms"], 10)
    assert_latency_sane(result["idle_latency_ms"], 10)
    assert result["p99_vs_idle"] == round(
        result["latency_ms"]["p99"] / result["idle_latency_ms"]["p99"], 3
    )
    assert result["p95_vs_idle"] == round(
        result["latency_ms"]["p95"] / result["idle_latency_ms"]["p95"], 3
    )
    assert 0 <= result["broadcast_pending_after_singles"] <= 120
    assert_raw_limit_sane(result)
    assert_nothing_left_behind()


def test_render_mode_compares_the_app_path_with_building_by_hand():
    result = benchmark("--mode", "render", "--messages", "30", "--ceiling-messages", "200")

    assert result["render_build_us"] > 0 and result["by_hand_us"] > 0
    assert result["render_ratio"] == pytest.approx(
        result["render_build_us"] / result["by_hand_us"], abs=0.01
    )
    assert result["throughput_per_s"] == pytest.approx(1e6 / result["render_build_us"], rel=0.01)
    assert result["message_bytes"] > 2000  # the realistic demo template, not a stub
    assert_nothing_left_behind()


def test_keep_leaves_the_rows_for_inspection():
    result = benchmark("--mode", "render", "--messages", "5", "--keep", "--ceiling-messages", "50")

    kept = result["kept"]
    stream = MailStream.objects.get(pk=kept["streams"]["transactional"])
    assert stream.event_id == kept["events"]["transactional"]
    assert stream.status == MailStream.Status.LIVE


def test_remove_deletes_a_kept_run_and_nothing_else():
    kept = benchmark("--mode", "batch", "--messages", "10", "--keep", *SMALL)["kept"]
    others = [
        Contact.objects.create(email=f"bench000000-batch-0@{RECIPIENT_DOMAIN}"),
        Contact.objects.create(email="jane@example.org"),
    ]
    # The ten measured and the two of the warm-up (SMALL).
    assert Message.objects.filter(stream_id=kept["streams"]["transactional"]).count() == 12

    out = StringIO()
    call_command(*kept["remove_with"].split()[2:], stdout=out)

    assert f"Removed the rows of benchmark run {kept['run']}" in out.getvalue()
    assert list(Contact.objects.order_by("pk")) == others
    Contact.objects.filter(pk__in=[c.pk for c in others]).delete()
    assert_nothing_left_behind()


@pytest.mark.parametrize(
    ("run", "problem"),
    [("bench", "is not a benchmark run"), ("bench12345z", "is not a benchmark run")],
)
def test_remove_refuses_a_name_the_benchmark_does_not_give(run, problem):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=problem):
        call_command("benchmark", "--remove", run)


def test_remove_says_when_nothing_of_the_run_is_left():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Nothing of benchmark run bench0a1b2c is left"):
        call_command("benchmark", "--remove", "bench0a1b2c")


def test_running_services_are_used_as_they_are(live_server, start_qcluster, smtp_server):
    """--url, --no-workers and --smtp: nothing is started; acceptance times come from the rows."""
    start_qcluster(
        "transactional",
        TRIGGERED_EMAIL_SMTP_HOST=smtp_server.host,
        TRIGGERED_EMAIL_SMTP_PORT=str(smtp_server.port),
    )

    smtp = f"{smtp_server.host}:{smtp_server.port}"
    result = benchmark(
        "--mode", "single", "--messages", "8", "--rate", "10", "--warmup", "1",
        "--url", live_server.url, "--no-workers", "--smtp", smtp,
    )  # fmt: skip

    assert result["sink"] == "external"
    assert result["sink_ceiling_per_s"] is None
    assert result["received"] == 8
    assert_latency_sane(result["latency_ms"], 8)
    # warm-up 1 + measured 8 + raw 8, all through the real SMTP server
    wait_until(lambda: len(smtp_server.received) >= 17, what="all messages at the SMTP server")
    assert_nothing_left_behind()


def test_no_workers_without_smtp_is_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--no-workers needs --smtp"):
        benchmark("--mode", "single", "--messages", "1", "--no-workers", *SMALL)
    assert_nothing_left_behind()


@pytest.mark.parametrize(
    "running", [["--smtp", "127.0.0.1:2525"], ["--url", "http://127.0.0.1:1"], ["--no-workers"]]
)
def test_post_office_mode_refuses_running_services(running):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--url, --smtp and --no-workers do not apply"):
        benchmark("--mode", "post-office", "--messages", "1", *running, *SMALL)
    assert_nothing_left_behind()
