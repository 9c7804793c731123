"""The message log finds messages by part of an address and by a value in the trigger data,
bounded to the newest rows; exact values still find any message."""

import pytest

from delivery.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def messages(make_stream):
    stream = make_stream()

    def message(n, recipient, data):
        return Message.objects.create(
            stream=stream,
            version=stream.current_version,
            recipient=recipient,
            data=data,
            status=Message.Status.SENT,
            message_id=f"<search-{n}@example.com>",
        )

    return {
        "old": message(1, "old.customer@shop.example", {"order_id": "10001"}),
        "jane": message(2, "jane.doe@example.org", {"order_id": "10042", "total": "88.80"}),
        "joe": message(3, "joe@example.net", {"order_id": 10043, "customer": {"id": 7}}),
        "items": message(4, "ann@example.org", {"items": [{"sku": "A-1"}, {"sku": "ZZ-9"}]}),
    }


def found(admin_client, term):
    response = admin_client.get("/admin/delivery/message/", {"q": term})
    assert response.status_code == 200
    return set(response.context["cl"].result_list.values_list("recipient", flat=True))


def test_part_of_an_address_finds_its_messages(admin_client, messages):
    assert found(admin_client, "jane") == {"jane.doe@example.org"}
    assert found(admin_client, "EXAMPLE.ORG") == {"jane.doe@example.org", "ann@example.org"}
    assert found(admin_client, "nobody") == set()


def test_a_value_in_the_trigger_data_finds_its_messages(admin_client, messages):
    assert found(admin_client, "10042") == {"jane.doe@example.org"}
    assert found(admin_client, "ZZ-9") == {"ann@example.org"}


def test_key_equals_value_matches_that_key_as_text_or_number(admin_client, messages):
    assert found(admin_client, "order_id=10042") == {"jane.doe@example.org"}
    assert found(admin_client, "order_id=10043") == {"joe@example.net"}  # a JSON number
    assert found(admin_client, "customer.id: 7") == {"joe@example.net"}
    assert found(admin_client, "items.1.sku=ZZ-9") == {"ann@example.org"}
    assert found(admin_client, "total=10042") == set()


def test_partial_searches_read_only_the_newest_rows(admin_client, messages, settings):
    settings.MESSAGE_LOG_PARTIAL_SEARCH_ROWS = 3
    # The oldest of the four is outside the window for partial matches…
    assert found(admin_client, "old.customer") == set()
    assert found(admin_client, "10001") == set()
    assert found(admin_client, "jane") == {"jane.doe@example.org"}
    # …but an exact address finds it wherever it is; the page says how far partial goes.
    assert found(admin_client, "Old.Customer@shop.example") == {"old.customer@shop.example"}
    page = admin_client.get("/admin/delivery/message/").content.decode()
    assert "newest 3 messages" in page


@pytest.mark.parametrize(
    "term",
    ["%", "_", "\\", "a\x00b", "order_id=", "=x", "x" * 3000, "exact=1", "data__contains=1"],
)
def test_hostile_search_terms_answer_without_error(admin_client, messages, term):
    found(admin_client, term)
    assert found(admin_client, "%") == set()  # LIKE wildcards are literal
