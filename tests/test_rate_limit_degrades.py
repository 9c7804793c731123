"""The trigger API keeps answering when the rate limiter's cache (Redis) is down."""

import pytest
from django.core.cache.backends.redis import RedisCache

from events.api import throttling
from events.api.throttling import CredentialRateThrottle
from tests.conftest import free_port


@pytest.fixture
def unreachable_cache(monkeypatch):
    """The shared cache is Redis on a port where nothing listens (Redis restarting)."""
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    monkeypatch.setattr(CredentialRateThrottle, "cache", cache)
    forget_local_counts()
    yield cache
    forget_local_counts()


def forget_local_counts() -> None:
    local = getattr(throttling, "_local", None)  # the per-process counts of the fallback
    if local is not None:
        local.clear()


def test_trigger_is_accepted_while_the_rate_limiters_cache_is_down(
    unreachable_cache, api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org"},
    )

    assert response.status_code == 200, response.content
    assert response.json()["replyCode"] == 0


def test_the_limit_still_holds_per_process_while_the_cache_is_down(
    unreachable_cache, settings, api, make_stream, make_contact
):
    settings.API_RATE_LIMIT = "2/min"
    stream = make_stream()
    make_contact("jane@example.org")
    body = {"key_id": "3", "external_id": "jane@example.org"}

    codes = [
        api.post(f"/api/v2/event/{stream.event_id}/trigger", body).status_code for _ in range(3)
    ]

    assert codes == [200, 200, 429]
    assert api.post(f"/api/v2/event/{stream.event_id}/trigger", body).json()["replyCode"] == 7003
