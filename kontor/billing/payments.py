"""A small payment-provider interface and the two built-in providers: invoice on account, and a test
card provider for the demo and the tests (it declines on request).

A provider charges and says what happened; it never stores card data. Only the last four digits of a
card ever leave this module (PaymentResult.last4)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from django.utils import timezone

from kontor.core import validation
from kontor.core.errors import DomainError, ErrorCode, Invalid


@dataclass(frozen=True)
class PaymentResult:
    ok: bool
    reference: str
    message: str = ""
    status: str = "paid"  # "paid" (money received), "due" (to be paid against the invoice) or "declined"
    last4: str = ""  # card payments: the last four digits, for the invoice; never the number


class PaymentDeclined(DomainError):
    """The payment provider refused the charge; nothing was applied."""

    status = 402
    code = ErrorCode.PAYMENT_DECLINED

    @classmethod
    def from_result(cls, result: PaymentResult) -> PaymentDeclined:
        return cls(result.message or "The payment was declined.")


class PaymentProvider(Protocol):
    code: str
    label: str
    # True when charge() moves money outside our database (a card): no transaction can undo it, so a
    # purchase keeps its idempotency claim in flight across the charge. False (invoice on account):
    # the claim, the credits, the invoice and the answer commit together or not at all.
    outside_effect: bool

    def charge(self, *, amount_minor: int, currency: str, details: dict[str, str], description: str) -> PaymentResult:
        """Charge `amount_minor` of `currency`. Invalid (with field errors) for bad payment details;
        a refusal by the payer's bank is a PaymentResult with ok=False, not an exception."""
        ...


def _check_amount(amount_minor: int, currency: str) -> None:
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise Invalid.field("amount", "The amount to charge must be a whole number above zero.")
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        raise Invalid.field("currency", f"“{currency}” is not an ISO 4217 currency code.")


class InvoiceOnAccount:
    """No money moves now: the invoice is due within the payment terms."""

    code = "invoice"
    label = "Invoice on account"
    outside_effect = False

    def charge(self, *, amount_minor: int, currency: str, details: dict[str, str], description: str) -> PaymentResult:
        _check_amount(amount_minor, currency)
        return PaymentResult(
            ok=True, reference=f"INV-DUE-{secrets.token_hex(6).upper()}", status="due", message="Invoice on account."
        )


# Card numbers the test provider refuses, with the message a real acquirer would give.
DECLINING_CARDS = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Insufficient funds on card.",
}
TEST_CARD_OK = "4242424242424242"


def luhn_ok(digits: str) -> bool:
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _today() -> dt.date:
    return timezone.localdate()


def _card_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value or "")
    if not digits:
        raise Invalid.field("card_number", "Enter the card number.")
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        raise Invalid.field("card_number", "A card number has 12 to 19 digits.")
    if not luhn_ok(digits):
        raise Invalid.field("card_number", "This card number is not valid; check the digits.")
    return digits


def _expiry(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", value or "")
    if not match:
        raise Invalid.field("expiry", "Enter the expiry date as MM/YY.")
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise Invalid.field("expiry", "The expiry month must be 01 to 12.")
    today = _today()
    if (year, month) < (today.year, today.month):
        raise Invalid.field("expiry", "This card has expired.")
    return month, year


def _cvc(value: str) -> str:
    text = (value or "").strip()
    if not re.fullmatch(r"\d{3,4}", text):
        raise Invalid.field("cvc", "The security code (CVC) is 3 or 4 digits.")
    return text


class TestCard:
    """Accepts any valid card number except the declining test numbers; charges nothing real."""

    code = "test_card"
    label = "Test card"
    outside_effect = True

    def charge(self, *, amount_minor: int, currency: str, details: dict[str, str], description: str) -> PaymentResult:
        _check_amount(amount_minor, currency)
        errors: list[Invalid] = []
        number = ""
        for name, check in (("card_number", _card_number), ("expiry", _expiry), ("cvc", _cvc)):
            try:
                value = check(str(details.get(name, "") or ""))
            except Invalid as exc:
                errors.append(exc)
            else:
                if name == "card_number":
                    number = str(value)
        if errors:
            raise validation.merge(*errors)
        last4 = number[-4:]
        declined = DECLINING_CARDS.get(number)
        if declined:
            return PaymentResult(ok=False, reference="", message=declined, status="declined", last4=last4)
        return PaymentResult(
            ok=True,
            reference=f"TEST-{secrets.token_hex(8)}",
            status="paid",
            message="Card payment approved.",
            last4=last4,
        )


PROVIDERS: dict[str, PaymentProvider] = {p.code: p for p in (InvoiceOnAccount(), TestCard())}


def get_provider(code: str) -> PaymentProvider:
    provider = PROVIDERS.get(code) if isinstance(code, str) else None
    if provider is None:
        choices = ", ".join(PROVIDERS)
        raise Invalid.field("payment_method", f"“{code}” is not a payment method; choose one of {choices}.")
    return provider


def has_outside_effect(code: str) -> bool:
    """Whether paying with `code` moves money outside this database; an unknown code counts as one
    (the purchase refuses it anyway)."""
    provider = PROVIDERS.get(code) if isinstance(code, str) else None
    return provider is None or provider.outside_effect


def provider_choices() -> list[tuple[str, str]]:
    return [(p.code, p.label) for p in PROVIDERS.values()]
