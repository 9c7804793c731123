"""Mail streams → Add works for superusers and marketers: the page, its preview, and a POST that
creates the stream with its draft."""

import pytest
from django.contrib.auth.models import Group, User

from streams.marketers import MARKETERS_GROUP
from streams.models import MailStream
from streams.publishing import draft_of

pytestmark = pytest.mark.django_db

ADD = "/admin/streams/mailstream/add/"


@pytest.fixture(params=["superuser", "marketer"])
def staff_client(request, client):
    if request.param == "superuser":
        user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    else:
        user = User.objects.create_user(
            "mia", "mia@example.com", "pw-for-tests-only", is_staff=True
        )
        user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(user)
    return client


def form_data(event, **overrides):
    data = {
        "subject": "Order {{ event.order_id }}",
        "html_source": "<html><body><p>Hi {{ contact.first_name }}, order "
        "{{ event.order_id }}.</p></body></html>",
        "text": "Hi {{ contact.first_name }}, order {{ event.order_id }}.",
        "sample_data": '{"order_id": "A-1"}',
        "sample_contact": '{"first_name": "Jane"}',
        "name": "Order confirmation",
        "event": str(event.pk),
        "kind": "contact",
        "lane": "transactional",
        "sender_name": "Example Shop",
        "sender_email": "orders@example.com",
        "reply_to": "",
        "pause_policy": "hold",
        "track_opens": "",
        "track_clicks": "",
        # The inlines' management forms, as the browser posts them.
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "attachments-MIN_NUM_FORMS": "0",
        "attachments-MAX_NUM_FORMS": "1000",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_add_page_shows_the_empty_editor_with_its_preview(staff_client):
    response = staff_client.get(ADD)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="te-preview"' in page
    assert 'name="sample_data"' in page
    assert response.context["preview"].ok


def test_posting_the_add_form_creates_a_draft_stream_with_its_draft_version(
    staff_client, make_event
):
    event = make_event()

    response = staff_client.post(ADD, form_data(event))

    assert response.status_code == 302, response.context["adminform"].form.errors
    stream = MailStream.objects.get(name="Order confirmation")
    assert stream.status == MailStream.Status.DRAFT
    assert stream.sample_data == {"order_id": "A-1"}
    draft = draft_of(stream)
    assert draft is not None
    assert draft.subject == "Order {{ event.order_id }}"
    assert draft.text == "Hi {{ contact.first_name }}, order {{ event.order_id }}."


def test_save_and_publish_on_the_add_page_publishes_version_one(staff_client, make_event):
    event = make_event()

    response = staff_client.post(ADD, form_data(event, _publish="Save and publish"))

    assert response.status_code == 302
    stream = MailStream.objects.get(name="Order confirmation")
    assert stream.current_version.number == 1
    assert draft_of(stream) is None


def test_add_page_with_an_error_shows_the_form_again(staff_client, make_event):
    event = make_event()

    response = staff_client.post(ADD, form_data(event, sample_data="[1, 2]", html_source=""))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not MailStream.objects.exists()
