"""Settings come from the environment; bad values stop start-up naming the variable."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "HTTPS", "DB_PREPARED_STATEMENTS"}
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**environment, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="mail.example.com",
        HTTPS="1",
        VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("Q_WORKERS", "many"),
        ("DEBUG", "maybe"),
        ("TRIGGERED_EMAIL_SMTP_PORT", "0"),
        ("API_RATE_LIMIT", "fast"),
        ("SECRET_KEY", "short"),
        ("TRIGGERED_EMAIL_BACKEND", "postmark"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("TRIGGERED_EMAIL_BULK_YIELD_MS", "-5"),
        ("DB_PREPARED_STATEMENTS", "sometimes"),
        # A bulk task may give way twice after its time is up: 2 × 100 s outlive the timeout.
        ("TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS", "100"),
        ("TRIGGERED_EMAIL_SMTP_CA_FILE", "/nonexistent/ca.pem"),
        ("TRIGGERED_EMAIL_DKIM_SIGNING", "both"),
        # RSA must stay: receivers that do not know Ed25519 need it.
        ("TRIGGERED_EMAIL_DKIM_ALGORITHMS", "ed25519-sha256"),
        ("TRIGGERED_EMAIL_DKIM_ALGORITHMS", "rsa-sha256,rsa-sha1"),
        ("TRIGGERED_EMAIL_DNS_CHECK_EVERY_MINUTES", "1"),
    ],
)
def test_bad_values_are_rejected_naming_the_variable(tmp_path, variable, value):
    result = manage("check", VAR_DIR=str(tmp_path), **{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]


def test_debug_is_off_unless_asked_for(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        VAR_DIR=str(tmp_path),
    )

    assert result.stdout.strip().splitlines()[-1] == "False"


def test_workers_never_use_a_connection_pool(settings):
    # django-q2 forks its workers; pooled connections shared across forks corrupt results.
    options = settings.DATABASES["default"].get("OPTIONS", {})
    assert not options.get("pool")
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert settings.Q_CLUSTER["save_limit"] == -1


def database_options(**env: str) -> str:
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_postgresql_statements_are_prepared_unless_switched_off(tmp_path):
    # No connection is made: the options are what every connection will be opened with.
    assert database_options(VAR_DIR=str(tmp_path)) == str(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
    assert database_options(VAR_DIR=str(tmp_path), DB_PREPARED_STATEMENTS="0") == "{}"
