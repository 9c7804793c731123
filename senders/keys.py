"""Creating sender domains with their keys, and rotating keys through a pending selector."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from senders import key_storage
from senders.models import DkimKey, DnsRecordCheck, SenderDomain


def _new_selector(domain: SenderDomain, algorithm: str) -> str:
    # Dated, so an operator reading DNS sees which key is newer; random, so two rotations in a
    # month never collide with a record that is still cached somewhere.
    kind = "e" if algorithm == DkimKey.Algorithm.ED25519 else "r"
    return f"te{timezone.now():%Y%m}{kind}{secrets.token_hex(2)}"


def _make_key(domain: SenderDomain, algorithm: str, state: str) -> DkimKey:
    new = key_storage.generate(algorithm)
    now = timezone.now()
    return DkimKey.objects.create(
        domain=domain,
        selector=_new_selector(domain, algorithm),
        algorithm=algorithm,
        state=state,
        public_key=new.public_key,
        sealed_private_key=key_storage.seal(new.private_pem),
        activated_at=now if state == DkimKey.State.ACTIVE else None,
    )


def add_domain(name: str, *, return_path_domain: str = "") -> SenderDomain:
    """A new sender domain with a signing key per configured algorithm (unverified)."""
    domain = SenderDomain(name=name, return_path_domain=return_path_domain)
    domain.full_clean()
    with transaction.atomic():
        domain.save()
        ensure_keys(domain)
    return domain


def ensure_keys(domain: SenderDomain) -> list[DkimKey]:
    """Give the domain an active key for each configured algorithm it lacks; returns new keys.

    The first key of a domain is active at once: the domain cannot send before its records
    (this key's among them) are verified anyway.
    """
    have = set(
        domain.dkim_keys.filter(state=DkimKey.State.ACTIVE).values_list("algorithm", flat=True)
    )
    return [
        _make_key(domain, algorithm, DkimKey.State.ACTIVE)
        for algorithm in settings.TRIGGERED_EMAIL_DKIM_ALGORITHMS
        if algorithm not in have
    ]


def start_rotation(domain: SenderDomain, algorithm: str = key_storage.RSA) -> DkimKey:
    """A pending key under a new selector; the active key keeps signing meanwhile."""
    with transaction.atomic():
        pending = domain.dkim_keys.filter(algorithm=algorithm, state=DkimKey.State.PENDING)
        existing = pending.first()
        if existing is not None:
            return existing
        return _make_key(domain, algorithm, DkimKey.State.PENDING)


def activate_pending(domain: SenderDomain, algorithm: str = key_storage.RSA) -> DkimKey:
    """Make the pending key sign, retiring the active one, once the last check found its record.

    Keep the retired key's record published for a few days: mail signed with it may still be
    in transit or be verified again (forwarding).
    """
    with transaction.atomic():
        keys = list(
            SenderDomain.objects.select_for_update()
            .get(pk=domain.pk)
            .dkim_keys.filter(algorithm=algorithm)
            .exclude(state=DkimKey.State.RETIRED)
        )
        pending = next((key for key in keys if key.state == DkimKey.State.PENDING), None)
        if pending is None:
            raise ValidationError(f"{domain.name} has no pending {algorithm} key to activate.")
        published = DnsRecordCheck.objects.filter(
            domain=domain,
            kind=DnsRecordCheck.Kind.DKIM_PENDING,
            name=pending.record_name,
            status=DnsRecordCheck.Status.OK,
        ).exists()
        if not published:
            raise ValidationError(
                f"The record {pending.record_name} was not found by the last check: publish "
                "it, run 'Check DNS records now', then activate the key."
            )
        now = timezone.now()
        DkimKey.objects.filter(pk__in=[k.pk for k in keys if k.state == "active"]).update(
            state=DkimKey.State.RETIRED, retired_at=now
        )
        DkimKey.objects.filter(pk=pending.pk).update(state=DkimKey.State.ACTIVE, activated_at=now)
    pending.refresh_from_db()
    return pending
