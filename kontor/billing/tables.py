"""The invoice list: the page and its CSV download."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kontor.billing.models import Invoice
from kontor.billing.pricing import format_money, format_rate


def _amount(minor: int, currency: str) -> str:
    # "1 234,50 SEK" → "1234,50": the number alone, without the thousands spaces, for spreadsheets.
    return format_money(minor, currency).rsplit(" ", 1)[0].replace(" ", "")


class InvoiceTable(tables.Table):
    number = tables.Column("Number")
    issued_at = tables.DateTimeColumn(verbose_name="Date", format="Y-m-d")
    quantity = tables.Column("Credits", attrs={"td": {"class": "num"}})
    gross_minor = tables.Column("Total", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    pdf = tables.Column("", empty_values=(), orderable=False, exclude_from_export=True)
    # Only in the CSV download.
    currency = tables.Column(visible=False)
    net_minor = tables.Column(visible=False)
    vat_rate_bp = tables.Column(visible=False)
    vat_minor = tables.Column(visible=False)
    payment_method = tables.Column(visible=False)
    payment_reference = tables.Column(visible=False)
    journal_id = tables.Column(visible=False)

    export_names = {"net_minor": "net", "vat_rate_bp": "vat_rate", "vat_minor": "vat", "gross_minor": "total"}

    class Meta:
        model = Invoice
        fields = ("number", "issued_at", "quantity", "gross_minor", "status", "pdf")
        sequence = (
            "number",
            "issued_at",
            "quantity",
            "currency",
            "net_minor",
            "vat_rate_bp",
            "vat_minor",
            "gross_minor",
            "status",
            "payment_method",
            "payment_reference",
            "journal_id",
            "pdf",
        )
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

    def value_net_minor(self, value: int, record: Invoice) -> str:
        return _amount(value, record.currency)

    def value_vat_rate_bp(self, value: int) -> str:
        return format_rate(value)

    def value_vat_minor(self, value: int, record: Invoice) -> str:
        return _amount(value, record.currency)

    def value_gross_minor(self, value: int, record: Invoice) -> str:
        return _amount(value, record.currency)
