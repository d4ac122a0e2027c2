"""The payment providers: invoice on account, and the test card (approve, decline, bad details)."""

from __future__ import annotations

import datetime as dt

import pytest

from kontor.billing import payments
from kontor.billing.payments import PROVIDERS, PaymentDeclined, PaymentResult, get_provider, luhn_ok
from kontor.core.errors import ErrorCode, Invalid


def charge(**details: str) -> PaymentResult:
    card = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123", **details}
    return get_provider("test_card").charge(amount_minor=5_600, currency="SEK", details=card, description="t")


def test_valid_card_is_approved_and_only_last4_is_kept():
    result = charge(card_number="4242 4242-4242 4242")
    assert result.ok and result.status == "paid"
    assert result.reference.startswith("TEST-") and len(result.reference) == 5 + 16
    assert result.last4 == "4242"
    assert "4242424242424242" not in repr(result)
    assert charge().reference != result.reference


@pytest.mark.parametrize(
    ("number", "message"),
    [("4000000000000002", "Your card was declined."), ("4000000000009995", "Insufficient funds on card.")],
)
def test_declining_cards(number, message):
    result = charge(card_number=number)
    assert not result.ok
    assert result.message == message
    assert result.status != "paid"
    assert result.reference == ""
    declined = PaymentDeclined.from_result(result)
    assert (declined.status, declined.code, declined.message) == (402, ErrorCode.PAYMENT_DECLINED, message)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"card_number": "4242424242424241"}, "card_number"),  # Luhn
        ({"card_number": "4242"}, "card_number"),
        ({"card_number": "4242x42424242424"}, "card_number"),
        ({"card_number": ""}, "card_number"),
        ({"expiry": "01/20"}, "expiry"),  # expired
        ({"expiry": "13/39"}, "expiry"),
        ({"expiry": "1239"}, "expiry"),
        ({"expiry": ""}, "expiry"),
        ({"cvc": "12"}, "cvc"),
        ({"cvc": "12345"}, "cvc"),
        ({"cvc": "abc"}, "cvc"),
    ],
)
def test_bad_card_details_are_field_errors(details, field):
    with pytest.raises(Invalid) as exc:
        charge(**details)
    assert list(exc.value.fields) == [field]


def test_every_bad_field_is_named_at_once():
    with pytest.raises(Invalid) as exc:
        charge(card_number="1234567890123", expiry="00/10", cvc="1")
    assert set(exc.value.fields) == {"card_number", "expiry", "cvc"}


def test_expiry_month_is_valid_to_its_end(monkeypatch):
    monkeypatch.setattr(payments, "_today", lambda: dt.date(2030, 5, 31))
    assert charge(expiry="05/30").ok
    assert charge(expiry="5/2030").ok
    with pytest.raises(Invalid):
        charge(expiry="04/30")


def test_amount_must_be_positive():
    for amount in (0, -5):
        with pytest.raises(Invalid):
            get_provider("test_card").charge(amount_minor=amount, currency="SEK", details={}, description="")
    with pytest.raises(Invalid):
        get_provider("invoice").charge(amount_minor=100, currency="sek!", details={}, description="")


def test_invoice_on_account_is_due():
    result = get_provider("invoice").charge(amount_minor=100, currency="SEK", details={}, description="t")
    assert result.ok and result.status == "due"
    assert result.reference.startswith("INV-DUE-")
    assert PROVIDERS["invoice"].label == "Invoice on account"
    assert PROVIDERS["test_card"].label == "Test card"


@pytest.mark.parametrize("code", ["bitcoin", "", "INVOICE", None])
def test_unknown_provider(code):
    with pytest.raises(Invalid) as exc:
        get_provider(code)
    assert "payment_method" in exc.value.fields


def test_luhn():
    assert luhn_ok("4242424242424242") and luhn_ok("79927398713")
    assert not luhn_ok("79927398710") and not luhn_ok("") and not luhn_ok("12a4")
