"""Tables of the number lists; the inventory's also declares its CSV download."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from kontor.numbers.models import KeywordOrder, Number
from kontor.tenancy.models import Customer
from kontor.web.lists import subscriber_id_html


class NumberTable(tables.Table):
    value = tables.Column("Number", linkify=("numbers:number_edit", [tables.A("pk")]))
    kind = tables.Column("Kind")
    country = tables.Column("Country")
    operator = tables.Column("Operator", default="—")
    two_way = tables.BooleanColumn("Two-way")
    status = tables.Column("Status")
    customer = tables.Column("Customer", default="—", order_by=("customer__name",))
    account_count = tables.Column("Accounts using it")
    # Only in the CSV download.
    subscriber_id = tables.Column(accessor="customer__subscriber_id", visible=False)
    assigned_at = tables.Column(visible=False)

    export_names = {"account_count": "accounts_using_it"}

    class Meta:
        model = Number
        fields = ("value", "kind", "country", "operator", "two_way", "status", "customer", "account_count")
        sequence = (
            "value",
            "kind",
            "country",
            "operator",
            "two_way",
            "status",
            "subscriber_id",
            "customer",
            "account_count",
            "assigned_at",
        )
        order_by = ("value",)

    def render_customer(self, record: Number) -> SafeString:
        assert record.customer is not None
        return format_html("{} {}", record.customer.name, subscriber_id_html(record.customer.pk))

    def value_customer(self, value: Customer) -> str:
        return value.name

    def render_status(self, record: Number) -> SafeString:
        css = {"assigned": "ok", "suspended": "warn"}.get(record.status, "off")
        return format_html('<span class="badge {}">{}</span>', css, record.get_status_display())


class StaffKeywordOrderTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Ordered", format="Y-m-d H:i")
    customer = tables.Column("Customer", order_by=("customer__name",))
    account = tables.Column("Account", order_by=("account__name",))
    number = tables.Column("Short code", order_by=("number__value",))
    word = tables.Column("Keyword")
    status = tables.Column("Status")
    actions = tables.Column("", empty_values=(), orderable=False)

    class Meta:
        model = KeywordOrder
        fields = ("created_at", "customer", "account", "number", "word", "status", "actions")

    def render_actions(self, record: KeywordOrder) -> SafeString | str:
        if record.status != KeywordOrder.Status.PENDING:
            return record.reason
        return format_html(
            '<a href="{}">Approve</a> · <a href="{}">Reject</a>',
            reverse("numbers:order_approve", args=[record.pk]),
            reverse("numbers:order_reject", args=[record.pk]),
        )


class KeywordOrderTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Ordered", format="Y-m-d H:i")
    number = tables.Column("Short code", order_by=("number__value",))
    word = tables.Column("Keyword")
    status = tables.Column("Status")
    reason = tables.Column("Reason", default="")

    class Meta:
        model = KeywordOrder
        fields = ("created_at", "number", "word", "status", "reason")
