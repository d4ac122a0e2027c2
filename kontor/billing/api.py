"""Customer API: price quotes and the customer's invoices (JSON and PDF)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from kontor.access.perms import Perm
from kontor.api.core import scope_of
from kontor.api.schemas import Page, PageQuery, errors, page
from kontor.billing.models import Invoice
from kontor.billing.pdf import pdf_response
from kontor.billing.pricing import MAX_QUANTITY, MIN_QUANTITY, format_money, format_rate, format_unit_price, quote
from kontor.core.scope import Scope, get_scoped, scoped

router = Router(tags=["billing"])


class BillingQuoteOut(Schema):
    quantity: int
    currency: str = Field(..., description="ISO 4217.")
    unit_price_micro: int = Field(..., description="Price per credit in millionths of the currency unit.")
    unit_price: str = Field(..., description='Formatted, e.g. "0.35 SEK".')
    tier_min_quantity: int = Field(..., description="The volume tier applied: from this many credits.")
    net_minor: int = Field(..., description="Amounts are integers in the currency's minor unit (öre, cent).")
    vat_rate_bp: int = Field(..., description="VAT in basis points: 2500 = 25%.")
    vat_rate: str
    vat_minor: int
    gross_minor: int
    net: str
    vat: str
    gross: str = Field(..., description='Formatted total, e.g. "1 234.50 SEK".')


class BillingQuoteQuery(Schema):
    quantity: int = Field(..., ge=MIN_QUANTITY, le=MAX_QUANTITY, description="Credits to buy, 1 to 10 000 000.")


class InvoiceLineOut(Schema):
    description: str
    quantity: int
    unit_price_micro: int
    net_minor: int


class InvoiceOut(Schema):
    id: int
    number: str
    issued_at: datetime
    status: str = Field(..., description="`paid` (a receipt) or `due` (payable within 30 days).")
    quantity: int
    currency: str
    net_minor: int
    vat_rate_bp: int
    vat_minor: int
    gross_minor: int
    gross: str
    payment_method: str
    payment_reference: str
    journal_id: uuid.UUID | None = Field(..., description="The ledger transaction that applied the credits.")
    lines: list[InvoiceLineOut]
    seller: dict[str, Any]
    buyer: dict[str, Any]


class InvoiceFilters(PageQuery):
    status: str | None = Field(None, pattern="^(paid|due)$")
    since: datetime | None = Field(None, description="Issued at or after this time.")
    until: datetime | None = Field(None, description="Issued before this time.")


def _invoices(scope: Scope) -> QuerySet[Invoice]:
    return scoped(scope, Invoice).order_by("-issued_at", "-id")


def _out(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "issued_at": invoice.issued_at,
        "status": invoice.status,
        "quantity": invoice.quantity,
        "currency": invoice.currency,
        "net_minor": invoice.net_minor,
        "vat_rate_bp": invoice.vat_rate_bp,
        "vat_minor": invoice.vat_minor,
        "gross_minor": invoice.gross_minor,
        "gross": format_money(invoice.gross_minor, invoice.currency),
        "payment_method": invoice.payment_method,
        "payment_reference": invoice.payment_reference,
        "journal_id": invoice.journal_id,
        "lines": invoice.lines,
        "seller": invoice.seller,
        "buyer": invoice.buyer,
    }


@router.get("/quote", response={200: BillingQuoteOut, **errors(422)}, operation_id="get_quote")
def get_quote(request: HttpRequest, query: Query[BillingQuoteQuery]) -> dict[str, Any]:
    """The price of `quantity` credits for the caller's customer (`view_credits`): the volume tier,
    net, VAT at the customer's country's rate, and the total."""
    scope = scope_of(request, Perm.VIEW_CREDITS)
    q = quote(scope.customer, query.quantity)
    return {
        "quantity": q.quantity,
        "currency": q.currency,
        "unit_price_micro": q.unit_price_micro,
        "unit_price": format_unit_price(q.unit_price_micro, q.currency),
        "tier_min_quantity": q.tier_min_quantity,
        "net_minor": q.net_minor,
        "vat_rate_bp": q.vat_rate_bp,
        "vat_rate": format_rate(q.vat_rate_bp),
        "vat_minor": q.vat_minor,
        "gross_minor": q.gross_minor,
        "net": format_money(q.net_minor, q.currency),
        "vat": format_money(q.vat_minor, q.currency),
        "gross": format_money(q.gross_minor, q.currency),
    }


@router.get("/invoices", response={200: Page[InvoiceOut], **errors(422)}, operation_id="list_invoices")
def list_invoices(request: HttpRequest, filters: Query[InvoiceFilters]) -> dict[str, Any]:
    """The customer's invoices, newest first (`view_credits`)."""
    scope = scope_of(request, Perm.VIEW_CREDITS)
    qs = _invoices(scope)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.since is not None:
        qs = qs.filter(issued_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(issued_at__lt=filters.until)
    return page(qs, filters, _out)


@router.get("/invoices/{invoice_id}", response={200: InvoiceOut, **errors(404, 422)}, operation_id="get_invoice")
def get_invoice(request: HttpRequest, invoice_id: int) -> dict[str, Any]:
    """One invoice (`view_credits`)."""
    scope = scope_of(request, Perm.VIEW_CREDITS)
    return _out(get_scoped(scope, _invoices(scope), pk=invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    response={200: None, **errors(404, 422)},
    operation_id="get_invoice_pdf",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The tax invoice / receipt as a PDF attachment.",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def get_invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """The invoice as a PDF (`view_credits`)."""
    scope = scope_of(request, Perm.VIEW_CREDITS)
    return pdf_response(get_scoped(scope, _invoices(scope), pk=invoice_id))
