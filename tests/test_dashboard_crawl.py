"""Every dashboard page and CSV, for every range (valid and junk), as a superuser and a marketer:
no 5xx; junk parameters give a 4xx or a page that says what was wrong."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from streams.models import MailStream
from tests.seeding import seed_world

pytestmark = pytest.mark.django_db

VALID_RANGES: list[dict[str, str]] = [
    {},
    {"range": "24h"},
    {"range": "7d"},
    {"range": "30d"},
]
# (parameters, whether the page must say what is wrong with them)
JUNK_RANGES: list[tuple[dict[str, Any], bool]] = [
    ({"range": "junk"}, False),
    ({"range": ["24h", "7d"]}, False),
    ({"start": "junk", "end": "junk"}, True),
    ({"start": "2026-01-01T00:00"}, True),
    ({"end": "2026-01-01"}, True),
    ({"start": "2026-02-01", "end": "2026-01-01"}, True),
    ({"start": "2025-01-01", "end": "2026-12-31"}, True),
    ({"start": "9999-12-31", "end": "9999-12-31"}, True),
    ({"start": "9999-12-31T23:30", "end": "9999-12-31T23:59"}, True),
    ({"start": "9999-12-31T21:00", "end": "9999-12-31T23:00"}, False),
    ({"start": "9999-12-30", "end": "9999-12-30"}, False),
    ({"start": "2026-03-29T02:30", "end": "2026-10-25T02:30"}, False),
    ({"start": "0001-01-01", "end": "0001-01-02"}, False),
    ({"start": "0001-01-01T00:00", "end": "0001-01-01T05:00"}, False),
    ({"start": "2026-01-01T00:00+05:00", "end": "2026-01-02T00:00+05:00"}, False),
    ({"start": "2026-13-45", "end": "2026-14-01"}, True),
    ({"start": "x" * 5000, "end": "y" * 5000}, True),
    ({"start": "2026-01-01\x00", "end": "2026-01-02"}, True),
    ({"start": "<script>alert(1)</script>", "end": "2026-01-02"}, True),
    ({"stream": "junk"}, False),
    ({"stream": "99999999999999999999999"}, False),
    ({"stream": "٣"}, False),
]


def custom_ranges() -> list[dict[str, str]]:
    today = timezone.localdate()
    now = timezone.localtime()
    return [
        {"start": f"{today:%Y-%m-%d}", "end": f"{today:%Y-%m-%d}"},
        {"start": f"{now:%Y-%m-%dT00:00}", "end": f"{now:%Y-%m-%dT%H:%M}"},
        {"range": "custom", "start": f"{today:%Y-%m-01}", "end": f"{today:%Y-%m-%d}"},
    ]


def dashboard_urls() -> list[str]:
    urls = [reverse("dashboard:overview"), reverse("dashboard:series-csv")]
    for stream in MailStream.objects.order_by("pk"):
        urls.append(reverse("dashboard:stream", args=[stream.pk]))
        urls.append(reverse("dashboard:stream-series-csv", args=[stream.pk]))
    return urls


@pytest.fixture
def world(api, smtp_server):
    return seed_world(api, smtp_server)


@pytest.mark.parametrize("who", ["superuser", "marketer"])
def test_every_dashboard_page_and_range_answers_without_a_server_error(who, world, artifacts_dir):
    client = Client()
    client.force_login(getattr(world, who))
    visited, problems = [], []

    def visit(url: str, params: dict[str, Any], expect: set[int]) -> Any:
        full = f"{url}?{urlencode(params, doseq=True)}" if params else url
        try:
            response = client.get(full)
        except Exception as exc:  # the test client re-raises a view's exception: a 500
            problems.append(f"{who} GET {full[:200]}: raised {exc!r}"[:500])
            return None
        visited.append(f"{who}\tGET\t{full[:300]}\t{response.status_code}")
        if response.status_code not in expect:
            problems.append(f"{who} GET {full[:200]}: HTTP {response.status_code}")
        return response

    for url in dashboard_urls():
        for params in VALID_RANGES + custom_ranges():
            response = visit(url, params, {200})
            if response is None or response.status_code != 200:
                continue
            if url.endswith(".csv"):
                if not response["Content-Type"].startswith("text/csv"):
                    problems.append(f"{who} {url} {params}: not a CSV")
            elif b'class="problem"' in response.content:
                problems.append(f"{who} {url} {params}: a valid range reported as a problem")
        for params, must_explain in JUNK_RANGES:
            response = visit(url, params, {200, 302, 400, 404})
            if response is None or response.status_code != 200 or url.endswith(".csv"):
                continue
            if must_explain and b'class="problem"' not in response.content:
                # A sane page says what was wrong with the range and what it shows instead.
                problems.append(f"{who} {url} {str(params)[:80]}: junk range not explained")
    for url in [
        "/dashboard/streams/999999/",
        "/dashboard/streams/999999/series.csv",
        "/dashboard/streams/99999999999999999999999/",
        "/dashboard/streams/99999999999999999999999/series.csv",
    ]:
        visit(url, {}, {404})

    (artifacts_dir / f"dashboard_crawl_urls_{who}.txt").write_text("\n".join(visited) + "\n")
    assert not problems, "\n".join(problems)
    assert len(visited) > 100


def test_the_dashboard_refuses_anonymous_visitors(world):
    response = Client().get(reverse("dashboard:overview"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
