"""Starting and stopping what the benchmark measures: gunicorn and the two django-q2 lanes,
configured like production (DEBUG off, the configured database and broker) but pointed at the
benchmark's SMTP sink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The database this process uses, as a DATABASE_URL for the processes it starts (under
    pytest that is the test database, not the one the environment names)."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    if connection.vendor != "postgresql":
        raise RuntimeError(f"the benchmark supports SQLite and PostgreSQL, not {connection.vendor}")
    auth = quote(params.get("USER") or "")
    if params.get("PASSWORD"):
        auth += ":" + quote(params["PASSWORD"])
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{params['NAME']}"


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    # A service the benchmark talks to over its stdin and stdout (a line each way); its stderr
    # goes to the log.
    talks: bool = False
    process: subprocess.Popen | None = None
    _log_file: object = field(default=None, repr=False)

    def start(self) -> Service:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own argv)
            self.argv,
            env=self.env,
            cwd=settings.BASE_DIR,
            stdin=subprocess.PIPE if self.talks else None,
            stdout=subprocess.PIPE if self.talks else self._log_file,
            stderr=self._log_file if self.talks else subprocess.STDOUT,
            start_new_session=True,
            text=self.talks or None,
        )
        return self

    def say(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def hear(self) -> str:
        """The service's next line; a service that ended instead raises with its log."""
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(
                f"{self.name} exited with code {self.process.returncode}; see {self.log}"
            )
        return line.strip()

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with code {self.process.returncode}; see {self.log}"
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                # Its own session: the whole group (gunicorn's or qcluster's workers) goes.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()


@dataclass
class Topology:
    """How many processes of each kind, and how they are configured."""

    web_workers: int = 2
    web_threads: int = 1
    transactional_workers: int = 2
    bulk_workers: int = 2
    # Nice level of the bulk lane's workers (Q_BULK_NICE; 0 = same as everything else).
    bulk_nice: int = 10
    # SCHED_IDLE for the bulk lane's workers instead of the nice level (Q_BULK_SCHED_IDLE).
    bulk_sched_idle: bool = True


def child_environment(smtp_host: str, smtp_port: int, topology: Topology) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "TRIGGERED_EMAIL_BACKEND": "smtp",
        "TRIGGERED_EMAIL_SMTP_HOST": smtp_host,
        "TRIGGERED_EMAIL_SMTP_PORT": str(smtp_port),
        "TRIGGERED_EMAIL_SMTP_USER": "",
        "TRIGGERED_EMAIL_SMTP_PASSWORD": "",
        "TRIGGERED_EMAIL_SMTP_USE_TLS": "0",
        "TRIGGERED_EMAIL_SMTP_USE_SSL": "0",
        "TRIGGERED_EMAIL_DKIM_SIGNING": settings.TRIGGERED_EMAIL_DKIM_SIGNING,
        "TRIGGERED_EMAIL_RUN_TASKS_INLINE": "0",
        "Q_WORKERS": str(topology.transactional_workers),
        "Q_BULK_WORKERS": str(topology.bulk_workers),
        "Q_BULK_NICE": str(topology.bulk_nice),
        "Q_BULK_SCHED_IDLE": "1" if topology.bulk_sched_idle else "0",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    return env


def start_web(host: str, port: int, env: dict[str, str], topology: Topology, logs: Path) -> Service:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "triggered_email.wsgi",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(topology.web_workers),
        "--backlog",
        "2048",
        # gunicorn 27 opens a control socket at one fixed path per user: a second server on the
        # same host (make run) would take it over. Nothing here uses it.
        "--no-control-socket",
    ]
    if topology.web_threads > 1:
        argv += ["--worker-class", "gthread", "--threads", str(topology.web_threads)]
    return Service("web", argv, env, logs / "web.log").start()


def start_lane(lane: str, env: dict[str, str], topology: Topology, logs: Path) -> Service:
    argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
    return Service(lane, argv, {**env, "Q_CLUSTER_NAME": lane}, logs / f"{lane}.log").start()


def start_post_office(
    run: str, messages: int, options: dict[str, object], env: dict[str, str], logs: Path
) -> Service:
    """The django-post-office sender (post_office_sender.py), waiting for "go"."""
    argv = [sys.executable, "-m", "triggered_email.benchmarking.post_office_sender", run]
    argv += [str(messages)]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "triggered_email.benchmarking.post_office_settings",
        "PYTHONUNBUFFERED": "1",
    }
    return Service("post_office", argv, env, logs / "post_office.log", talks=True).start()


def wait_for_web(base_url: str, services: list[Service], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            service.check()
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer on {base_url} within {timeout} s")
