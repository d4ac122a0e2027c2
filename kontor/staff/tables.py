"""Tables of the staff lists."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kontor.audit.models import AuditEntry
from kontor.tenancy.models import CostCenter, Customer, Feature
from kontor.web.export import json_cell
from kontor.web.lists import subscriber_id_html


class CustomerTable(tables.Table):
    subscriber_id = tables.Column("Subscriber ID", accessor="pk", order_by=("id",))
    name = tables.Column("Company", linkify=("staff:customer", [tables.A("pk")]))
    master_email = tables.Column("Master user", default="—")
    status = tables.Column("Status")
    country = tables.Column("Country")
    created_at = tables.DateTimeColumn(verbose_name="Created", format="Y-m-d")
    # Only in the CSV download.
    billing_id = tables.Column(visible=False)
    time_zone = tables.Column(visible=False)
    credit_mode = tables.Column(visible=False)

    export_names = {"name": "company", "master_email": "master_user_email"}

    class Meta:
        model = Customer
        fields = ("subscriber_id", "name", "master_email", "status", "country", "created_at")
        sequence = (
            "subscriber_id",
            "name",
            "master_email",
            "status",
            "country",
            "billing_id",
            "time_zone",
            "credit_mode",
            "created_at",
        )
        order_by = ("name",)

    def render_subscriber_id(self, value: int) -> str:
        return subscriber_id_html(value)

    def value_subscriber_id(self, record: Customer) -> str:
        return record.subscriber_id

    def render_status(self, record: Customer) -> str:
        css = {"active": "ok", "suspended": "warn"}.get(record.status, "off")
        return format_html('<span class="badge {}">{}</span>', css, record.get_status_display())


class CostCenterTable(tables.Table):
    code = tables.Column("Code", linkify=("staff:cost_center_edit", [tables.A("pk")]))
    name = tables.Column("Name")
    customer = tables.Column("Only for customer", default="Any customer")

    class Meta:
        model = CostCenter
        fields = ("code", "name", "customer")


class FeatureTable(tables.Table):
    code = tables.Column("Code", linkify=("staff:feature_edit", [tables.A("pk")]))
    name = tables.Column("Name")
    description = tables.Column("Description", default="")
    customers = tables.Column("Customers", accessor="customer_count", orderable=True)

    class Meta:
        model = Feature
        fields = ("code", "name", "description", "customers")


class StaffUserTable(tables.Table):
    email = tables.Column("Email")
    name = tables.Column("Name", accessor="full_name", order_by=("last_name", "first_name"))
    staff_role = tables.Column("Staff role")
    is_active = tables.Column("Status")
    last_login = tables.DateTimeColumn(verbose_name="Last login", format="Y-m-d H:i", default="never")
    toggle = tables.Column("", empty_values=(), orderable=False)

    def render_staff_role(self, record: Any) -> str:
        return str(record.get_staff_role_display() or "—")

    def render_is_active(self, value: bool) -> str:
        return format_html(
            '<span class="badge {}">{}</span>', "ok" if value else "off", "active" if value else "disabled"
        )

    def render_toggle(self, record: Any) -> str:
        url = reverse("staff:staff_user_active", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, "Disable" if record.is_active else "Enable")


class AuditTable(tables.Table):
    created_at = tables.DateTimeColumn(
        verbose_name="Time", format="Y-m-d H:i:s", linkify=("staff:audit_entry", [tables.A("pk")])
    )
    customer_id = tables.Column("Customer", default="provider")
    actor_label = tables.Column("Actor")
    action = tables.Column("Action")
    object_type = tables.Column("Object type")
    object_repr = tables.Column("Object", default="")
    source = tables.Column("Source")
    ip = tables.Column("Address", default="")
    # Only in the CSV download.
    object_id = tables.Column(visible=False)
    before = tables.Column(visible=False, empty_values=())
    after = tables.Column(visible=False, empty_values=())
    request_id = tables.Column(visible=False)

    export_names = {
        "created_at": "time",
        "customer_id": "subscriber_id",
        "actor_label": "actor",
        "object_repr": "object",
    }

    class Meta:
        model = AuditEntry
        fields = ("created_at", "customer_id", "actor_label", "action", "object_type", "object_repr", "source", "ip")
        sequence = (
            "created_at",
            "customer_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "source",
            "request_id",
            "ip",
        )
        order_by = ("-created_at",)

    def render_customer_id(self, value: int) -> str:
        url = reverse("staff:customer", args=[value])
        return format_html('<a href="{}"><code>{}</code></a>', url, f"S{value:06d}")

    def value_customer_id(self, value: int) -> str:
        return f"S{value:06d}"

    def value_before(self, value: Any) -> str:
        return json_cell(value)

    def value_after(self, value: Any) -> str:
        return json_cell(value)
