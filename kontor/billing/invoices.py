"""Tax invoices for credit purchases: billing details, gap-free numbering, issuing, the PDF.

`issue_invoice` runs inside the purchase's transaction (the caller's `transaction.atomic`): the invoice
number is taken from a row locked until that transaction ends, so a purchase that rolls back (declined,
refused by the ledger) gives its number back and the numbers stay sequential without gaps."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from kontor.audit.services import record
from kontor.billing.models import Invoice, InvoiceSequence
from kontor.billing.payments import PaymentDeclined, PaymentResult, get_provider
from kontor.billing.pdf import PAYMENT_TERMS_DAYS, invoice_pdf
from kontor.core.errors import Conflict, Invalid

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.billing.pricing import Quote
    from kontor.tenancy.models import Customer

__all__ = [
    "BILLING_FIELDS",
    "PAYMENT_TERMS_DAYS",
    "Invoice",
    "clean_billing_details",
    "invoice_pdf",
    "issue_invoice",
    "link_journal",
    "next_invoice_number",
]

# name -> (label, max length); the order is the order on forms and on the invoice.
BILLING_FIELDS: dict[str, tuple[str, int]] = {
    "company": ("Company", 200),
    "contact_name": ("Contact name", 200),
    "address_line1": ("Address", 200),
    "address_line2": ("Address line 2", 200),
    "postal_code": ("Postal code", 20),
    "city": ("City", 100),
    "vat_number": ("VAT number", 20),
    "email": ("Invoice email", 254),
}
_VAT_NUMBER = re.compile(r"[A-Z]{2}[A-Z0-9+*.]{2,13}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_billing_details(data: dict[str, str]) -> dict[str, str]:
    """The billing details given at purchase, stripped and checked: a company or a contact name is
    required, the email must be valid if given, the VAT number is optional (two-letter country prefix).
    Unknown keys are dropped. Invalid names every wrong field at once."""
    if not isinstance(data, dict):
        raise Invalid("Billing details must be a set of named fields.")
    fields: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for name, (label, max_length) in BILLING_FIELDS.items():
        raw = data.get(name, "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            fields.setdefault(name, []).append(f"{label} must be text.")
            continue
        value = " ".join(raw.split()) if name != "vat_number" else re.sub(r"[\s-]", "", raw).upper()
        if _CONTROL.search(value):
            fields.setdefault(name, []).append(f"{label} contains characters that are not allowed.")
        elif len(value) > max_length:
            fields.setdefault(name, []).append(f"{label} can be at most {max_length} characters.")
        out[name] = value
    if (
        not fields.get("company")
        and not fields.get("contact_name")
        and not (out.get("company") or out.get("contact_name"))
    ):
        fields.setdefault("company", []).append("Enter the company or a contact name.")
    if out.get("email") and "email" not in fields:
        try:
            validate_email(out["email"])
        except ValidationError:
            fields.setdefault("email", []).append(f"“{out['email']}” is not an email address.")
    if out.get("vat_number") and "vat_number" not in fields and not _VAT_NUMBER.fullmatch(out["vat_number"]):
        fields.setdefault("vat_number", []).append("A VAT number starts with its country code, e.g. SE556677889901.")
    if fields:
        raise Invalid("Please correct the billing details.", fields=fields)
    return out


def seller_snapshot() -> dict[str, Any]:
    address = str(settings.KONTOR_PROVIDER_ADDRESS).replace("\\n", "\n")
    return {
        "name": settings.KONTOR_PROVIDER_NAME,
        "address_lines": [line.strip() for line in address.splitlines() if line.strip()],
        "vat_number": settings.KONTOR_PROVIDER_VAT_NUMBER,
        "email": settings.KONTOR_PROVIDER_EMAIL,
    }


def buyer_snapshot(customer: Customer, details: dict[str, str]) -> dict[str, Any]:
    address_lines = [details.get(k, "") for k in ("address_line1", "address_line2")]
    city_line = " ".join(v for v in (details.get("postal_code", ""), details.get("city", "")) if v)
    return {
        "customer_name": customer.name,
        "billing_id": customer.billing_id,
        "subscriber_id": customer.subscriber_id,
        "country": customer.country,
        "company": details.get("company", ""),
        "contact_name": details.get("contact_name", ""),
        "address_lines": [line for line in [*address_lines, city_line] if line],
        "vat_number": details.get("vat_number", ""),
        "email": details.get("email", ""),
    }


def invoice_year(at: dt.datetime) -> int:
    return timezone.localtime(at, zoneinfo.ZoneInfo(settings.KONTOR_INVOICE_TIME_ZONE)).year


def next_invoice_number(year: int) -> str:
    """Take the next number of `year`, e.g. KON-2026-000001. Must run inside the transaction that
    stores the invoice: the sequence row stays locked until it ends, and a rollback returns the number."""
    try:
        with transaction.atomic():  # a savepoint: losing the race to create the row is harmless
            InvoiceSequence.objects.get_or_create(year=year)
    except IntegrityError:
        pass
    seq = InvoiceSequence.objects.select_for_update().get(year=year)
    seq.last += 1  # safe: the row is locked until the caller's transaction ends
    seq.save(update_fields=["last"])
    return f"{settings.KONTOR_INVOICE_PREFIX}-{year}-{seq.last:06d}"


@transaction.atomic
def issue_invoice(
    customer: Customer,
    quote: Quote,
    *,
    actor: User,
    billing_details: dict[str, str],
    payment_method: str,
    payment: PaymentResult,
    journal_id: uuid.UUID | None,
    description: str,
    issued_at: dt.datetime | None = None,
) -> Invoice:
    """Issue the tax invoice (receipt when paid) of a purchase that `payment` paid or put on account.

    Call it inside the purchase's `transaction.atomic`, together with the ledger posting, so that the
    invoice, its number and the credits commit or roll back as one. Writes an `invoice.issue` audit row."""
    get_provider(payment_method)
    if not payment.ok:
        raise PaymentDeclined.from_result(payment)
    if payment.status not in Invoice.Status.values:
        raise Invalid.field("payment_method", f"A payment with status “{payment.status}” cannot be invoiced.")
    details = clean_billing_details(billing_details)
    description = " ".join((description or "").split())[:200] or "SMS credits"
    issued_at = issued_at or timezone.now()
    invoice = Invoice.objects.create(
        customer=customer,
        number=next_invoice_number(invoice_year(issued_at)),
        issued_at=issued_at,
        seller=seller_snapshot(),
        buyer=buyer_snapshot(customer, details),
        lines=[
            {
                "description": description,
                "quantity": quote.quantity,
                "unit_price_micro": quote.unit_price_micro,
                "net_minor": quote.net_minor,
            }
        ],
        quantity=quote.quantity,
        currency=quote.currency,
        net_minor=quote.net_minor,
        vat_rate_bp=quote.vat_rate_bp,
        vat_minor=quote.vat_minor,
        gross_minor=quote.gross_minor,
        payment_method=payment_method,
        payment_reference=payment.reference[:64],
        payment_last4=payment.last4[-4:],
        status=payment.status,
        journal_id=journal_id,
        created_by=actor,
    )
    record(
        "invoice.issue",
        invoice,
        actor=actor,
        customer=customer,
        after={
            "number": invoice.number,
            "quantity": invoice.quantity,
            "currency": invoice.currency,
            "net_minor": invoice.net_minor,
            "vat_minor": invoice.vat_minor,
            "gross_minor": invoice.gross_minor,
            "status": invoice.status,
            "payment_method": invoice.payment_method,
            "payment_reference": invoice.payment_reference,
            "journal_id": journal_id,
        },
    )
    return invoice


@transaction.atomic
def link_journal(invoice: Invoice, journal_id: uuid.UUID, *, actor: User) -> Invoice:
    """Record the ledger transaction that applied an invoice's credits, when the invoice was issued
    before the posting. Once set it never changes (Conflict)."""
    if invoice.journal_id == journal_id:
        return invoice
    updated = Invoice.objects.filter(pk=invoice.pk, journal_id__isnull=True).update(journal_id=journal_id)
    if not updated:
        raise Conflict(f"Invoice {invoice.number} is already linked to a ledger transaction.")
    invoice.journal_id = journal_id
    record(
        "invoice.link_journal",
        invoice,
        actor=actor,
        customer=invoice.customer_id,
        before={"journal_id": None},
        after={"journal_id": journal_id},
    )
    return invoice
