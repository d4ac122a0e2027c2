"""One global lock order for wallet rows (issue 8 §1.2): a transaction takes every wallet lock in one
pass, wallet id ascending, hold and provider wallets included. Checked on the SQL each path sends, on
both databases; the concurrent proof is tests/reliability/test_lock_order.py (PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import Batch, Entry, Leg, hold_wallet, lock_wallets, pool_wallet, post_batches
from kontor.ledger.verify import verify
from kontor.messaging.bulk import groupcommit
from tests.messaging.conftest import fund
from tests.messaging.test_groupcommit_safety import pending

pytestmark = pytest.mark.django_db


def _updated_wallets(statements: list[str]) -> list[int]:
    return [int(m) for s in statements for m in re.findall(r"UPDATE ledger_wallet SET .* WHERE id = (\d+)", s)]


def test_a_group_of_two_senders_locks_all_their_wallets_in_one_ascending_pass(world):
    """Sender one's wallet has the higher id: one post per sender would lock it, then go back for the
    lower one, and deadlock with a transfer that locks them the other way round."""
    acme = world.acme
    hold = hold_wallet(acme.customer)
    low = fund(pool_wallet(acme.other_account), 10)
    high = fund(pool_wallet(acme.account), 10)
    assert hold.pk < low.pk < high.pk
    first, second = acme.master, acme.user("administrator")
    items = [pending(acme.account, first, high), pending(acme.other_account, second, low, to="+46701234568")]
    with CaptureQueriesContext(connection) as queries:
        groupcommit.write_group(items)
    assert all(item.error is None for item in items)
    assert _updated_wallets([q["sql"] for q in queries.captured_queries]) == [hold.pk, low.pk, high.pk]
    assert JournalTransaction.objects.filter(kind="reservation").count() == 2
    assert verify() == []


def test_post_batches_moves_each_wallet_once_in_id_order_and_returns_each_batchs_journals(world):
    acme = world.acme
    hold = hold_wallet(acme.customer)
    low = fund(pool_wallet(acme.other_account), 10)
    high = fund(pool_wallet(acme.account), 10)
    batches = [
        Batch([Entry("reservation", [Leg(high, -2), Leg(hold, 2)])], acme.master, acme.customer),
        Batch(
            [Entry("reservation", [Leg(low, -1), Leg(hold, 1)]), Entry("reservation", [Leg(low, -3), Leg(hold, 3)])],
            acme.user("administrator"),
            acme.customer,
        ),
    ]
    with CaptureQueriesContext(connection) as queries:
        out = post_batches(batches)
    assert _updated_wallets([q["sql"] for q in queries.captured_queries]) == [hold.pk, low.pk, high.pk]
    assert [len(journals) for journals in out] == [1, 2]
    assert out[0][0].actor_id == acme.master.pk and out[1][1].actor_id == acme.user("administrator").pk
    for wallet, balance in ((hold, 6), (low, 6), (high, 8)):
        wallet.refresh_from_db()
        assert wallet.balance == balance


def test_lock_wallets_takes_the_rows_in_ascending_order_on_postgresql(world):
    acme = world.acme
    ids = [pool_wallet(acme.account).pk, hold_wallet(acme.customer).pk, pool_wallet(acme.other_account).pk]
    with CaptureQueriesContext(connection) as queries:
        lock_wallets(ids)
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor != "postgresql":
        assert statements == []  # SQLite locks the whole database for the transaction instead
        return
    assert len(statements) == 1
    assert "ORDER BY id FOR NO KEY UPDATE" in statements[0]


def test_an_early_failure_report_locks_wallet_hold_and_provider_together_before_the_settle(world):
    """Settle (hold → provider) and the refund of a failure report that overtook the acceptance
    (provider → wallet) share a transaction: the three wallets are locked first, in id order."""
    from kontor.ledger.posting import provider_wallet
    from kontor.messaging.delivery import outbound as delivery
    from tests.messaging.test_recovery import OvertakenBy, send

    acme = world.acme
    pool = fund(pool_wallet(acme.account), 100)
    message = send(world)
    hold, provider = hold_wallet(acme.customer), provider_wallet(customer=acme.customer)
    with CaptureQueriesContext(connection) as queries:
        assert delivery.dispatch(message.pk, connector=OvertakenBy("failed")) == "accepted"
    statements = [q["sql"] for q in queries.captured_queries]
    pool.refresh_from_db()
    assert pool.balance == 100  # reserved, settled, refunded once
    if connection.vendor != "postgresql":
        return
    locks = [i for i, s in enumerate(statements) if "FOR NO KEY UPDATE" in s and "ledger_wallet" in s]
    updates = [i for i, s in enumerate(statements) if s.startswith("UPDATE ledger_wallet SET balance")]
    assert locks and updates and locks[0] < updates[0], "the wallets were not locked before the settle"
    assert all(str(pk) in statements[locks[0]] for pk in (pool.pk, hold.pk, provider.pk))
