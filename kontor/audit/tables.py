"""The audit log table: the page and its CSV download."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables

from kontor.audit.models import AuditEntry
from kontor.web.export import json_cell


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
    # Only in the CSV download.
    object_id = tables.Column(visible=False)
    before = tables.Column(visible=False, empty_values=())
    after = tables.Column(visible=False, empty_values=())
    request_id = tables.Column(visible=False)

    export_names = {"created_at": "time", "actor_label": "actor", "object_repr": "object", "ip": "address"}

    class Meta:
        model = AuditEntry
        fields = ("created_at", "actor_label", "action", "object_type", "object_repr", "source", "ip")
        sequence = (
            "created_at",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "source",
            "ip",
            "request_id",
        )
        order_by = ("-created_at",)
        empty_text = "No audit entries match."
        attrs = {"id": "audit"}

    def value_before(self, value: Any) -> str:
        return json_cell(value)

    def value_after(self, value: Any) -> str:
        return json_cell(value)
