"""The audit log table."""

from __future__ import annotations

import django_tables2 as tables

from kontor.audit.models import AuditEntry


class AuditTable(tables.Table):
    created_at = tables.DateTimeColumn(
        verbose_name="Time", format="Y-m-d H:i:s", linkify=("audit:detail", {"pk": tables.A("pk")})
    )
    actor_label = tables.Column(verbose_name="Actor")
    action = tables.Column()
    object_type = tables.Column(verbose_name="Object type")
    object_repr = tables.Column(verbose_name="Object")
    source = tables.Column()
    ip = tables.Column(verbose_name="Address", default="")

    class Meta:
        model = AuditEntry
        fields = ("created_at", "actor_label", "action", "object_type", "object_repr", "source", "ip")
        order_by = ("-created_at",)
        empty_text = "No audit entries match."
        attrs = {"id": "audit"}
