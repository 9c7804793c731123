"""`manage.py receive_bounces` as operators run it: a process of its own that records a DSN
sent to it and stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from delivery.models import Message, Suppression
from tests.bounce_fixtures import dsn_bytes
from tests.conftest import database_url_for_subprocess, free_port, wait_until
from tests.test_bounce_listener import deliver

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def command_process(transactional_db, settings):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "receive_bounces", "--port", str(port)],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            # The return paths are signed with the test process's key.
            "SECRET_KEY": settings.SECRET_KEY,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = process.stdout.readline()
    assert f"Bounce listener on 127.0.0.1:{port}" in line, line
    yield process, ("127.0.0.1", port)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_command_records_a_dsn_and_stops_on_sigterm(
    command_process, api, smtp_server, make_stream, make_contact
):
    process, address = command_process
    stream = make_stream()
    make_contact("jane@example.org")
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "1"}},
    )
    [mail] = smtp_server.wait_for(1)
    message = Message.objects.get()

    code, reply = deliver(
        address,
        mail.mail_from,
        dsn_bytes(
            "postfix_user_unknown.eml",
            return_path=mail.mail_from,
            recipient=message.recipient,
            message_id=message.message_id,
        ),
    )

    assert code == 250, reply
    wait_until(lambda: Suppression.objects.filter(email="jane@example.org").exists())
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_port_in_use_is_a_clear_error(transactional_db):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "receive_bounces", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url_for_subprocess()},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
