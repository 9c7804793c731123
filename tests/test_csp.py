"""Every HTML page carries a Content-Security-Policy that forbids inline script and inline event
handlers; our own pages need neither, and operators can add image and font sources only."""

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from delivery.models import Message
from streams.marketers import MARKETERS_GROUP

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_no_inline_script(directives: dict[str, list[str]]) -> None:
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives.get("default-src", [])
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'self'"]


class InlineCode(HTMLParser):
    """Inline <script> elements and on… attributes of a page."""

    def __init__(self, page: str):
        super().__init__()
        self.found: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        # <script type="application/json"> (json_script) is data: browsers never run it.
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.found.append("inline <script>")
        self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]


@pytest.fixture
def marketer(client):
    user = User.objects.create_user("mia", "mia@example.com", "pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(user)
    return client


def test_login_page_has_the_policy(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert_no_inline_script(policy(response))


def test_admin_and_dashboard_pages_have_the_policy_and_no_inline_script(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "A-1"}},
    )
    pages = [
        "/admin/",
        "/admin/streams/mailstream/",
        "/admin/streams/mailstream/add/",
        f"/admin/streams/mailstream/{stream.pk}/change/",
        f"/admin/streams/streamversion/{stream.current_version_id}/change/",
        f"/admin/delivery/message/{Message.objects.get().pk}/change/",
        f"/admin/streams/mailstream/{stream.pk}/send-test/",
        "/dashboard/",
        f"/dashboard/streams/{stream.pk}/",
    ]

    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_no_inline_script(policy(response))
        assert InlineCode(response.content.decode()).found == [], url


def test_the_stream_editor_script_is_a_static_file_that_is_served(admin_client, make_stream):
    stream = make_stream()

    page = admin_client.get(f"/admin/streams/mailstream/{stream.pk}/change/").content.decode()

    assert 'src="/static/streams/live_preview.js"' in page
    script = admin_client.get("/static/streams/live_preview.js")
    assert script.status_code == 200
    assert b"te-preview" in b"".join(script.streaming_content)


def test_marketer_pages_have_the_policy(marketer, make_stream):
    stream = make_stream()

    for url in ("/admin/", f"/admin/streams/mailstream/{stream.pk}/change/"):
        response = marketer.get(url)
        assert response.status_code == 200
        assert_no_inline_script(policy(response))


def manage_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "-c",
            "from django.conf import settings; "
            "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])",
        ],
        env={**environment, "VAR_DIR": str(tmp_path), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_operators_can_add_image_sources(tmp_path):
    result = manage_check(tmp_path, CSP_EXTRA_IMG_SRC="https://cdn.example.com, *.example.net")

    assert result.returncode == 0, result.stderr
    assert "https://cdn.example.com" in result.stdout
    assert "*.example.net" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CSP_EXTRA_IMG_SRC", "'unsafe-inline'"),
        ("CSP_EXTRA_IMG_SRC", "https://cdn.example.com; script-src *"),
        ("CSP_EXTRA_FONT_SRC", "*"),
    ],
)
def test_bad_extra_sources_stop_start_up_naming_the_variable(tmp_path, variable, value):
    result = manage_check(tmp_path, **{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]
