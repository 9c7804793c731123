"""The API's rate limit holds across web processes in the default setup (no CACHE_URL).

Two real web processes (gunicorn, one worker each) serve the test database over real HTTP; a
client alternates between them. With a per-process cache each process would let its own 5
requests through (10 in all); the default cache is the database's, which both share.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.credentials import issue_credential
from tests.conftest import database_url_for_subprocess, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 5


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else {}


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


@pytest.fixture
def web_processes(transactional_db, settings) -> Iterator[list[str]]:
    """Two gunicorn processes (one worker each) on the test database, with the default cache."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "CACHE_URL"},
        "DATABASE_URL": database_url_for_subprocess(),
        # Per minute, so the count cannot roll over while the requests are made.
        "API_RATE_LIMIT": f"{LIMIT}/min",
        "TRIGGERED_EMAIL_DKIM_SIGNING": settings.TRIGGERED_EMAIL_DKIM_SIGNING,
    }
    started: list[subprocess.Popen] = []
    urls = []
    try:
        for _ in range(2):
            port = free_port()
            started.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "triggered_email.wsgi:application",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "1",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_until(lambda url=url: answers(f"{url}/healthz"), timeout=60, what=url)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_rate_limit_counts_the_requests_of_every_web_process(web_processes):
    credential = issue_credential("two-workers")
    statuses: Counter[int] = Counter()
    per_process: Counter[str] = Counter()

    for n in range(2 * LIMIT):
        url = web_processes[n % 2]
        status, body = get(f"{url}/api/v2/event", credential.token)
        statuses[status] += 1
        if status == 200:
            per_process[url] += 1
        else:
            assert body["replyCode"] == 7003, body

    assert statuses == {200: LIMIT, 429: LIMIT}, statuses
    # Both processes answered some of the allowed requests: the count was shared, not one
    # process refusing everything.
    assert len(per_process) == 2, per_process


def test_migrate_alone_creates_the_cache_table(tmp_path):
    # The test database also gets createcachetable from Django's test setup, which would hide
    # a missing migration: a fresh installation's `migrate` is checked on its own here.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env["VAR_DIR"] = str(tmp_path)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, timeout=120)

    probe = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from django.core.cache import cache; cache.set('k', 42); print(cache.get('k'))",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == "42"


def test_the_rate_limit_costs_one_read_and_one_write_of_the_cache_per_request(api, make_event):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_event()
    api.get("/api/v2/event")  # the process's first write of the cache also culls it

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v2/event")

    assert response.status_code == 200
    cache_queries = [q["sql"] for q in queries if "triggered_email_cache" in q["sql"]]
    assert len(cache_queries) == 2, cache_queries
    assert cache_queries[0].startswith("SELECT")
    assert cache_queries[1].startswith("INSERT") and "ON CONFLICT" in cache_queries[1]
