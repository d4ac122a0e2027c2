"""A double-entry ledger: wallets with running balances, journal transactions of balanced postings.

Amounts are integers in the wallet's unit (SMS credits, or a currency's minor unit). Postings are
append-only and positive; `direction` says whether the wallet gains (in) or loses (out). The database
itself refuses unbalanced journals, postings added to a sealed journal, UPDATE and DELETE of either,
non-positive amounts and negative customer balances (see triggers.py)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q

from kontor.core.models import ScopedQuerySet
from kontor.core.scope import Scope

SMS = "SMS"


class Wallet(models.Model):
    class Kind(models.TextChoices):
        # The source of purchased and sink of consumed credits; one per customer (and unit), so that
        # customers never queue behind each other on one hot row.
        PROVIDER = "provider", "Provider"
        SYSTEM = "system", "System (unallocated) credits"
        POOL = "pool", "Account pool"
        USER = "user", "User credits"
        HOLD = "hold", "Reserved for messages in flight"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    unit = models.CharField(max_length=8, default=SMS)
    customer = models.ForeignKey(
        "tenancy.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="wallets"
    )
    # An account holding postings is archived, never deleted (see the account-data probe), so a
    # cascade here only ever removes wallets that never moved anything.
    account = models.ForeignKey(
        "tenancy.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="wallets"
    )
    user = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.PROTECT, related_name="wallets")
    balance = models.BigIntegerField(default=0)
    low_balance_threshold = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[Any] = models.Manager.from_queryset(ScopedQuerySet)()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="provider") | Q(balance__gte=0), name="wallet_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="provider", account__isnull=True, user__isnull=True)
                    | Q(
                        kind__in=["system", "hold"],
                        customer__isnull=False,
                        account__isnull=True,
                        user__isnull=True,
                    )
                    | Q(kind="pool", customer__isnull=False, account__isnull=False, user__isnull=True)
                    | Q(kind="user", customer__isnull=False, account__isnull=True, user__isnull=False)
                ),
                name="wallet_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(kind="provider", customer__isnull=True),
                name="one_provider_wallet_per_unit",
            ),
            models.UniqueConstraint(
                fields=["unit", "customer"],
                condition=Q(kind="provider", customer__isnull=False),
                name="one_provider_wallet_per_customer",
            ),
            models.UniqueConstraint(
                fields=["kind", "unit", "customer"],
                condition=Q(kind__in=["system", "hold"]),
                name="one_system_or_hold_wallet_per_customer",
            ),
            models.UniqueConstraint(fields=["unit", "account"], condition=Q(kind="pool"), name="one_pool_per_account"),
            models.UniqueConstraint(fields=["unit", "user"], condition=Q(kind="user"), name="one_wallet_per_user"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.USER and self.user_id:
            return f"{self.user} ({self.unit})"
        if self.kind == self.Kind.POOL and self.account_id:
            return f"{self.account} pool ({self.unit})"
        return f"{self.get_kind_display()} ({self.unit})"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        q = Q(customer_id=scope.customer.pk)
        if scope.api_key is not None:
            # A key belongs to one account: of the account pools it reaches only that account's.
            q &= ~Q(kind="pool") | Q(account_id=scope.api_key.account_id)
        return q


class JournalTransaction(models.Model):
    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        ALLOCATION = "allocation", "Allocation"
        TRANSFER = "transfer", "Transfer"
        CONSUMPTION = "consumption", "Consumption"
        RESERVATION = "reservation", "Reservation"
        RELEASE = "release", "Release"
        REFUND = "refund", "Refund"
        CHARGE = "charge", "Charge"
        ADJUSTMENT = "adjustment", "Adjustment"

    # The id is chosen before the postings are written: postings come first, the header seals them.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer = models.ForeignKey("tenancy.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    on_behalf_of = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True, help_text="e.g. invoice or message id")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects: ClassVar[Any] = models.Manager.from_queryset(ScopedQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="journal_idempotency_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)


class Posting(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "In"
        OUT = "out", "Out"

    journal = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="postings")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="postings")
    customer = models.ForeignKey("tenancy.Customer", null=True, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    amount = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["wallet", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="posting_amount_positive"),
            models.CheckConstraint(condition=Q(direction__in=["in", "out"]), name="posting_direction_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.wallet_id}"

    @property
    def delta(self) -> int:
        return self.amount if self.direction == self.Direction.IN else -self.amount
