"""The invoice list."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kontor.billing.models import Invoice
from kontor.billing.pricing import format_money


class InvoiceTable(tables.Table):
    number = tables.Column("Number")
    issued_at = tables.DateTimeColumn(verbose_name="Date", format="Y-m-d")
    quantity = tables.Column("Credits", attrs={"td": {"class": "num"}})
    gross_minor = tables.Column("Total", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    pdf = tables.Column("", empty_values=(), orderable=False)

    class Meta:
        model = Invoice
        fields = ("number", "issued_at", "quantity", "gross_minor", "status", "pdf")
        order_by = ("-issued_at",)
        empty_text = "No invoices yet."
        attrs = {"id": "invoices"}

    def render_quantity(self, value: int) -> str:
        return f"{value:,}".replace(",", " ")

    def render_gross_minor(self, value: int, record: Invoice) -> str:
        return format_money(value, record.currency)

    def render_status(self, value: str, record: Invoice) -> str:
        css = "ok" if record.is_paid else "warn"
        return format_html('<span class="badge {}">{}</span>', css, record.get_status_display())

    def render_pdf(self, record: Invoice) -> str:
        return format_html('<a href="{}">PDF</a>', reverse("billing:invoice_pdf", args=[record.pk]))
