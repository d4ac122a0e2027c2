from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kontor.billing.defaults import ensure_default_prices
from kontor.billing.invoices import issue_invoice
from kontor.billing.models import Invoice
from kontor.billing.payments import PROVIDERS
from kontor.billing.pricing import quote

CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/39", "cvc": "123"}
DETAILS = {"company": "Acme AB", "contact_name": "Mia Master", "address_line1": "Storgatan 1", "city": "Göteborg"}


@pytest.fixture(autouse=True)
def _prices(db):  # type: ignore[no-untyped-def]
    # The seed migration provides these; a flush by a transactional test elsewhere would not.
    ensure_default_prices()


def buy(
    cw: Any,
    quantity: int = 1000,
    *,
    method: str = "test_card",
    details: dict[str, str] | None = None,
    issued_at: dt.datetime | None = None,
) -> Invoice:
    """A purchase as the ledger service will do it: quote, charge, issue (without the ledger posting)."""
    q = quote(cw.customer, quantity)
    payment = PROVIDERS[method].charge(
        amount_minor=q.gross_minor, currency=q.currency, details=CARD if method == "test_card" else {}, description="t"
    )
    return issue_invoice(
        cw.customer,
        q,
        actor=cw.master,
        billing_details=details or DETAILS,
        payment_method=method,
        payment=payment,
        journal_id=None,
        description="SMS credits: system credits",
        issued_at=issued_at,
    )
