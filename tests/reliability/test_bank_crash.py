"""The bank test's crash variant (issue 3 §6): workers are SIGKILLed mid-load and replaced. Each worker
acknowledges an operation (fsynced, one line per operation) only after it committed; a replacement
resumes after the last acknowledgement and first retries the operation that may have been lost, under
the same idempotency key. Nothing acknowledged is lost, nothing is applied twice, the invariants hold."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from kontor.ledger.models import JournalTransaction
from tests.reliability.bank import (
    HANG_CAP,
    await_exit,
    build_bank,
    read_acks,
    read_summaries,
    replayed_balances,
    run_reader,
    run_worker,
    stored_balances,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 8
OPS_PER_WORKER = 625  # 5,000 in all: the kills and the exactly-once proof do not need more
SEED = 11
VICTIMS = {0: 60, 5: 200}  # worker -> kill once it has acknowledged this many operations


def _acked(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_killed_workers_lose_nothing_and_duplicate_nothing(procs, tmp_path, capsys):
    bank = build_bank(20, opening=100)
    result_dir = str(tmp_path)
    stop = procs.ctx.Event()
    reader = procs(run_reader, result_dir, stop, customer_id=bank.customer_id)

    def start(worker: int):
        return procs(
            run_worker,
            bank,
            worker,
            seed=SEED,
            n_ops=OPS_PER_WORKER,
            result_dir=result_dir,
            keyed=True,
            ack=True,
        )

    workers = {w: start(w) for w in range(WORKERS)}
    killed: list[int] = []
    pending = dict(VICTIMS)
    # Each victim is killed once it has acknowledged its threshold: bounded by its progress, not by a
    # clock (it cannot finish first, its threshold is below its share); only a hang reaches the cap.
    cap = time.monotonic() + HANG_CAP
    while pending:
        for worker, threshold in list(pending.items()):
            if _acked(tmp_path / f"ack-{worker}.log") >= threshold:
                os.kill(workers[worker].pid, signal.SIGKILL)
                await_exit({f"worker {worker}": workers[worker]})
                assert workers[worker].exitcode == -signal.SIGKILL
                killed.append(worker)
                workers[worker] = start(worker)  # the replacement
                del pending[worker]
            elif not workers[worker].is_alive():
                raise AssertionError(f"worker {worker} ended ({workers[worker].exitcode}) before its kill")
        assert time.monotonic() < cap, f"workers {sorted(pending)} made no progress to their kill: hung"
        time.sleep(0.01)
    assert sorted(killed) == sorted(VICTIMS), "the kills must land mid-load"
    await_exit({f"worker {w}": proc for w, proc in workers.items()})
    for w, proc in workers.items():
        assert proc.exitcode == 0, f"worker {w} (pid {proc.pid}) ended with {proc.exitcode}"
    stop.set()
    await_exit({"reader": reader})

    summaries = {s["worker"]: s for s in read_summaries(result_dir)}
    assert [e for s in summaries.values() for e in s["errors"]] == []
    for worker in VICTIMS:
        assert summaries[worker]["start"] > 0, "the replacement resumed where its predecessor stopped"

    reader_result = json.loads((tmp_path / "reader.json").read_text())
    assert reader_result["violations"] == []

    committed: dict[str, str] = {}
    for worker in range(WORKERS):
        acks = read_acks(tmp_path / f"ack-{worker}.log")
        assert sorted(acks) == list(range(OPS_PER_WORKER)), f"worker {worker} left operations unacknowledged"
        committed.update({f"{worker}-{n}": jid for n, jid in acks.items() if jid != "refused"})

    # Every acknowledged journal is there under its key; no key has a journal it was not acknowledged with.
    in_db = {
        key: str(jid)
        for key, jid in JournalTransaction.objects.filter(idempotency_key__isnull=False).values_list(
            "idempotency_key", "id"
        )
    }
    assert in_db == committed
    assert JournalTransaction.objects.count() == bank.setup_journals + len(committed)
    assert replayed_balances() == stored_balances()
    assert sum(stored_balances().values()) == 0
    call_command("ledger", "verify")
    assert "ledger OK" in capsys.readouterr().out
