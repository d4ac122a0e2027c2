"""Purchases: the card is charged at most once per Idempotency-Key, and a decline stays declined."""

from __future__ import annotations

import pytest

from kontor.billing.defaults import ensure_default_prices
from kontor.billing.models import Invoice
from kontor.billing.payments import PROVIDERS, PaymentDeclined
from kontor.billing.purchase import purchase
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import system_wallet

DETAILS = {"company": "Acme AB", "contact_name": "Mia Master", "address_line1": "Storgatan 1", "city": "Göteborg"}
GOOD = {"card_number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
DECLINED = {**GOOD, "card_number": "4000000000000002"}


@pytest.fixture
def charges(monkeypatch):
    ensure_default_prices()
    calls: list[str] = []
    card = PROVIDERS["test_card"]
    original = card.charge

    def counting(**kwargs):
        calls.append(kwargs["details"].get("card_number", ""))
        return original(**kwargs)

    monkeypatch.setattr(card, "charge", counting)
    return calls


def _buy(world, card, key):
    return purchase(
        world.acme.customer,
        actor=world.acme.master,
        quantity=500,
        for_user=None,
        payment_method="test_card",
        billing_details=DETAILS,
        payment_details=card,
        idempotency_key=key,
    )


def test_the_same_key_charges_once_and_returns_the_first_purchase(world, charges):
    first = _buy(world, GOOD, "pay-1")
    again = _buy(world, GOOD, "pay-1")
    assert first.created and not again.created
    assert again.journal.pk == first.journal.pk and again.invoice.pk == first.invoice.pk
    assert len(charges) == 1
    assert system_wallet(world.acme.customer).balance == 500
    assert Invoice.objects.count() == 1


def test_a_declined_key_stays_declined_without_charging_again(world, charges):
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            _buy(world, DECLINED, "pay-2")
    assert len(charges) == 1
    assert not JournalTransaction.objects.exists() and not Invoice.objects.exists()
    # Another attempt is another key.
    assert _buy(world, GOOD, "pay-3").created
    assert len(charges) == 2


def test_an_invalid_card_leaves_the_key_free_for_the_corrected_card(world, charges):
    from kontor.core.errors import Invalid

    with pytest.raises(Invalid):
        _buy(world, {**GOOD, "card_number": "1234"}, "pay-4")
    assert _buy(world, GOOD, "pay-4").created


def test_a_key_whose_record_was_pruned_still_never_charges_twice(world, charges):
    from kontor.core.models import IdempotencyRecord

    first = _buy(world, GOOD, "pay-5")
    IdempotencyRecord.objects.all().delete()  # what prune() does after 24 hours
    again = _buy(world, GOOD, "pay-5")
    assert again.journal.pk == first.journal.pk and not again.created
    assert len(charges) == 1


def test_a_key_another_operation_used_is_refused_before_charging(world, charges):
    from kontor.core.errors import Invalid
    from kontor.ledger.posting import Leg, post, provider_wallet, user_wallet

    acme = world.acme
    post(
        "adjustment",
        [Leg(provider_wallet(customer=acme.customer), -1), Leg(user_wallet(acme.master), 1)],
        actor=None,
        customer=acme.customer,
        idempotency_key="taken",
    )
    with pytest.raises(Invalid):
        _buy(world, GOOD, "taken")
    assert charges == []


def test_cards_take_ascii_digits_only(world, charges):
    from kontor.core.errors import Invalid

    with pytest.raises(Invalid) as caught:
        _buy(world, {**GOOD, "card_number": "٣٤" * 8}, None)  # Arabic-Indic digits pass str.isdigit()
    assert "12 to 19 digits" in caught.value.fields["card_number"][0]
    assert not JournalTransaction.objects.exists() and not Invoice.objects.exists()
