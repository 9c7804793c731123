"""The Marketers group has exactly the permissions the workflow needs, and no API secrets."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from streams.marketers import MARKETER_PERMISSIONS, MARKETERS_GROUP, ensure_marketers_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer_client(client):
    user = User.objects.create_user("mia", "mia@example.com", "pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(user)
    return client


def test_group_has_exactly_the_marketer_permissions():
    group = Group.objects.get(name=MARKETERS_GROUP)
    # Anything added by hand is taken away again on the next migrate.
    group.permissions.add(*Permission.objects.filter(codename="view_apicredential"))

    ensure_marketers_group()

    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == set(MARKETER_PERMISSIONS)


def test_marketer_can_do_the_daily_work(marketer_client, make_stream):
    stream = make_stream()

    for url in (
        "/admin/streams/emailcampaign/",
        "/admin/streams/emailcampaign/add/",
        "/admin/streams/mailstream/",
        f"/admin/streams/mailstream/{stream.pk}/change/",
        f"/admin/streams/mailstream/{stream.pk}/send-test/",
        "/admin/streams/streamversion/",
        "/admin/events/contact/",
        "/admin/events/contact/import/",
        "/admin/events/externalevent/",
        f"/admin/events/externalevent/{stream.event_id}/trigger-test/",
        "/admin/delivery/message/",
    ):
        assert marketer_client.get(url).status_code == 200, url
    page = marketer_client.get("/admin/delivery/message/").content.decode()
    assert "resend_failed_messages" in page and "release_held_messages" in page


def test_marketer_cannot_see_api_credentials_or_users(marketer_client):
    index = marketer_client.get("/admin/").content.decode()

    assert "API credential" not in index
    assert marketer_client.get("/admin/events/apicredential/").status_code == 403
    assert marketer_client.get("/admin/auth/user/").status_code == 403
    assert marketer_client.get("/admin/django_q/schedule/").status_code == 403
