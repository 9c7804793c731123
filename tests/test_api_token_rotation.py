"""Rotating an API credential: `rotate_api_token NAME` and the admin action issue a new WSSE
secret and token, print/show them once, and the old ones get 401 at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from events.credentials import issue_credential, wsse_header
from events.models import ApiCredential
from streams.marketers import MARKETERS_GROUP, ensure_marketers_group

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/events/apicredential/"
ROOT = Path(__file__).resolve().parent.parent


def by_token(token: str) -> int:
    return APIClient().get("/api/v2/event", HTTP_AUTHORIZATION=f"Token {token}").status_code


def by_wsse(username: str, secret: str) -> int:
    return APIClient().get("/api/v2/event", HTTP_X_WSSE=wsse_header(username, secret)).status_code


def rotate(name: str) -> dict[str, str]:
    out = StringIO()
    call_command("rotate_api_token", name, stdout=out)
    [line] = out.getvalue().strip().splitlines()
    return json.loads(line)


def test_the_command_prints_new_values_that_work_and_revokes_the_old_ones():
    old = issue_credential("shop")

    new = rotate("shop")

    assert set(new) == {"username", "secret", "token"}
    assert new["username"] == "shop"
    assert new["secret"] != old.secret and new["token"] != old.token
    assert by_token(old.token) == 401
    assert by_wsse("shop", old.secret) == 401
    assert by_token(new["token"]) == 200
    assert by_wsse("shop", new["secret"]) == 200


def test_the_command_leaves_other_credentials_alone():
    issue_credential("shop")
    other = issue_credential("crm")

    rotate("shop")

    assert by_token(other.token) == 200
    assert by_wsse("crm", other.secret) == 200


def test_the_command_refuses_an_unknown_name_with_a_clear_error():
    issue_credential("shop")

    with pytest.raises(CommandError, match=r"No API credential named 'shp'.*shop"):
        call_command("rotate_api_token", "shp", stdout=StringIO())


def manage(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**environment, "VAR_DIR": str(var_dir)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unknown_name_exits_non_zero(tmp_path):
    assert manage("migrate", "--no-input", var_dir=tmp_path).returncode == 0

    result = manage("rotate_api_token", "nobody", var_dir=tmp_path)

    assert result.returncode != 0
    assert "No API credential named 'nobody'" in result.stderr
    assert result.stdout == ""


@pytest.fixture
def operator_client(client):
    operator = User.objects.create_superuser("operator", "operator@example.com", "pw-operator-1")
    client.force_login(operator)
    return client


def test_the_admin_action_asks_first_and_rotates_only_when_confirmed(operator_client):
    issued = issue_credential("shop")
    credential = ApiCredential.objects.get()

    page = operator_client.post(
        CHANGELIST, {"action": "rotate_secrets", ACTION_CHECKBOX_NAME: [credential.pk]}
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "Rotate API credentials?" in html
    assert by_token(issued.token) == 200
    assert by_wsse("shop", issued.secret) == 200
    # Confirming posts exactly the page's hidden fields back.
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields.setdefault(name, []).append(value)
    confirmed = operator_client.post(CHANGELIST, fields)
    assert 'class="rotated-token"' in confirmed.content.decode()
    assert by_token(issued.token) == 401


def test_the_admin_action_shows_the_new_values_once_and_revokes_the_old_ones(operator_client):
    old = issue_credential("shop")
    credential = ApiCredential.objects.get()

    page = operator_client.post(
        CHANGELIST,
        {"action": "rotate_secrets", ACTION_CHECKBOX_NAME: [credential.pk], "_confirm": "rotate"},
    )

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    # Works under a Content-Security-Policy without 'unsafe-inline'.
    assert not re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+=", html, re.IGNORECASE)
    [secret] = re.findall(r'<code class="rotated-secret">([^<]+)</code>', html)
    [token] = re.findall(r'<code class="rotated-token">([^<]+)</code>', html)
    assert by_token(old.token) == 401
    assert by_wsse("shop", old.secret) == 401
    assert by_token(token) == 200
    assert by_wsse("shop", secret) == 200
    # Never again: not on the list, not on the change page, not in the admin's history.
    for url in (
        CHANGELIST,
        f"{CHANGELIST}{credential.pk}/change/",
        f"{CHANGELIST}{credential.pk}/history/",
    ):
        shown = operator_client.get(url).content.decode()
        assert secret not in shown and token not in shown


def test_the_admin_action_needs_change_permission_on_credentials(client):
    ensure_marketers_group()
    marketer = User.objects.create_user("mia", "mia@example.com", "pw-marketer-1", is_staff=True)
    marketer.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    viewer = User.objects.create_user("vic", "vic@example.com", "pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apicredential"))
    issued = issue_credential("shop")
    credential = ApiCredential.objects.get()
    post = {"action": "rotate_secrets", ACTION_CHECKBOX_NAME: [credential.pk], "_confirm": "rotate"}

    client.force_login(marketer)
    as_marketer = client.post(CHANGELIST, post)
    client.force_login(viewer)
    as_viewer = client.post(CHANGELIST, post)

    assert as_marketer.status_code == 403
    assert as_viewer.status_code in (200, 302)
    assert "rotated-secret" not in as_viewer.content.decode()
    assert by_token(issued.token) == 200
    assert by_wsse("shop", issued.secret) == 200
