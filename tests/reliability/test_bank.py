"""A Jepsen-style bank test (issue 3 §6): eight worker processes run 10,000 mixed purchases, transfers,
consumptions and refunds against one customer's 20 wallets while a reader takes full REPEATABLE READ
snapshots. Money is conserved in every snapshot, no customer wallet dips below zero, overdrafts are
refused (never clamped), and afterwards the postings replay to every stored balance."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from kontor.ledger.models import JournalTransaction, Wallet
from tests.reliability.bank import (
    await_exit,
    build_bank,
    read_summaries,
    replayed_balances,
    run_reader,
    run_worker,
    stored_balances,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 8
OPS_PER_WORKER = 1250  # 10,000 in all
SEED = 3


def test_bank_invariants_hold_under_concurrent_load(procs, tmp_path, capsys):
    bank = build_bank(20, opening=100)
    stop = procs.ctx.Event()
    reader = procs(run_reader, str(tmp_path), stop, customer_id=bank.customer_id)
    started = time.monotonic()
    workers = [
        procs(run_worker, bank, w, seed=SEED, n_ops=OPS_PER_WORKER, result_dir=str(tmp_path)) for w in range(WORKERS)
    ]
    await_exit({f"worker {w}": proc for w, proc in enumerate(workers)})
    for w, proc in enumerate(workers):
        assert proc.exitcode == 0, f"worker {w} (pid {proc.pid}) ended with {proc.exitcode}"
    elapsed = time.monotonic() - started
    stop.set()
    await_exit({"reader": reader})

    summaries = read_summaries(str(tmp_path))
    assert len(summaries) == WORKERS
    errors = [e for s in summaries for e in s["errors"]]
    assert errors == []
    ok = sum(sum(s["ok"].values()) for s in summaries)
    refused = sum(s["refused"] for s in summaries)
    assert ok + refused == WORKERS * OPS_PER_WORKER
    # The load is meant to overdraw: refusals must actually have happened, and every kind succeeded.
    assert refused > 100
    for kind in ("purchase", "transfer", "consume", "refund"):
        assert sum(s["ok"].get(kind, 0) for s in summaries) > 0, kind

    report = (tmp_path / "reader.json").read_text()
    import json

    reader_result = json.loads(report)
    assert reader_result["violations"] == []
    assert reader_result["reads"] >= 3

    # Exactly one journal per reported success (plus the opening purchases), none lost, none extra.
    assert JournalTransaction.objects.count() == bank.setup_journals + ok
    assert replayed_balances() == stored_balances()
    assert sum(stored_balances().values()) == 0
    assert not Wallet.objects.exclude(kind="provider").filter(balance__lt=0).exists()
    call_command("ledger", "verify")
    assert "ledger OK" in capsys.readouterr().out
    print(f"bank: {ok} committed, {refused} refused in {elapsed:.1f}s, {reader_result['reads']} snapshot reads")
