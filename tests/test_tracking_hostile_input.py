"""Junk under /t/ (the open pixel and click redirects) gets a 404, never a 5xx or a redirect
anywhere: garbage, wrong signatures, huge and Unicode tokens, and signed ids out of range."""

import pytest

from delivery.models import DeliveryEvent
from delivery.tracking_links import click_token, open_token

pytestmark = pytest.mark.django_db

JUNK = [
    "x",
    ".",
    "..",
    "1.",
    "1.abc",
    "\u0661.abc",
    "\u00b2.\u00b2.\u00b2",
    "%00",
    "a" * 10_000,
    "1." + "A" * 5000 + ".sig",
    "-1.x.y",
    "1_0.x",
]


@pytest.mark.parametrize("token", JUNK)
def test_junk_open_tokens_get_404(client, token):
    response = client.get(f"/t/o/{token}.gif")

    assert response.status_code == 404
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("token", JUNK)
def test_junk_click_tokens_get_404_and_redirect_nowhere(client, token):
    response = client.get(f"/t/c/{token}")

    assert response.status_code == 404
    assert "Location" not in response
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("message_id", [2**63, 10**40, 0])
def test_signed_tokens_for_ids_no_database_holds_get_404(client, message_id):
    # Only we can sign these; a 500 on SQLite (OverflowError) before the id was range-checked.
    assert client.get(f"/t/o/{open_token(message_id)}.gif").status_code == 404
    response = client.get(f"/t/c/{click_token(message_id, 'https://example.org/')}")
    assert response.status_code == 404 and "Location" not in response


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_methods_other_than_get_and_head_are_refused(client, method):
    response = getattr(client, method)(f"/t/o/{open_token(1)}.gif")

    assert response.status_code == 405
