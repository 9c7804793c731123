"""No input makes the API answer 500 or leave half a trigger behind: generated hostile bodies."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.models import Message
from events.models import Trigger

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
contact_entry = st.fixed_dictionaries(
    {},
    optional={
        "external_id": json_values | st.just("jane@example.org"),
        "trigger_id": json_values,
        "data": json_values,
        "event_time": json_values | st.just("2026-11-27T10:00:00Z"),
        "attachment": json_values
        | st.lists(st.fixed_dictionaries({"filename": json_values, "data": json_values})),
    },
)
trigger_body = st.one_of(
    json_values,
    contact_entry.map(lambda entry: {"key_id": "3", **entry}),
    st.fixed_dictionaries(
        {"key_id": json_values | st.sampled_from(["3", "email", "id", "external_id"])},
        optional={"contacts": json_values | st.lists(contact_entry | json_values, max_size=5)},
    ),
)
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(body=trigger_body)
def test_trigger_never_answers_500(api, make_stream, make_contact, body):
    with transaction.atomic():
        stream = make_stream()
        make_contact("jane@example.org")
        triggers_before = Trigger.objects.count()

        response = api.post(f"/api/v2/event/{stream.event_id}/trigger", body)

        assert response.status_code < 500
        reply = response.json()
        assert isinstance(reply["replyCode"], int) and reply["replyText"]
        if response.status_code >= 400:
            # A refused call leaves nothing behind.
            assert Trigger.objects.count() == triggers_before
        transaction.set_rollback(True)


@HYPOTHESIS
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"key_id": st.sampled_from(["3", "email", "id", "external_id"]) | json_values},
            optional={"contacts": json_values | st.lists(json_values, max_size=4)},
        ),
    )
)
def test_contact_upsert_never_answers_500(api, body):
    response = api.put("/api/v2/contact", body)

    assert response.status_code < 500
    assert isinstance(response.json()["replyCode"], int)


@HYPOTHESIS
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_answer_500(api, make_stream, raw):
    with transaction.atomic():
        stream = make_stream()
        response = api.post(f"/api/v2/event/{stream.event_id}/trigger", raw=raw)

        assert response.status_code < 500
        assert Message.objects.count() == 0
        transaction.set_rollback(True)
