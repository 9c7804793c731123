"""Admin login throttling (django-axes): failed logins lock a username and, separately, a
client address; the lock is explained on the login page; operators unlock with axes' commands.
The trigger API's own authentication is not affected."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from events.credentials import wsse_header

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
LOGIN = "/admin/login/?next=/admin/"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)|\son[a-z]+=", re.IGNORECASE)


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("operator", "operator@example.com", PASSWORD)


def attempt(username: str, password: str, address: str = "203.0.113.7", **meta: str):
    return Client(REMOTE_ADDR=address, **meta).post(
        LOGIN, {"username": username, "password": password}
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_the_right_password_logs_in_after_fewer_failures_than_the_limit(operator):
    for _ in range(4):
        assert attempt("operator", "wrong").status_code == 200

    assert logged_in(attempt("operator", PASSWORD))


def test_after_the_limit_the_right_password_is_refused_with_an_explanation(operator):
    for _ in range(5):
        attempt("operator", "wrong")

    response = attempt("operator", PASSWORD)

    assert response.status_code == 429
    assert not logged_in(response)
    page = response.content.decode()
    assert 'id="login-locked"' in page
    assert "5 failed login attempts" in page
    assert "Try again in 15 minutes" in page
    assert "axes_reset_username" in page
    assert not INLINE_SCRIPT.search(page)
    assert int(response["Retry-After"]) == 15 * 60


def test_a_locked_username_is_refused_from_every_address(operator):
    # A distributed attack: each failure comes from a different address.
    for index in range(5):
        attempt("operator", "wrong", address=f"198.51.100.{index + 1}")

    response = attempt("operator", PASSWORD, address="192.0.2.200")

    assert response.status_code == 429
    assert not logged_in(response)


def test_a_locked_address_is_refused_for_every_username(operator):
    # A spray: one address tries many usernames once each.
    for index in range(5):
        attempt(f"guess{index}", "wrong", address="203.0.113.9")

    from_sprayer = attempt("operator", PASSWORD, address="203.0.113.9")
    from_elsewhere = attempt("operator", PASSWORD, address="192.0.2.10")

    assert from_sprayer.status_code == 429
    assert logged_in(from_elsewhere)


def test_axes_reset_username_unlocks_the_username(operator):
    for _ in range(5):
        attempt("operator", "wrong", address="198.51.100.1")
    assert attempt("operator", PASSWORD, address="192.0.2.1").status_code == 429

    call_command("axes_reset_username", "operator")

    assert logged_in(attempt("operator", PASSWORD, address="192.0.2.1"))


def test_behind_trusted_proxies_the_address_is_taken_from_x_forwarded_for(settings, operator):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the real client; what the client put in front of it is ignored.
    for index in range(5):
        attempt(
            f"guess{index}",
            "wrong",
            address="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 203.0.113.50",
        )

    same_client = attempt(
        "operator", PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50"
    )
    other_client = attempt(
        "operator", PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.51"
    )

    assert same_client.status_code == 429
    assert logged_in(other_client)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(operator):
    for index in range(5):
        attempt(f"guess{index}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{index}")

    assert attempt("operator", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_logins_without_a_request_still_work(client, operator):
    # The test client's login() authenticates without a request; axes alone would refuse it.
    assert client.login(username="operator", password=PASSWORD)
    assert client.get("/admin/").status_code == 200


def test_api_authentication_is_not_counted_or_locked(credential, make_stream, operator):
    make_stream()
    api = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(8):
        bad = api.get("/api/v2/event", HTTP_AUTHORIZATION="Token wrong-token")
        assert bad.status_code == 401
    for _ in range(5):
        attempt("operator", "wrong", address="203.0.113.7")

    by_token = api.get("/api/v2/event", HTTP_AUTHORIZATION=f"Token {credential.token}")
    by_wsse = api.get(
        "/api/v2/event", HTTP_X_WSSE=wsse_header(credential.username, credential.secret)
    )

    assert by_token.status_code == 200
    assert by_wsse.status_code == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADMIN_LOGIN_FAILURE_LIMIT", "0"),
        ("ADMIN_LOGIN_FAILURE_LIMIT", "five"),
        ("ADMIN_LOGIN_COOLOFF_MINUTES", "-1"),
        ("TRUSTED_PROXY_COUNT", "one"),
    ],
)
def test_bad_throttling_settings_stop_start_up_naming_the_variable(tmp_path, variable, value):
    root = Path(__file__).resolve().parent.parent
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, str(root / "manage.py"), "check"],
        env={**environment, "VAR_DIR": str(tmp_path), variable: value},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert f"Environment variable {variable}={value!r} is invalid" in result.stderr


def test_the_lock_records_are_listed_in_the_admin_without_error(client, operator):
    for _ in range(5):
        attempt("operator", "wrong", HTTP_USER_AGENT="<script>alert(1)</script>")
    client.force_login(operator)

    pages = [
        client.get(url)
        for url in (
            "/admin/axes/accessattempt/",
            f"/admin/axes/accessattempt/{AccessAttempt.objects.first().pk}/change/",
            "/admin/axes/accesslog/",
            "/admin/axes/",
        )
    ]

    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].content.decode()
    assert "<script>alert(1)</script>" not in pages[0].content.decode()
    assert "operator" in pages[0].content.decode()
