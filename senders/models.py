"""Sender domains: where streams may send from, their DKIM keys and the state of their DNS."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from senders import key_storage
from senders.domain_names import DomainNameError, normalise_domain

_SELECTOR = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class SenderDomain(models.Model):
    """A domain streams send from. A stream's sender must be on a verified one.

    Verified means: its required DNS records (DKIM and SPF) were found as published by a check,
    or an operator vouched for it by name with a note (records managed outside this app, or a
    laptop demo without DNS). A domain that was verified stays usable when a later check fails
    (stopping password resets would do more harm); the failure is flagged in the admin and on
    the dashboard until it is fixed.
    """

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", "not verified"
        DNS = "dns", "verified by DNS check"
        OPERATOR = "operator", "vouched for by an operator"

    name = models.CharField(
        max_length=253,
        unique=True,
        help_text="The domain of the sender addresses, e.g. mail.example.com (stored as "
        "lower-case ASCII; internationalised names in their xn-- form).",
    )
    return_path_domain = models.CharField(
        max_length=253,
        blank=True,
        help_text="Where bounces go (the envelope sender's domain). Empty: bounces.<domain>.",
    )
    mta_dkim_selector = models.CharField(
        max_length=63,
        blank=True,
        help_text="Only when the MTA signs (TRIGGERED_EMAIL_DKIM_SIGNING=mta): the selector "
        "it signs with, so the check can look for its record.",
    )
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    operator_note = models.TextField(
        blank=True, help_text="Why an operator vouched for this domain without a DNS check."
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    # True when the last check found every required record; False flags the domain.
    records_ok = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="senderdomain_verified_has_time",
                condition=Q(verification="unverified") | Q(verified_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Every path (admin, commands, scripts) stores the one form that DNS and senders use.
        self.name = normalise_domain(self.name)
        if self.return_path_domain:
            self.return_path_domain = normalise_domain(self.return_path_domain)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors = {}
        try:
            self.name = normalise_domain(self.name)
        except DomainNameError as exc:
            errors["name"] = str(exc)
        if self.return_path_domain:
            try:
                self.return_path_domain = normalise_domain(self.return_path_domain)
            except DomainNameError as exc:
                errors["return_path_domain"] = str(exc)
        selector = (self.mta_dkim_selector or "").strip().lower()
        if selector and not _SELECTOR.fullmatch(selector):
            errors["mta_dkim_selector"] = (
                f"{self.mta_dkim_selector!r} is not a selector: one DNS label (letters, digits, "
                "inner hyphens)."
            )
        self.mta_dkim_selector = selector
        if errors:
            raise ValidationError(errors)

    @property
    def is_verified(self) -> bool:
        return self.verification != self.Verification.UNVERIFIED

    @property
    def bounce_domain(self) -> str:
        return self.return_path_domain or f"bounces.{self.name}"

    def vouch(self, note: str) -> None:
        """Mark the domain verified on an operator's word (recorded with the note)."""
        note = (note or "").strip()
        if not note:
            raise ValidationError("Say why the domain can send without a DNS check.")
        self.verification = self.Verification.OPERATOR
        self.verified_at = self.verified_at or timezone.now()
        self.operator_note = note
        self.save(update_fields=["verification", "verified_at", "operator_note"])

    def active_keys(self) -> list[DkimKey]:
        return [key for key in self.dkim_keys.all() if key.state == DkimKey.State.ACTIVE]


class DkimKey(models.Model):
    """One DKIM key pair of a domain. The private half never leaves the database unencrypted
    and is never shown; the admin shows the public half as the DNS record to publish.

    Rotation: a new key starts `pending` under a new selector; once its record is published
    and checked, activating it retires the active key of the same algorithm.
    """

    class Algorithm(models.TextChoices):
        RSA = key_storage.RSA, "RSA-2048 (rsa-sha256)"
        ED25519 = key_storage.ED25519, "Ed25519 (ed25519-sha256)"

    class State(models.TextChoices):
        PENDING = "pending", "pending (publish its record, then activate)"
        ACTIVE = "active", "active (signs)"
        RETIRED = "retired", "retired"

    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="dkim_keys")
    selector = models.CharField(max_length=63)
    algorithm = models.CharField(max_length=16, choices=Algorithm.choices, default=Algorithm.RSA)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    public_key = models.TextField(help_text="The p= value of the DNS record.")
    # Fernet token of the PEM (senders.key_storage); never rendered anywhere.
    sealed_private_key = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "selector"], name="dkimkey_unique_selector_per_domain"
            ),
            # One signing key per algorithm; one rotation in flight per algorithm.
            models.UniqueConstraint(
                fields=["domain", "algorithm"],
                condition=Q(state="active"),
                name="dkimkey_one_active_per_algorithm",
            ),
            models.UniqueConstraint(
                fields=["domain", "algorithm"],
                condition=Q(state="pending"),
                name="dkimkey_one_pending_per_algorithm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name} ({self.get_state_display()})"

    @property
    def key_type(self) -> str:
        """The k= tag of the record."""
        return "ed25519" if self.algorithm == self.Algorithm.ED25519 else "rsa"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"

    @property
    def record_value(self) -> str:
        return f"v=DKIM1; k={self.key_type}; p={self.public_key}"


class DnsRecordCheck(models.Model):
    """What the last check found for one record a domain should publish."""

    class Kind(models.TextChoices):
        DKIM = "dkim", "DKIM"
        DKIM_PENDING = "dkim_pending", "DKIM (pending key)"
        SPF = "spf", "SPF"
        DMARC = "dmarc", "DMARC"
        RETURN_PATH = "return_path", "Return path (bounces)"

    class Status(models.TextChoices):
        OK = "ok", "found as expected"
        MISSING = "missing", "missing"
        WRONG = "wrong", "found, but different"
        ERROR = "error", "could not be looked up"

    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="record_checks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=253, help_text="The DNS name looked up.")
    required = models.BooleanField(default=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    reason = models.TextField(blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "kind", "name"], name="dnsrecordcheck_one_per_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}: {self.get_status_display()}"
