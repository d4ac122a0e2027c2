"""The append-only audit log: every change, by whom, from where, with before and after values."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q

from kontor.core.models import ScopedQuerySet
from kontor.core.scope import Scope


class AuditEntry(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Null for provider-level changes (cost centers, staff); set for anything a customer owns.
    customer = models.ForeignKey(
        "tenancy.Customer",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    account_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        "access.User",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=16)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    batch_id = models.CharField(max_length=64, blank=True)

    objects: ClassVar[Any] = models.Manager.from_queryset(ScopedQuerySet)()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
