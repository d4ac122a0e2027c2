"""A wallet's low-balance alert mails its owner and the master users once per crossing, on commit."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from kontor.ledger.posting import Leg, post, provider_wallet, user_wallet
from kontor.ledger.services import consume, set_low_balance_threshold


@pytest.fixture
def sender_wallet(world):
    acme = world.acme
    acme.customer.credit_mode = "individual"
    acme.customer.save()
    wallet = user_wallet(acme.users["sender"])
    post(
        "purchase",
        [Leg(provider_wallet(customer=acme.customer), -50), Leg(wallet, 50)],
        actor=None,
        customer=acme.customer,
    )
    set_low_balance_threshold(wallet, 10, actor=acme.master)
    return wallet


def test_crossing_the_threshold_mails_once_then_again_after_a_top_up(
    world, sender_wallet, django_capture_on_commit_callbacks
):
    acme, sender = world.acme, world.acme.users["sender"]
    with django_capture_on_commit_callbacks(execute=True):
        consume(sender, acme.account, 30)  # 50 → 20: still above
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        consume(sender, acme.account, 15)  # 20 → 5: crosses
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {sender.email, acme.master.email}
    assert "5" in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        consume(sender, acme.account, 2)  # 5 → 3: already below, no second mail
    assert len(mail.outbox) == 1
    wallet = user_wallet(sender)
    with django_capture_on_commit_callbacks(execute=True):
        post(
            "purchase",
            [Leg(provider_wallet(customer=acme.customer), -40), Leg(wallet, 40)],
            actor=None,
            customer=acme.customer,
        )
        consume(sender, acme.account, 35)  # 43 → 8: crosses again
    assert len(mail.outbox) == 2


def test_a_rolled_back_crossing_sends_nothing(world, sender_wallet, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        consume(world.acme.users["sender"], world.acme.account, 45)
        raise RuntimeError("abort")
    assert mail.outbox == []
    assert user_wallet(world.acme.users["sender"]).balance == 50
