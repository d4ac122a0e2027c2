"""The ledger's rules hold in the database itself: these tests go around the ORM to prove it."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction

from kontor.ledger.models import JournalTransaction, Posting, Wallet
from kontor.ledger.posting import InsufficientCredits, Leg, post, provider_wallet, system_wallet, user_wallet


@pytest.fixture
def funded(world):
    system = system_wallet(world.acme.customer)
    post(
        "purchase",
        [Leg(provider_wallet(), -100), Leg(system, 100)],
        actor=world.acme.master,
        customer=world.acme.customer,
        reason="test purchase",
    )
    system.refresh_from_db()
    return system


def _raw(sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _jid(value: uuid.UUID) -> str:
    # Django keeps UUIDs as 32 hex characters on SQLite and as uuid on PostgreSQL.
    return value.hex if connection.vendor == "sqlite" else str(value)


def test_post_moves_balances_and_sums_to_zero(world, funded):
    assert funded.balance == 100
    assert provider_wallet().balance == -100
    journal = JournalTransaction.objects.get()
    assert sorted(p.delta for p in journal.postings.all()) == [-100, 100]
    assert journal.actor == world.acme.master and journal.reason == "test purchase"


def test_overdraft_is_refused_with_numbers_and_changes_nothing(world, funded):
    target = user_wallet(world.acme.users["sender"])
    with pytest.raises(InsufficientCredits) as caught:
        post("allocation", [Leg(funded, -140), Leg(target, 140)], actor=world.acme.master, customer=world.acme.customer)
    assert "100 available, 140 needed" in caught.value.message
    funded.refresh_from_db()
    target.refresh_from_db()
    assert (funded.balance, target.balance) == (100, 0)
    assert JournalTransaction.objects.count() == 1


@pytest.mark.parametrize("legs", [[10], [10, -5], [0, 0], [10, -10, 1]])
def test_unbalanced_or_empty_legs_are_refused_before_the_database(world, funded, legs):
    from kontor.core.errors import Invalid

    wallets = [funded, provider_wallet(), user_wallet(world.acme.master)]
    with pytest.raises(Invalid):
        post("adjustment", [Leg(wallets[i], d) for i, d in enumerate(legs)], actor=None, customer=world.acme.customer)
    assert JournalTransaction.objects.count() == 1


def test_database_refuses_update_and_delete_of_postings(funded):
    posting = Posting.objects.first()
    with pytest.raises(DatabaseError):
        _raw("UPDATE ledger_posting SET amount = 1 WHERE id = %s", [posting.pk])
    with pytest.raises(DatabaseError):
        _raw("DELETE FROM ledger_posting WHERE id = %s", [posting.pk])
    with pytest.raises(DatabaseError):
        _raw("DELETE FROM ledger_journaltransaction")
    posting.refresh_from_db()
    assert posting.amount == 100


@pytest.mark.parametrize("amount", [0, -5])
def test_database_refuses_non_positive_amounts(funded, amount):
    with pytest.raises(IntegrityError):
        _raw(
            "INSERT INTO ledger_posting (journal_id, wallet_id, direction, amount, created_at) "
            "VALUES (%s, %s, 'in', %s, CURRENT_TIMESTAMP)",
            [_jid(uuid.uuid4()), funded.pk, amount],
        )


def test_database_refuses_an_unbalanced_journal(funded):
    jid = uuid.uuid4()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_posting (journal_id, wallet_id, direction, amount, created_at) "
            "VALUES (%s, %s, 'in', 7, CURRENT_TIMESTAMP)",
            [_jid(jid), funded.pk],
        )
        cursor.execute(
            "INSERT INTO ledger_journaltransaction (id, kind, reason, reference, created_at) "
            "VALUES (%s, 'adjustment', '', '', CURRENT_TIMESTAMP)",
            [_jid(jid)],
        )
    assert not JournalTransaction.objects.filter(pk=jid).exists()


def test_database_refuses_postings_added_to_a_sealed_journal(funded):
    journal = JournalTransaction.objects.get()
    with pytest.raises(DatabaseError):
        _raw(
            "INSERT INTO ledger_posting (journal_id, wallet_id, direction, amount, created_at) "
            "VALUES (%s, %s, 'in', 5, CURRENT_TIMESTAMP)",
            [_jid(journal.pk), funded.pk],
        )
    assert journal.postings.count() == 2


def test_database_refuses_a_negative_customer_balance(funded):
    with pytest.raises(IntegrityError):
        _raw("UPDATE ledger_wallet SET balance = -1 WHERE id = %s", [funded.pk])
    funded.refresh_from_db()
    assert funded.balance == 100


def test_verify_passes_then_names_the_first_corrupted_wallet(funded, capsys):
    call_command("ledger", "verify")
    assert "ledger OK" in capsys.readouterr().out
    _raw("UPDATE ledger_wallet SET balance = balance + 3 WHERE id = %s", [funded.pk])
    with pytest.raises(CommandError, match=f"wallet {funded.pk} "):
        call_command("ledger", "verify")


def test_wallet_kinds_are_owned_consistently(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.create(kind="user", customer=world.acme.customer)  # a user wallet without a user
