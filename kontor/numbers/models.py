"""The provider's number inventory (short codes, long codes, DNIS), their assignment to customers, the
MO number each account uses, keywords on shared numbers, the Manage Unmatched owner and keyword orders."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from kontor.core.models import AccountModel, ScopedManager, TenantModel, TimeStamped
from kontor.core.scope import Scope

KEYWORD_MAX = 20


class Number(TimeStamped):
    """A number of the provider. Not tenant-owned: it belongs to a customer only while assigned."""

    class Kind(models.TextChoices):
        SHORT_CODE = "short_code", "Short code"
        LONG_CODE = "long_code", "Long code"
        DNIS = "dnis", "DNIS"

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        ASSIGNED = "assigned", "Assigned"
        SUSPENDED = "suspended", "Suspended"

    value = models.CharField(max_length=20, unique=True, help_text="E.164 (+4670…) or short code digits")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    operator = models.CharField(max_length=80, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166 alpha-2")
    two_way = models.BooleanField("activated for two-way", default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    customer = models.ForeignKey(
        "tenancy.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="numbers"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[Any] = ScopedManager()

    class Meta:
        ordering = ["value"]
        constraints = [
            # An assigned number has a customer and an available one has none; a suspended one keeps
            # its assignment, if any, so that lifting the suspension restores it.
            models.CheckConstraint(
                condition=Q(status="assigned", customer__isnull=False)
                | Q(status="available", customer__isnull=True)
                | Q(status="suspended"),
                name="number_assignment_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return self.value

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)

    @property
    def is_short_code(self) -> bool:
        return self.kind == self.Kind.SHORT_CODE


class AccountNumber(AccountModel):
    """The MO number an account sends from and receives on (one per account; accounts share numbers)."""

    number = models.ForeignKey(Number, on_delete=models.PROTECT, related_name="account_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account"], name="account_number_one_per_account")]

    def __str__(self) -> str:
        return f"{self.account_id} → {self.number_id}"


class Keyword(AccountModel):
    """A word claimed by one account on a number: inbound messages whose first word is it go there."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"

    number = models.ForeignKey(Number, on_delete=models.CASCADE, related_name="keywords")
    word = models.CharField(max_length=KEYWORD_MAX)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["word"]
        constraints = [models.UniqueConstraint(Upper("word"), "number", name="keyword_unique_per_number")]

    def __str__(self) -> str:
        return self.word


class UnmatchedOwner(TenantModel):
    """Manage Unmatched: the one account of a shared number that receives messages matching no keyword."""

    number = models.OneToOneField(Number, on_delete=models.CASCADE, related_name="unmatched_owner")
    account = models.ForeignKey("tenancy.Account", on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.number_id} → {self.account_id}"


class KeywordOrder(AccountModel):
    """A customer's order for a keyword on a shared short code, decided by provider staff."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    number = models.ForeignKey(Number, on_delete=models.CASCADE, related_name="keyword_orders")
    word = models.CharField(max_length=KEYWORD_MAX)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    ordered_by = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey("access.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.word} on {self.number_id} ({self.status})"
