"""`make run`'s last step, as a new user meets it: everything starts, the printed curl command
triggers the demo stream, the email lands in the outbox folder, Ctrl-C stops it all."""

import os
import signal
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def local_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env


def test_run_local_serves_the_demo_end_to_end(local_env, tmp_path):
    port, smtp_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_local",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
            "--web-workers",
            "1",
        ],
        env=local_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("Press Ctrl-C" in line for line in lines),
            timeout=60,
            what="the run_local banner",
        )
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/admin/" in banner
        assert "login: admin / " in banner
        [curl] = [line for line in lines if line.startswith("curl ")]

        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True
        )
        assert '"replyCode":0' in result.stdout

        outbox = tmp_path / "outbox"
        [eml] = wait_until(lambda: list(outbox.glob("*.eml")), timeout=10, what="an .eml file")
        elapsed = time.monotonic() - started
        content = eml.read_text()
        assert "X-Envelope-To: jane.doe@example.org" in content
        assert "Subject: Your order #10042 is confirmed" in content
        assert "Hi Jane," in content
        assert "Milk frother" in content
        # Tracked links and the open pixel point at the port run_local serves on.
        html = message_from_bytes(eml.read_bytes(), policy=default).get_body(("html",))
        assert f"http://127.0.0.1:{port}/t/c/" in html.get_content()
        assert f"http://127.0.0.1:{port}/t/o/" in html.get_content()
        print(f"curl → .eml in {elapsed * 1000:.0f} ms")
    finally:
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=60)
        reader.join(timeout=5)

    assert exit_code == 0, "".join(lines[-30:])
    assert "Stopped." in "".join(lines)
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=1)
