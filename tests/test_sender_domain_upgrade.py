"""An installation that sent before sender domains existed keeps sending, and a stream paused
after the upgrade can be resumed: the upgrade vouches for the domains its streams send from."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from delivery.stream_control import pause_stream, resume_stream
from senders.models import SenderDomain
from streams.models import MailStream

BEFORE = [("senders", "0001_sender_domains_and_dkim_keys")]
AFTER = [("senders", "0002_sender_domains_of_existing_streams")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_upgrade_vouches_for_the_domains_existing_streams_send_from(make_stream):
    live = make_stream(name="Orders", sender_email="orders@Shop.Example.NET")
    make_stream(name="Returns", sender_email="returns@shop.example.net")
    make_stream(name="News", sender_email="news@bücher.example")
    SenderDomain.objects.all().delete()
    SenderDomain.objects.create(name="example.com")  # known and unverified: stays so
    migrate(BEFORE)

    migrate(AFTER)

    domains = {d.name: d for d in SenderDomain.objects.all()}
    assert set(domains) == {"shop.example.net", "xn--bcher-kva.example", "example.com"}
    upgraded = domains["shop.example.net"]
    assert upgraded.verification == SenderDomain.Verification.OPERATOR
    assert upgraded.verified_at is not None
    assert "upgrade" in upgraded.operator_note
    assert domains["example.com"].verification == SenderDomain.Verification.UNVERIFIED
    pause_stream(live)
    resume_stream(live)
    live.refresh_from_db()
    assert live.status == MailStream.Status.LIVE
