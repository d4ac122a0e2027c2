"""Base models. Every tenant row carries `customer_id` (and `account_id` when it lives in an account),
so that scoping, row-level security and sharding by customer are possible."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from kontor.core.scope import Scope


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ScopedQuerySet(models.QuerySet):
    def in_scope(self, scope: Scope) -> ScopedQuerySet:
        return self.filter(self.model.scope_q(scope))  # type: ignore[attr-defined]


ScopedManager = models.Manager.from_queryset(ScopedQuerySet)


class TenantModel(TimeStamped):
    """Owned by one customer and visible in all of its accounts (users, offices, roles...)."""

    customer = models.ForeignKey("tenancy.Customer", on_delete=models.CASCADE, related_name="+")

    objects: ClassVar[Any] = ScopedManager()

    class Meta:
        abstract = True

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)


class AccountModel(TenantModel):
    """Lives inside one account: never visible from another account, even of the same customer."""

    account = models.ForeignKey("tenancy.Account", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        if scope.account is None:
            return Q(pk__in=[])
        return Q(customer_id=scope.customer.pk, account_id=scope.account.pk)


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one customer: the request it came with and the answer it got, so a
    retry gets the first answer again instead of doing the work twice. Kept at least 24 hours.

    Work that only touches this database writes the record DONE in the transaction of its effect, so no
    other session ever sees it IN_FLIGHT; only a card purchase commits an IN_FLIGHT record before the
    charge (kontor.core.idempotency)."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    customer_id = models.BigIntegerField()
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.key} {self.state}"
