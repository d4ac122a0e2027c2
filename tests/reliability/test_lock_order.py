"""Issue 8 §1.2 and §1.5 on PostgreSQL, over the HTTP API: transfers in both directions between two
users' wallets, single sends (group commit on) and batch sends by both users at once end without a
deadlock reaching anyone (no 5xx, no error) and with balanced books; a reader of the wallet list always
sees balances from one snapshot (transfers between the system and the users' wallets never change
their sum)."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kontor.access.models import User
from kontor.ledger.models import Wallet
from kontor.ledger.posting import Leg, post, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.models import RateCardEntry
from tests.reliability.bank import Bank, build_bank, fresh_connections

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

TRANSFERS = "/api/v1/credits/transfers"
SEND = "/api/v1/messages"
BATCH = "/api/v1/messages/batch"
WALLETS = "/api/v1/credits/wallets"


class _DeadlockCount(logging.Handler):
    """Counts the transactions kontor.core.retry had to rerun because of a deadlock."""

    def __init__(self) -> None:
        super().__init__()
        self.deadlocks = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "deadlock" in record.getMessage():
            self.deadlocks += 1


def _client(user_id: int) -> Any:
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(pk=user_id))
    return client


def _run(target: Any, result: Path, *args: Any) -> None:
    """A child process: fresh connections, a deadlock counter, a JSON summary of every status seen."""
    fresh_connections()
    counter = _DeadlockCount()
    retry_log = logging.getLogger("kontor.core.retry")
    retry_log.addHandler(counter)
    retry_log.setLevel(logging.INFO)
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    try:
        target(statuses, errors, *args)
    except BaseException as exc:  # the parent reads the file: a crash must not go unseen
        errors.append(f"{type(exc).__name__}: {exc}")
    result.write_text(json.dumps({"statuses": statuses, "errors": errors[:20], "deadlocks": counter.deadlocks}))


def _note(statuses: Counter[str], errors: list[str], response: Any) -> None:
    statuses[str(response.status_code)] += 1
    if response.status_code >= 500:
        errors.append(f"{response.status_code}: {response.content[:300]!r}")


def _transfers(statuses: Counter[str], errors: list[str], master_id: int, pairs: list[tuple[int, int]], n: int) -> None:
    client = _client(master_id)
    for i in range(n):
        source, target = pairs[i % len(pairs)]
        body = {"from_wallet_id": source, "to_wallet_id": target, "amount": 1 + i % 3}
        _note(statuses, errors, client.post(TRANSFERS, body, content_type="application/json"))


def _single_sends(statuses: Counter[str], errors: list[str], user_ids: list[int], n: int) -> None:
    from django.conf import settings

    from kontor.messaging.bulk import groupcommit

    settings.KONTOR_GROUP_COMMIT = True  # several request threads: their sends share groups

    def sender(user_id: int, thread: int) -> None:
        client = _client(user_id)
        for i in range(n):
            body = {"to": f"+46701{thread}{i:05d}", "text": f"single {i}"}
            _note(statuses, errors, client.post(SEND, body, content_type="application/json"))

    threads = [threading.Thread(target=sender, args=(uid, t)) for t, uid in enumerate(user_ids * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    groupcommit.shutdown()


def _batches(statuses: Counter[str], errors: list[str], user_id: int, n: int) -> None:
    client = _client(user_id)
    for i in range(n):
        items = [{"to": f"+46709{user_id % 100:02d}{i:03d}{k}", "text": f"batch {i}"} for k in range(3)]
        _note(statuses, errors, client.post(BATCH, {"messages": items}, content_type="application/json"))


def _reader(statuses: Counter[str], errors: list[str], master_id: int, wallet_ids: list[int], n: int) -> None:
    client = _client(master_id)
    sums: Counter[int] = Counter()
    for _ in range(n):
        response = client.get(WALLETS, {"limit": 100})
        _note(statuses, errors, response)
        if response.status_code == 200:
            balances = {w["id"]: w["balance"] for w in response.json()["items"]}
            sums[sum(balances[pk] for pk in wallet_ids)] += 1
    statuses.update({f"sum={total}": count for total, count in sums.items()})


def _results(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]


def _bank_with_system_credits(n_users: int, system_credits: int) -> tuple[Bank, Wallet]:
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    bank = build_bank(n_users, opening=2000, tag="locks")
    system = Wallet.objects.get(pk=bank.system_wallet_id)
    master = User.objects.select_related("customer").get(pk=bank.master_id)
    provider = provider_wallet(customer=master.customer)
    post(
        "purchase",
        [Leg(provider, -system_credits), Leg(system, system_credits)],
        actor=master,
        customer=master.customer,
    )
    return bank, system


def test_mixed_sends_and_transfers_of_two_users_never_deadlock_into_an_error(procs, tmp_path):
    bank, _ = _bank_with_system_credits(2, 1000)
    a, b = (bank.wallet_ids[uid] for uid in bank.user_ids)
    started = [
        procs(_run, _transfers, tmp_path / "transfer-ab.json", bank.master_id, [(a, b), (b, a)], 100),
        procs(_run, _transfers, tmp_path / "transfer-ba.json", bank.master_id, [(b, a), (a, b)], 100),
        procs(_run, _single_sends, tmp_path / "single.json", bank.user_ids, 20),
        procs(_run, _batches, tmp_path / "batch-a.json", bank.user_ids[0], 20),
        procs(_run, _batches, tmp_path / "batch-b.json", bank.user_ids[1], 20),
    ]
    for proc in started:
        proc.join()
        assert proc.exitcode == 0
    results = _results(tmp_path)
    assert len(results) == len(started)
    assert [e for r in results for e in r["errors"]] == []
    statuses: Counter[str] = Counter()
    for result in results:
        statuses.update(result["statuses"])
    assert set(statuses) <= {"201", "409"}, statuses  # 409: a wallet momentarily short, never a 5xx
    assert statuses["201"] > 0.9 * sum(statuses.values()), statuses
    # Wallets are locked in one order by every path: the retry never even had to rerun one.
    assert sum(r["deadlocks"] for r in results) == 0, results
    assert verify() == []


def test_the_wallet_list_is_read_in_one_snapshot_while_transfers_run(procs, tmp_path):
    bank, system = _bank_with_system_credits(4, 1000)
    wallets = [bank.system_wallet_id, *bank.wallet_ids.values()]
    total = sum(Wallet.objects.filter(pk__in=wallets).values_list("balance", flat=True))
    ids = list(bank.wallet_ids.values())
    pairs = [(system.pk, ids[0]), (ids[1], system.pk), (ids[2], ids[3]), (ids[3], ids[0]), (ids[0], system.pk)]
    started = [
        procs(_run, _transfers, tmp_path / "transfer-1.json", bank.master_id, pairs, 300),
        procs(_run, _transfers, tmp_path / "transfer-2.json", bank.master_id, [(t, s) for s, t in pairs], 300),
        procs(_run, _reader, tmp_path / "reader.json", bank.master_id, wallets, 300),
    ]
    for proc in started:
        proc.join()
        assert proc.exitcode == 0
    results = _results(tmp_path)
    assert [e for r in results for e in r["errors"]] == []
    reader = json.loads((tmp_path / "reader.json").read_text())["statuses"]
    sums = {key: count for key, count in reader.items() if key.startswith("sum=")}
    assert sums == {f"sum={total}": 300}, f"torn reads: {sums}"
