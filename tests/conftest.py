"""Shared fixtures: a real SMTP server, API clients, and builders for events, streams, contacts.

Work that the app hands to django-q2 after commit runs in-process right after the request
(TRIGGERED_EMAIL_RUN_TASKS_INLINE), except in tests that start a real qcluster.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from rest_framework.test import APIClient

from delivery.models import Message
from events.credentials import IssuedCredential, issue_credential, wsse_header
from events.models import Contact, ExternalEvent
from senders import bounce_domains, key_storage, signing
from senders.models import DkimKey, SenderDomain
from streams.models import MailStream
from streams.rendering import version_cache
from streams.versions import publish_version, save_draft


def free_port() -> int:
    # aiosmtpd 1.4.6 cannot listen on port 0: find a free port first.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy (for work other processes do)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    received_at: float
    # The bytes the server received after DATA (what a DKIM verifier checks).
    raw: bytes = b""

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                return part.get_content()
        raise AssertionError(f"no {content_type} part in the message")


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) whose answers a test can script."""

    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    # address -> reply to RCPT TO, e.g. "550 5.1.1 user unknown"
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    # replies to the next DATA commands, consumed in order, e.g. ["451 4.3.0 try later"]
    data_replies: list[str] = field(default_factory=list)
    controller: Controller | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    # Offer PIPELINING, as the MTAs of the dedicated path do (delivery.smtp_backend); a test
    # that wants smtplib's one-command-at-a-time exchange turns it off.
    pipelining: bool = True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            message = email.message_from_bytes(
                envelope.original_content, policy=email.policy.default
            )
            self.received.append(
                ReceivedMail(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    time.time(),
                    envelope.original_content,
                )
            )
        return "250 OK queued"

    def start(self) -> None:
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, the SMTP server got {len(self.received)}")

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "username": "",
            "password": "",
            "use_tls": False,
            "use_ssl": False,
            "timeout": 5,
        }


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path):
    """Queued work runs right after commit; files go to a per-test folder."""
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True
    settings.API_RATE_LIMIT = "100000/s"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    version_cache.clear()
    yield
    version_cache.clear()


_TEST_KEYS: dict[str, Any] = {}


def session_dkim_key() -> Any:
    """One RSA-2048 key for the whole session (generating one costs tens of milliseconds)."""
    if "rsa" not in _TEST_KEYS:
        _TEST_KEYS["rsa"] = key_storage.generate(key_storage.RSA)
    return _TEST_KEYS["rsa"]


def make_sender_domain(name: str, *, verified: bool = True) -> SenderDomain:
    """A sender domain with an active RSA key (the session's), verified on the tests' word."""
    domain = SenderDomain.objects.create(name=name)
    key = session_dkim_key()
    DkimKey.objects.create(
        domain=domain,
        selector="test",
        algorithm=DkimKey.Algorithm.RSA,
        state=DkimKey.State.ACTIVE,
        public_key=key.public_key,
        sealed_private_key=key_storage.seal(key.private_pem),
    )
    if verified:
        domain.vouch("test fixture")
    return domain


@pytest.fixture(autouse=True)
def _verified_sender_domain(request):
    """Every test with a database has example.com as a verified sender domain with a DKIM key,
    as the demo has: streams on it may be saved, launched and send signed mail. Tests without
    a database have no keys to sign with: there the MTA "signs" (TRIGGERED_EMAIL_DKIM_SIGNING)."""
    signing.forget_keys()
    bounce_domains.forget()
    if "_django_db_helper" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")
        make_sender_domain("example.com")
    else:
        request.getfixturevalue("settings").TRIGGERED_EMAIL_DKIM_SIGNING = "mta"
    yield
    signing.forget_keys()


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpServer]:
    """A running SMTP server that the dedicated path sends to."""
    server = SmtpServer("127.0.0.1", free_port())
    server.start()
    settings.TRIGGERED_EMAIL_BACKEND = "delivery.smtp_backend.EmailBackend"
    settings.TRIGGERED_EMAIL_SMTP = server.settings
    yield server
    server.stop()


@pytest.fixture
def credential(db) -> IssuedCredential:
    return issue_credential("shop-backend")


class Api:
    """JSON calls to the trigger API as a client system makes them.

    Work enqueued on commit runs before the call returns (captured on-commit callbacks).
    """

    def __init__(self, client: APIClient, capture: Callable):
        self.client = client
        self.capture = capture

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, **headers: str
    ):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if method == "get":
            data = None
        with self.capture(execute=True):
            response = getattr(self.client, method)(
                path, data=data, content_type="application/json", **headers
            )
        return response

    def post(self, path: str, body: Any = None, **kwargs):
        return self.call("post", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs):
        return self.call("put", path, body, **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("get", path, **kwargs)


@pytest.fixture
def api(credential, django_capture_on_commit_callbacks) -> Api:
    """An API client authenticated with a token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {credential.token}")
    return Api(client, django_capture_on_commit_callbacks)


@pytest.fixture
def wsse_api(credential, django_capture_on_commit_callbacks) -> Callable[..., Api]:
    """An API client that signs each call with a fresh X-WSSE header."""

    class WsseClient(APIClient):
        def generic(self, *args, **kwargs):
            kwargs.setdefault("HTTP_X_WSSE", wsse_header(credential.username, credential.secret))
            return super().generic(*args, **kwargs)

    return Api(WsseClient(), django_capture_on_commit_callbacks)


@pytest.fixture
def anonymous_api(django_capture_on_commit_callbacks) -> Api:
    return Api(APIClient(), django_capture_on_commit_callbacks)


ORDER_HTML = """<!DOCTYPE html>
<html><head><style>p.greeting { color: #0f766e; } td.item { padding: 4px; }</style></head>
<body><p class="greeting">Hi {{ contact.first_name|default("there") }},</p>
<table>{% for item in event.items %}<tr><td class="item">{{ item.name }}</td></tr>{% endfor %}
</table>
<p>Order #{{ event.order_id }}</p></body></html>"""
ORDER_TEXT = (
    'Hi {{ contact.first_name|default("there") }}, order #{{ event.order_id }}:'
    "{% for item in event.items %} {{ item.name }}{% endfor %}"
)


@pytest.fixture
def make_event(db) -> Callable[..., ExternalEvent]:
    def make(name: str = "order_confirmation") -> ExternalEvent:
        return ExternalEvent.objects.create(name=name)

    return make


@pytest.fixture
def make_stream(db, make_event) -> Callable[..., MailStream]:
    """A stream with a published version; live unless told otherwise."""

    def make(
        event: ExternalEvent | None = None,
        *,
        name: str = "Order confirmation",
        subject: str = "Your order #{{ event.order_id }}",
        html: str = ORDER_HTML,
        text: str = ORDER_TEXT,
        status: str = MailStream.Status.LIVE,
        **fields: Any,
    ) -> MailStream:
        if event is None and fields.get("kind") != MailStream.Kind.BROADCAST:
            event = ExternalEvent.objects.first() or make_event()
        stream = MailStream.objects.create(
            name=name,
            event=event,
            sender_email=fields.pop("sender_email", "orders@example.com"),
            sender_name=fields.pop("sender_name", "Example Shop"),
            status=status,
            **fields,
        )
        publish_version(save_draft(stream, subject=subject, html_source=html, text=text))
        stream.refresh_from_db()
        return stream

    return make


@pytest.fixture
def make_contact(db) -> Callable[..., Contact]:
    def make(email: str = "jane@example.org", **fields: Any) -> Contact:
        fields.setdefault("first_name", "Jane")
        return Contact.objects.create(email=email, **fields)

    return make


@pytest.fixture
def make_queued_messages(db) -> Callable[..., list[Message]]:
    """`count` messages of `stream`, queued and due now, as one bulk insert; `label` names them."""

    def make(stream: MailStream, count: int, *, label: str = "queued") -> list[Message]:
        now = timezone.now()
        return Message.objects.bulk_create(
            Message(
                stream=stream,
                version_id=stream.current_version_id,
                recipient=f"reader{index}@example.org",
                message_id=f"<{label}-{index}@example.com>",
                status=Message.Status.QUEUED,
                next_attempt_at=now,
                queued_at=now,
            )
            for index in range(count)
        )

    return make


@pytest.fixture(scope="session")
def artifacts_dir() -> Any:
    """Where tests leave screenshots for humans to look at (test-artifacts/, not committed)."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def wait_in_browser(browser: Any, condition: Callable[[Any], Any], timeout: float = 15) -> Any:
    """Wait until `condition(browser)` holds. A click that loads a page leaves the old page's
    elements stale (or gone) for a moment: those errors mean "not yet", not failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        browser,
        timeout,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(lambda driver: condition(driver))


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Iterator[Any]:
    """Debian's chromium, headless, driven by its own chromedriver (nothing downloaded)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("Browser tests need chromium and chromedriver: run `make browser-deps`.")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def database_url_for_subprocess() -> str:
    """A DATABASE_URL naming the test database, for processes a test starts (qcluster)."""
    from urllib.parse import quote

    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    auth = quote(params["USER"] or "")
    if params.get("PASSWORD"):
        auth += ":" + quote(params["PASSWORD"])
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{params['NAME']}"


@pytest.fixture
def start_qcluster(transactional_db, settings) -> Iterator[Callable[..., Any]]:
    """Start real `manage.py qcluster` processes against the test database.

    The test process enqueues through the real broker (tasks are not run inline). Each cluster
    is stopped, and waited for, when the test ends.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django_q.brokers import get_broker

    from delivery import handover
    from delivery.queue import LANES

    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    # Tasks other tests left in a Redis queue name rows of databases long gone: drop them so
    # the cluster only sees this test's work.
    for lane in (*LANES, "webhooks"):
        get_broker(lane).delete_queue()
        if handover.supported(get_broker(lane)):
            handover.forget(get_broker(lane))
    root = Path(__file__).resolve().parent.parent
    started: list[subprocess.Popen] = []

    def start(lane: str = "transactional", **env: str) -> subprocess.Popen:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "Q_CLUSTER_NAME": lane,
            "Q_WORKERS": "1",
            "TRIGGERED_EMAIL_DKIM_SIGNING": settings.TRIGGERED_EMAIL_DKIM_SIGNING,
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, str(root / "manage.py"), "qcluster"],
            cwd=root,
            env=environment,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RecordedDns:
    """Recorded DNS answers for the sender-domain checks (senders.dns_lookup.resolver):
    `answers[(name, rdtype)]` is a list of answers or an exception to raise; unknown names have
    no records (NXDOMAIN)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Any] = {}
        self.asked: list[tuple[str, str]] = []

    def __call__(self, name: str, rdtype: str) -> list[str]:
        self.asked.append((name, rdtype))
        answer = self.answers.get((name, rdtype), [])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def publish(self, domain: SenderDomain) -> None:
        """Publish exactly what the app asks for (dns_records)."""
        from senders.dns_records import expected_records

        for record in expected_records(domain):
            self.answers[(record.name, record.rdtype)] = [record.value]


@pytest.fixture
def recorded_dns(monkeypatch) -> RecordedDns:
    from senders import dns_lookup

    dns = RecordedDns()
    monkeypatch.setattr(dns_lookup, "resolver", dns)
    return dns


def type_in_editor(browser: Any, name: str, keys: str, *, at_end: bool = True) -> None:
    """Type into the code editor that stands in for the textarea `name` (as a person would:
    completion, bracket closing and tag closing all apply)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    content = browser.find_element(
        By.CSS_SELECTOR, f'.te-codemirror[data-editor-for="{name}"] .cm-content'
    )
    content.click()
    if at_end:
        content.send_keys(Keys.CONTROL, Keys.END)
    content.send_keys(keys)


def set_editor_text(browser: Any, name: str, text: str) -> None:
    """Replace what the code editor for the textarea `name` holds, in one change."""
    browser.execute_script(
        "const view = document.querySelector(`.te-codemirror[data-editor-for='${arguments[0]}']`)"
        ".teEditorView;"
        "view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: arguments[1]}});",
        name,
        text,
    )


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A client system's endpoint: a real HTTP server that answers from a script.

    `answers` is a list of (status, delay seconds) taken one per request; when it runs out every
    request gets `default`. A delay of None never answers (until the test ends).
    """

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.received: list[ReceivedWebhook] = []
        self.answers: list[tuple[int, float | None]] = []
        self.default: tuple[int, float | None] = (200, 0)
        self.stopping = threading.Event()
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(
                        ReceivedWebhook(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body
                        )
                    )
                    status, delay = (
                        receiver.answers.pop(0) if receiver.answers else receiver.default
                    )
                if delay is None:
                    receiver.stopping.wait(60)
                    return
                if delay:
                    time.sleep(delay)
                reply = f"answer {status}".encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/te"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, *answers: tuple[int, float | None]) -> None:
        with self.lock:
            self.answers.extend(answers)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        wait_until(lambda: len(self.received) >= count, timeout, f"{count} webhook requests")
        return list(self.received)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A client system's webhook endpoint on 127.0.0.1 (subscribe it with allow_private)."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
