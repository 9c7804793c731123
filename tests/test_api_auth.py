"""Authentication of the trigger API: X-WSSE as Emarsys clients send it, and tokens."""

from datetime import UTC, datetime, timedelta

import pytest

from events.credentials import wsse_digest, wsse_header

pytestmark = pytest.mark.django_db

API_URLS = [
    ("get", "/api/v2/event"),
    ("post", "/api/v2/event"),
    ("get", "/api/v2/event/1"),
    ("post", "/api/v2/event/1"),
    ("post", "/api/v2/event/1/trigger"),
    ("post", "/api/v2/event/1/delete"),
    ("get", "/api/v2/event/1/usages"),
    ("put", "/api/v2/contact"),
    ("get", "/api/v2/unknown"),
]


def events(api, **headers):
    return api.client.get("/api/v2/event", **headers)


def test_wsse_with_good_digest_is_accepted(anonymous_api, credential):
    header = wsse_header(credential.username, credential.secret)

    response = events(anonymous_api, HTTP_X_WSSE=header)

    assert response.status_code == 200
    assert response.json()["replyCode"] == 0


def test_wsse_digest_is_base64_of_sha1_hex():
    # The Emarsys formula, checked against a value computed independently:
    # base64(sha1_hex("abc" + "2026-01-01T00:00:00Z" + "s3cret")).
    import base64
    import hashlib

    expected = base64.b64encode(
        hashlib.sha1(b"abc2026-01-01T00:00:00Zs3cret").hexdigest().encode()  # noqa: S324
    ).decode()
    assert wsse_digest("abc", "2026-01-01T00:00:00Z", "s3cret") == expected


def test_wsse_with_wrong_digest_is_refused(anonymous_api, credential):
    header = wsse_header(credential.username, "not-the-secret")

    response = events(anonymous_api, HTTP_X_WSSE=header)

    assert response.status_code == 401
    assert response.json()["replyCode"] == 1
    assert "digest" in response.json()["replyText"]


def test_wsse_with_unknown_user_is_refused(anonymous_api, credential):
    response = events(anonymous_api, HTTP_X_WSSE=wsse_header("nobody", credential.secret))

    assert response.status_code == 401


def test_wsse_with_stale_created_is_refused(anonymous_api, credential):
    created = (datetime.now(UTC) - timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = wsse_header(credential.username, credential.secret, created=created)

    response = events(anonymous_api, HTTP_X_WSSE=header)

    assert response.status_code == 401
    assert "minutes" in response.json()["replyText"]


def test_wsse_created_within_window_with_offset_is_accepted(anonymous_api, credential):
    created = (datetime.now(UTC) + timedelta(hours=1, minutes=-4)).strftime(
        "%Y-%m-%dT%H:%M:%S+01:00"
    )
    header = wsse_header(credential.username, credential.secret, created=created)

    assert events(anonymous_api, HTTP_X_WSSE=header).status_code == 200


def test_wsse_replayed_nonce_is_refused(anonymous_api, credential):
    header = wsse_header(credential.username, credential.secret, nonce="once-only")

    first = events(anonymous_api, HTTP_X_WSSE=header)
    replay = events(anonymous_api, HTTP_X_WSSE=header)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert "nonce" in replay.json()["replyText"].lower()


def test_wsse_header_missing_fields_says_which(anonymous_api, credential):
    response = events(anonymous_api, HTTP_X_WSSE='UsernameToken Username="shop-backend"')

    assert response.status_code == 401
    assert "PasswordDigest, Nonce, Created" in response.json()["replyText"]


def test_token_is_accepted(api):
    assert api.get("/api/v2/event").status_code == 200


def test_wrong_token_is_refused(anonymous_api, credential):
    response = events(anonymous_api, HTTP_AUTHORIZATION="Token wrong")

    assert response.status_code == 401
    assert response.json()["replyCode"] == 1


def test_inactive_credential_is_refused(anonymous_api, credential):
    from events.models import ApiCredential

    ApiCredential.objects.update(is_active=False)

    response = events(anonymous_api, HTTP_AUTHORIZATION=f"Token {credential.token}")

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "url"), API_URLS)
def test_every_api_url_refuses_anonymous_calls(anonymous_api, method, url):
    response = anonymous_api.call(method, url, {})

    assert response.status_code == 401
    assert response.json()["replyCode"] == 1
    assert "X-WSSE" in response.json()["replyText"]
    assert response["WWW-Authenticate"].startswith("WSSE")
