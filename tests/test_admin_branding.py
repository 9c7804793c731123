"""The admin is branded Triggered Email and leads to the dashboard; no "View site" 404."""

import pytest
from django.contrib.auth.models import Group, User

from streams.marketers import MARKETERS_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer_client(client):
    user = User.objects.create_user("mia", "mia@example.com", "pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["admin_client", "marketer_client"])
def test_admin_is_branded_and_links_the_dashboard(request, who):
    client = request.getfixturevalue(who)
    page = client.get("/admin/").content.decode()

    assert "<title>Streams, messages and contacts | Triggered Email</title>" in page
    assert '<a href="/admin/">Triggered Email</a>' in page
    assert "Django administration" not in page
    assert "View site" not in page
    assert 'id="te-dashboard-link"' in page and 'id="te-index-dashboard-link"' in page
    assert client.get("/dashboard/").status_code == 200


def test_other_admin_pages_link_the_dashboard_from_the_header(admin_client):
    page = admin_client.get("/admin/delivery/message/").content.decode()
    assert '<a href="/dashboard/" id="te-dashboard-link">Dashboard</a>' in page


def test_login_page_is_branded_without_dashboard_link(client):
    page = client.get("/admin/login/").content.decode()
    assert "Triggered Email" in page and "te-dashboard-link" not in page
