"""Issuing invoices: gap-free numbers per year, snapshots, audit, refusals; the PDF."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import transaction
from django.test import override_settings

from kontor.audit.models import AuditEntry
from kontor.billing.invoices import clean_billing_details, issue_invoice, link_journal
from kontor.billing.models import Invoice, InvoiceSequence
from kontor.billing.payments import PaymentDeclined, PaymentResult
from kontor.billing.pdf import invoice_pdf, latin1
from kontor.billing.pricing import quote
from kontor.core.errors import Conflict, Invalid
from tests.billing.conftest import DETAILS, buy

UTC = dt.UTC


def at(year: int, month: int = 6, day: int = 1, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def test_numbers_are_sequential_per_year_and_restart(world):
    numbers = [
        buy(world.acme, issued_at=at(2026)).number,
        buy(world.globex, issued_at=at(2026)).number,
        buy(world.acme, issued_at=at(2027)).number,
        buy(world.acme, issued_at=at(2026, 12)).number,
    ]
    assert numbers == ["KON-2026-000001", "KON-2026-000002", "KON-2027-000001", "KON-2026-000003"]


def test_year_is_taken_in_the_invoice_time_zone(world):
    # 23:30 UTC on New Year's Eve is already 2027 in Stockholm.
    assert buy(world.acme, issued_at=dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)).number == "KON-2027-000001"


@override_settings(KONTOR_INVOICE_PREFIX="TST")
def test_prefix_comes_from_settings(world):
    assert buy(world.acme, issued_at=at(2026)).number == "TST-2026-000001"


def test_a_rolled_back_purchase_gives_its_number_back(world):
    first = buy(world.acme, issued_at=at(2026))
    with pytest.raises(RuntimeError), transaction.atomic():
        buy(world.acme, issued_at=at(2026))
        raise RuntimeError("the ledger refused the posting")
    second = buy(world.acme, issued_at=at(2026))
    assert (first.number, second.number) == ("KON-2026-000001", "KON-2026-000002")
    assert Invoice.objects.count() == 2
    assert InvoiceSequence.objects.get(year=2026).last == 2


def test_invoice_snapshots_quote_seller_buyer_and_payment(world):
    invoice = buy(world.acme, 1000, issued_at=at(2026))
    q = quote(world.acme.customer, 1000)
    assert (invoice.quantity, invoice.currency, invoice.net_minor, invoice.vat_minor, invoice.gross_minor) == (
        1000,
        "SEK",
        q.net_minor,
        q.vat_minor,
        q.gross_minor,
    )
    assert invoice.lines == [
        {
            "description": "SMS credits: system credits",
            "quantity": 1000,
            "unit_price_micro": 390_000,
            "net_minor": 39_000,
        }
    ]
    assert invoice.seller["name"] == "Kontor Telecom AB" and invoice.seller["vat_number"] == "SE556000000001"
    assert invoice.buyer["company"] == "Acme AB"
    assert invoice.buyer["subscriber_id"] == world.acme.customer.subscriber_id
    assert invoice.buyer["billing_id"] == world.acme.customer.billing_id
    assert "Göteborg" in invoice.buyer["address_lines"]
    assert (invoice.status, invoice.payment_method, invoice.payment_last4) == ("paid", "test_card", "4242")
    assert invoice.payment_reference.startswith("TEST-")
    assert invoice.customer_id == world.acme.customer.pk and invoice.created_by == world.acme.master
    entry = AuditEntry.objects.get(action="invoice.issue")
    assert entry.customer_id == world.acme.customer.pk and entry.object_id == str(invoice.pk)
    assert entry.after["number"] == invoice.number and entry.after["gross_minor"] == invoice.gross_minor


def test_invoice_on_account_is_due(world):
    invoice = buy(world.acme, method="invoice", issued_at=at(2026))
    assert invoice.status == "due" and invoice.payment_reference.startswith("INV-DUE-")


def test_declined_payment_issues_nothing(world):
    q = quote(world.acme.customer, 10)
    declined = PaymentResult(ok=False, reference="", message="Your card was declined.", status="declined")
    with pytest.raises(PaymentDeclined):
        issue_invoice(
            world.acme.customer,
            q,
            actor=world.acme.master,
            billing_details=DETAILS,
            payment_method="test_card",
            payment=declined,
            journal_id=None,
            description="x",
        )
    assert not Invoice.objects.exists() and not AuditEntry.objects.filter(action="invoice.issue").exists()
    assert not InvoiceSequence.objects.filter(last__gt=0).exists()


def test_bad_billing_details_or_method_issue_nothing(world):
    with pytest.raises(Invalid) as exc:
        buy(world.acme, details={"email": "not-an-email"})
    assert set(exc.value.fields) == {"company", "email"}
    q = quote(world.acme.customer, 10)
    with pytest.raises(Invalid) as exc:
        issue_invoice(
            world.acme.customer,
            q,
            actor=world.acme.master,
            billing_details=DETAILS,
            payment_method="cash",
            payment=PaymentResult(ok=True, reference="x"),
            journal_id=None,
            description="x",
        )
    assert "payment_method" in exc.value.fields
    assert not Invoice.objects.exists()


def test_link_journal_once(world):
    invoice = buy(world.acme, issued_at=at(2026))
    journal = uuid.uuid4()
    link_journal(invoice, journal, actor=world.acme.master)
    assert Invoice.objects.get(pk=invoice.pk).journal_id == journal
    link_journal(invoice, journal, actor=world.acme.master)  # the same again: a no-op
    with pytest.raises(Conflict):
        link_journal(Invoice.objects.get(pk=invoice.pk), uuid.uuid4(), actor=world.acme.master)
    assert AuditEntry.objects.filter(action="invoice.link_journal").count() == 1


# --- billing details -----------------------------------------------------------------------------


def test_clean_billing_details():
    out = clean_billing_details(
        {"contact_name": "  Mia   Master ", "vat_number": "se 5566-7788 9901", "email": "mia@acme.test", "x": "y"}
    )
    assert out["contact_name"] == "Mia Master" and out["vat_number"] == "SE556677889901"
    assert out["company"] == "" and "x" not in out


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({}, {"company"}),
        ({"company": "  "}, {"company"}),
        ({"company": "A", "email": "nope"}, {"email"}),
        ({"company": "A", "vat_number": "123"}, {"vat_number"}),
        ({"company": "A" * 201}, {"company"}),
        ({"company": "A", "city": "x\x00y"}, {"city"}),
        ({"company": 5}, {"company"}),
        ({"contact_name": "B", "postal_code": "1" * 21}, {"postal_code"}),
    ],
)
def test_bad_billing_details(data, fields):
    with pytest.raises(Invalid) as exc:
        clean_billing_details(data)
    assert set(exc.value.fields) == fields


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_is_a_receipt_with_number_and_totals(world):
    invoice = buy(world.acme, 1000, issued_at=at(2026))
    assert invoice_pdf(invoice).startswith(b"%PDF-")
    raw = invoice_pdf(invoice, compress=False)
    assert raw.startswith(b"%PDF-")
    for text in (invoice.number, "Tax invoice / Receipt", "487.50 SEK", "VAT 25%", "Paid", "Kontor Telecom AB"):
        assert text.encode("latin-1") in raw, text
    assert "Göteborg".encode("latin-1") in raw


def test_pdf_of_a_due_invoice(world):
    invoice = buy(world.acme, method="invoice", issued_at=at(2026, 3, 1))
    raw = invoice_pdf(invoice, compress=False)
    assert rb"Due within 30 days \(by 2026-03-31\)" in raw  # PDF strings escape parentheses
    assert b"Receipt" not in raw


def test_pdf_never_fails_on_unusual_characters(world):
    details = {"company": "Łódź “Quotes” — €5 😀 \u202e ﬁ", "contact_name": "Zoë", "city": "北京"}
    invoice = buy(world.acme, details=details, issued_at=at(2026))
    raw = invoice_pdf(invoice, compress=False)
    assert 'Lódz "Quotes" - EUR5 ? ? fi'.encode("latin-1") in raw
    assert "Zoë".encode("latin-1") in raw


def test_latin1():
    assert latin1("Göteborg") == "Göteborg"
    assert latin1("a\tb\x00c") == "a b c"
    assert latin1("Ärlig ŠKODA") == "Ärlig SKODA"
    latin1("".join(chr(c) for c in range(0, 0x3000, 7))).encode("latin-1")
