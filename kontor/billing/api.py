"""Customer API: price quotes and the customer's invoices (JSON and PDF); under /credits, the quote and
the purchase of SMS credits."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from ninja import Field, Header, Query, Router, Schema

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.api.filtering import DateRangeQuery, filtered
from kontor.api.idempotency import Work, idempotent_write
from kontor.api.permissions import requires
from kontor.api.schemas import IDEMPOTENCY_DOC, Input, Page, collect, errors, field_names, page
from kontor.billing.filters import InvoiceFilter
from kontor.billing.invoices import BILLING_FIELDS
from kontor.billing.models import Invoice
from kontor.billing.payments import has_outside_effect
from kontor.billing.pdf import pdf_response
from kontor.billing.pricing import MAX_QUANTITY, MIN_QUANTITY, format_money, format_rate, format_unit_price, quote
from kontor.billing.purchase import purchase
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.ledger import rules

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


class InvoiceFilters(DateRangeQuery):
    """The invoice page's filters (kontor/billing/filters.py), by the same names; the dates are the issue dates."""

    number: str | None = Field(None, max_length=32, description="Part of the invoice number.")
    status: str | None = Field(None, pattern="^(paid|due)$")


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
@requires(Perm.VIEW_CREDITS)
def get_quote(request: ScopedRequest, query: Query[BillingQuoteQuery]) -> dict[str, Any]:
    """The price of `quantity` credits for the caller's customer (`view_credits`): the volume tier,
    net, VAT at the customer's country's rate, and the total."""
    scope = request.scope
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
@requires(Perm.VIEW_CREDITS)
def list_invoices(request: ScopedRequest, filters: Query[InvoiceFilters]) -> dict[str, Any]:
    """The customer's invoices, newest first (`view_credits`)."""
    scope = request.scope
    qs = filtered(request, InvoiceFilter, _invoices(scope), filters)
    return page(qs, filters, _out)


@router.get("/invoices/{invoice_id}", response={200: InvoiceOut, **errors(404, 422)}, operation_id="get_invoice")
@requires(Perm.VIEW_CREDITS)
def get_invoice(request: ScopedRequest, invoice_id: int) -> dict[str, Any]:
    """One invoice (`view_credits`)."""
    scope = request.scope
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
@requires(Perm.VIEW_CREDITS)
def get_invoice_pdf(request: ScopedRequest, invoice_id: int) -> HttpResponse:
    """The invoice as a PDF (`view_credits`)."""
    scope = request.scope
    return pdf_response(get_scoped(scope, _invoices(scope), pk=invoice_id))


# --- /credits: the price and the purchase of SMS credits ------------------------------------------
# Mounted at /credits beside the ledger's router (kontor/api/urls.py): buying credits is billing's, on top
# of the ledger, and keeps the path and the "credits" tag it always had.

credits_router = Router(tags=["credits"])


# Buying credits (rules.check_credit_writer): 'View SMS credits' alone only reads.
CREDIT_WRITERS = (Perm.SEND_SMS, Perm.MANAGE_OFFICE_CREDITS)
WRITER_REFUSAL = "Buying or moving credits needs 'Send SMS' or 'Manage Office SMS Credits'."


def _credit_caller(request: ScopedRequest) -> tuple[Scope, User]:
    user = actor_of(request)
    rules.check_credit_caller(user, request.scope.customer)
    return request.scope, user


class QuoteQuery(Schema):
    quantity: int = Field(..., ge=MIN_QUANTITY, le=MAX_QUANTITY, description="Credits to price (1 to 10 000 000).")


class QuoteOut(Schema):
    quantity: int
    currency: str
    unit_price_micro: int = Field(..., description="Per-credit price in millionths of the currency.")
    net_minor: int = Field(..., description="In the currency's minor unit (öre, pence, cent).")
    vat_rate_bp: int = Field(..., description="Basis points: 2500 = 25%.")
    vat_minor: int
    gross_minor: int
    unit_price: str
    net: str
    vat: str
    gross: str


class BillingDetailsIn(Input):
    company: str = Field("", max_length=1000)
    contact_name: str = Field("", max_length=1000)
    address_line1: str = Field("", max_length=1000)
    address_line2: str = Field("", max_length=1000)
    postal_code: str = Field("", max_length=1000)
    city: str = Field("", max_length=1000)
    vat_number: str = Field("", max_length=1000)
    email: str = Field("", max_length=1000)


class CardIn(Input):
    number: str = Field(..., max_length=100)
    expiry: str = Field(..., max_length=20, description="MM/YY")
    cvc: str = Field(..., max_length=10)


class PurchaseIn(Input):
    quantity: int = Field(..., ge=MIN_QUANTITY, le=MAX_QUANTITY, description="Credits to buy (1 to 10 000 000).")
    for_user_id: int | None = Field(None, description="null: system (unallocated) credits, master users only.")
    payment_method: str = Field(..., max_length=50, description="`invoice` (on account) or `test_card`.")
    billing_details: BillingDetailsIn
    card: CardIn | None = Field(None, description="Required for `test_card`.")


class PurchaseOut(Schema):
    journal_id: uuid.UUID
    invoice_number: str | None
    invoice_url: str | None = Field(..., description="The tax invoice / receipt PDF.")
    balance: int = Field(..., description="The credited wallet's balance after the purchase.")


def _invoice_url(invoice: Any) -> str | None:
    if invoice is None:
        return None
    try:
        return reverse("billing:invoice_pdf", args=[invoice.pk])
    except NoReverseMatch:
        return None


@credits_router.get("/quote", response={200: QuoteOut, **errors(422)}, operation_id="credit_quote")
@requires(any_of=rules.CREDIT_PERMS)
def credit_quote(request: ScopedRequest, query: Query[QuoteQuery]) -> dict[str, Any]:
    """The price of `quantity` credits for the caller's customer (volume tier, currency and VAT of its
    country)."""
    scope, _ = _credit_caller(request)
    q = quote(scope.customer, query.quantity)
    return {
        "quantity": q.quantity,
        "currency": q.currency,
        "unit_price_micro": q.unit_price_micro,
        "net_minor": q.net_minor,
        "vat_rate_bp": q.vat_rate_bp,
        "vat_minor": q.vat_minor,
        "gross_minor": q.gross_minor,
        "unit_price": q.unit_price,
        "net": q.net,
        "vat": q.vat,
        "gross": q.gross,
    }


PURCHASE_FIELDS = {
    "card_number": "card.number",
    "expiry": "card.expiry",
    "cvc": "card.cvc",
    **{name: f"billing_details.{name}" for name in BILLING_FIELDS},
}


@credits_router.post(
    "/purchases",
    response={201: PurchaseOut, **errors(402, 404, 409, 422)},
    operation_id="purchase_credits",
    description="Buy credits: price → payment → the credits at once and a tax invoice. A declined payment is "
    "402 `payment_declined` and applies nothing." + IDEMPOTENCY_DOC,
)
@requires(any_of=CREDIT_WRITERS, refusal=WRITER_REFUSAL)
# Only a charge outside this database (a card) needs the in-flight protocol; an invoice on account
# claims, buys and answers in one transaction.
@idempotent_write(external=lambda payload, **_: has_outside_effect(payload.payment_method))
def purchase_credits(
    request: ScopedRequest,
    payload: PurchaseIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _credit_caller(request)
    target: User | None = None
    if payload.for_user_id is not None:
        target = scoped(scope, User).filter(pk=payload.for_user_id).first() if 0 < payload.for_user_id < 2**63 else None
        if target is None:
            collect({"for_user_id": ["No such user."]})
    card = payload.card

    def work() -> HttpResponse:
        with field_names(PURCHASE_FIELDS):
            result = purchase(
                scope.customer,
                actor=user,
                quantity=payload.quantity,
                for_user=target,
                payment_method=payload.payment_method,
                billing_details=payload.billing_details.model_dump(),
                payment_details={"card_number": card.number, "expiry": card.expiry, "cvc": card.cvc} if card else {},
                idempotency_key=idempotency_key,
            )
        posting = result.journal.postings.filter(direction="in").select_related("wallet").first()
        body = {
            "journal_id": result.journal.pk,
            "invoice_number": result.invoice.number if result.invoice is not None else None,
            "invoice_url": _invoice_url(result.invoice),
            "balance": posting.wallet.balance if posting is not None else None,
        }
        return HttpResponse(json.dumps(body, default=str), status=201, content_type="application/json")

    return work
