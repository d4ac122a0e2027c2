"""The tax invoice / receipt as a PDF (fpdf2, core Helvetica font: no font files to ship).

Core fonts cover Latin-1 only, so every text goes through `latin1()`: "Göteborg" stays as it is, typographic
punctuation becomes its ASCII look-alike, accented letters outside Latin-1 lose their accent, and
anything else becomes "?" rather than an error."""

from __future__ import annotations

import datetime as dt
import unicodedata
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpResponse
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kontor.billing.payments import PROVIDERS
from kontor.billing.pricing import format_money, format_rate, format_unit_price

if TYPE_CHECKING:
    from kontor.billing.models import Invoice

PAYMENT_TERMS_DAYS = 30
_ASCII_LOOKALIKES = {
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'", "\u201a": ",",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2026": "...", "\u2022": "-", "\u20ac": "EUR",
    "\u2122": "(TM)", "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0131": "i",
    "\u0152": "OE", "\u0153": "oe", "\u2009": " ", "\u202f": " ", "\u200b": "",
}  # fmt: skip


def latin1(value: Any) -> str:
    """`value` as text the core PDF fonts can draw; never raises."""
    text = unicodedata.normalize("NFC", str(value))
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code < 256:
            out.append(ch if (ch == "\n" or 32 <= code < 127 or code >= 160) else " ")
            continue
        lookalike = _ASCII_LOOKALIKES.get(ch)
        if lookalike is None:
            decomposed = unicodedata.normalize("NFKD", ch)
            lookalike = "".join(c for c in decomposed if ord(c) < 256 and not unicodedata.combining(c)) or "?"
        out.append(lookalike)
    return "".join(out)


def _local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(zoneinfo.ZoneInfo(settings.KONTOR_INVOICE_TIME_ZONE))


def due_date(invoice: Invoice) -> dt.date:
    return _local(invoice.issued_at).date() + dt.timedelta(days=PAYMENT_TERMS_DAYS)


def payment_method_label(code: str) -> str:
    provider = PROVIDERS.get(code)
    return provider.label if provider is not None else code


class _InvoicePdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, latin1(self.footer_text), align="L")
        self.set_x(self.l_margin)  # the page number shares the line, right-aligned
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="R")


def _block(pdf: FPDF, x: float, y: float, width: float, heading: str, lines: list[str]) -> float:
    """A heading and lines at (x, y); returns the y below it."""
    pdf.set_xy(x, y)
    pdf.set_font("helvetica", "B", 9)
    pdf.set_text_color(110, 110, 110)
    pdf.cell(width, 5, latin1(heading.upper()), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    for i, line in enumerate(lines):
        pdf.set_font("helvetica", "B" if i == 0 else "", 10)
        pdf.set_x(x)
        pdf.multi_cell(width, 5, latin1(line), new_x=XPos.LEFT, new_y=YPos.NEXT)
    return pdf.get_y()


def _fact(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("helvetica", "", 10)
    pdf.set_text_color(110, 110, 110)
    pdf.cell(45, 6, latin1(label))
    pdf.set_text_color(0, 0, 0)
    pdf.cell(0, 6, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _total(pdf: FPDF, label: str, value: str, *, bold: bool = False) -> None:
    pdf.set_font("helvetica", "B" if bold else "", 11 if bold else 10)
    pdf.set_x(pdf.l_margin + pdf.epw - 90)
    pdf.cell(50, 7, latin1(label), align="R")
    pdf.cell(40, 7, latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def invoice_pdf(invoice: Invoice, *, compress: bool = True) -> bytes:
    """The invoice as PDF bytes. `compress=False` keeps the page text readable (for tests)."""
    seller: dict[str, Any] = invoice.seller or {}
    buyer: dict[str, Any] = invoice.buyer or {}
    currency = invoice.currency
    paid = invoice.is_paid
    title = "Tax invoice / Receipt" if paid else "Tax invoice"

    pdf = _InvoicePdf(format="A4", unit="mm")
    pdf.footer_text = " · ".join(
        str(v) for v in (seller.get("name"), f"VAT no. {seller.get('vat_number', '')}", seller.get("email")) if v
    )
    pdf.set_compression(compress)
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=22)
    pdf.set_title(latin1(f"{title} {invoice.number}"))
    pdf.set_author(latin1(seller.get("name", "")))
    pdf.set_creator("Kontor")
    pdf.set_creation_date(invoice.issued_at)
    pdf.add_page()

    pdf.set_font("helvetica", "B", 18)
    pdf.cell(0, 10, latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", "", 11)
    pdf.cell(0, 6, latin1(invoice.number), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    top = pdf.get_y()
    half = pdf.epw / 2 - 4
    seller_lines = [
        seller.get("name", ""),
        *seller.get("address_lines", []),
        f"VAT no. {seller.get('vat_number', '')}",
        seller.get("email", ""),
    ]
    buyer_lines = [
        buyer.get("company") or buyer.get("customer_name", ""),
        *([f"Attn. {buyer['contact_name']}"] if buyer.get("company") and buyer.get("contact_name") else []),
        *buyer.get("address_lines", []),
        buyer.get("country", ""),
        *([f"VAT no. {buyer['vat_number']}"] if buyer.get("vat_number") else []),
        *([buyer["email"]] if buyer.get("email") else []),
    ]
    bottom_left = _block(pdf, pdf.l_margin, top, half, "Seller", [line for line in seller_lines if line])
    bottom_right = _block(pdf, pdf.l_margin + half + 8, top, half, "Bill to", [line for line in buyer_lines if line])
    pdf.set_xy(pdf.l_margin, max(bottom_left, bottom_right) + 6)

    issued = _local(invoice.issued_at)
    _fact(pdf, "Invoice number", invoice.number)
    _fact(pdf, "Invoice date", issued.date().isoformat())
    if paid:
        _fact(pdf, "Paid on", issued.date().isoformat())
    else:
        _fact(pdf, "Due date", due_date(invoice).isoformat())
    _fact(pdf, "Subscriber ID", buyer.get("subscriber_id", ""))
    _fact(pdf, "Billing ID", buyer.get("billing_id", ""))
    pdf.ln(6)

    with pdf.table(
        col_widths=(84, 24, 34, 32),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=6,
        first_row_as_headings=True,
    ) as table:
        heading = table.row()
        for text in ("Description", "Quantity", "Unit price", "Net"):
            heading.cell(text)
        for line in invoice.lines or []:
            row = table.row()
            row.cell(latin1(line.get("description", "")))
            row.cell(f"{int(line.get('quantity', 0)):,}".replace(",", " "))
            row.cell(latin1(format_unit_price(int(line.get("unit_price_micro", 0)), currency)))
            row.cell(latin1(format_money(int(line.get("net_minor", 0)), currency)))
    pdf.ln(3)

    _total(pdf, "Net", format_money(invoice.net_minor, currency))
    _total(pdf, f"VAT {format_rate(invoice.vat_rate_bp)}", format_money(invoice.vat_minor, currency))
    _total(pdf, "Total", format_money(invoice.gross_minor, currency), bold=True)
    pdf.ln(6)

    method = payment_method_label(invoice.payment_method)
    if invoice.payment_last4:
        method += f" ending {invoice.payment_last4}"
    _fact(pdf, "Payment method", method)
    if invoice.payment_reference:
        _fact(pdf, "Payment reference", invoice.payment_reference)
    pdf.set_font("helvetica", "B", 12)
    pdf.ln(2)
    if paid:
        pdf.cell(0, 8, "Paid", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    else:
        pdf.cell(
            0,
            8,
            latin1(f"Due within {PAYMENT_TERMS_DAYS} days (by {due_date(invoice).isoformat()})"),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_font("helvetica", "", 10)
        pdf.cell(0, 6, latin1(f"Please quote {invoice.number} with your payment."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if invoice.vat_rate_bp == 0:
        pdf.set_font("helvetica", "", 9)
        pdf.ln(2)
        pdf.multi_cell(0, 5, "No VAT charged: reverse charge or outside the scope of VAT for the buyer's country.")
    return bytes(pdf.output())


def pdf_response(invoice: Invoice) -> HttpResponse:
    """The invoice PDF as a download named after its number (web page and API alike)."""
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
