"""/api/v2/… answers the same with a trailing slash and with repeated slashes, never redirecting.

Emarsys SDKs call `api/v2/contact/`; nginx merges `//` by default. A redirect would lose a POST
(clients re-send it as a GET), so the path is rewritten before the URL is resolved.
"""

import pytest

from delivery.models import Message
from events.models import Contact

pytestmark = pytest.mark.django_db

SPELLINGS = ["/api/v2/{}", "/api/v2/{}/", "/api//v2/{}", "//api/v2//{}//", "/api/v2/{}///"]


def as_sent(spelling: str, route: str) -> dict[str, str]:
    # The test client would read a leading "//" as a host name (urlparse); a server hands the
    # request line's path to the app as PATH_INFO unchanged, so it is given as such.
    return {"PATH_INFO": spelling.format(route)}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("route", ["event", "field", "settings"])
def test_get_calls_answer_the_same_for_every_spelling(api, make_event, route, spelling):
    make_event("order_placed")
    expected = api.get(f"/api/v2/{route}").json()

    response = api.get(spelling.format(route), **as_sent(spelling, route))

    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize("spelling", SPELLINGS[1:])
def test_a_post_with_a_trailing_slash_is_not_lost_to_a_redirect(api, spelling):
    response = api.post(
        "/api/v2/contact", {"key_id": 3, "3": "jane@example.org"}, **as_sent(spelling, "contact")
    )

    assert response.status_code == 200, response.content[:300]
    assert response.json()["replyCode"] == 0
    assert list(Contact.objects.values_list("email", flat=True)) == ["jane@example.org"]


def test_trigger_with_a_trailing_slash_sends(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger/", {"external_id": "jane@example.org"}
    )

    assert response.status_code == 200, response.json()
    assert Message.objects.get().recipient == "jane@example.org"


def test_a_retry_by_another_spelling_is_the_same_idempotent_request(api):
    body = {"key_id": "3", "3": "jane@example.org"}

    first = api.post("/api/v2/contact", body, HTTP_IDEMPOTENCY_KEY="k-1")
    retry = api.post("/api/v2/contact/", body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Contact.objects.count() == 1


def test_unknown_urls_with_slashes_still_answer_the_404_envelope(api):
    for url in ("/api/v2/nothing/", "/api//v2//nothing", "/api/v2/event/1/nothing/"):
        response = api.get(url)

        assert response.status_code == 404, url
        assert response.json()["replyCode"] == 1003


def test_schema_and_docs_keep_their_own_urls(db, client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
