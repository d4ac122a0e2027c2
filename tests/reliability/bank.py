"""The bank the reliability tests load: one customer in Individual User SMS Credits mode, a master user
and N users with 'Send SMS', their wallets funded; worker and reader processes that hammer it; the
checks that must hold afterwards. Workers run in forked processes, so everything they need travels
as plain ids."""

from __future__ import annotations

import json
import os
import random
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, connections, transaction

from kontor.access.models import Role, User
from kontor.core.errors import DomainError
from kontor.ledger import services
from kontor.ledger.models import JournalTransaction, Posting, Wallet
from kontor.ledger.posting import InsufficientCredits, Leg, post, provider_wallet, system_wallet, user_wallet
from kontor.tenancy.models import Account, CreditMode, Customer, Membership

OP_KINDS = ("purchase", "transfer", "consume", "refund")
OP_WEIGHTS = (15, 45, 30, 10)


@dataclass(frozen=True)
class Bank:
    customer_id: int
    account_id: int
    master_id: int
    user_ids: list[int]
    wallet_ids: dict[int, int]  # user id -> wallet id
    provider_wallet_id: int
    system_wallet_id: int
    setup_journals: int


def build_bank(n_users: int = 20, *, opening: int = 500, tag: str = "bank") -> Bank:
    """Committed data (the caller runs in a transactional test or a scratch database)."""
    customer = Customer.objects.create(name=f"{tag} customer", billing_id=f"{tag}-1", credit_mode=CreditMode.INDIVIDUAL)
    account = Account.objects.create(customer=customer, name=f"{tag} account")
    sender = Role.objects.get(customer=None, slug="sender")
    master = User.objects.create(
        customer=customer, email=f"master@{tag}.test", first_name="Mia", last_name="Master", is_master=True
    )
    users = []
    for i in range(n_users):
        user = User.objects.create(customer=customer, email=f"u{i}@{tag}.test", first_name="U", last_name=f"{i}")
        Membership.objects.create(customer=customer, account=account, user=user, role=sender)
        users.append(user)
    provider = provider_wallet(customer=customer)
    system = system_wallet(customer)
    wallets = {u.pk: user_wallet(u) for u in users}
    for user in users:
        post(
            "purchase",
            [Leg(provider, -opening), Leg(wallets[user.pk], opening)],
            actor=master,
            customer=customer,
            reason="opening purchase",
        )
    return Bank(
        customer_id=customer.pk,
        account_id=account.pk,
        master_id=master.pk,
        user_ids=[u.pk for u in users],
        wallet_ids={uid: w.pk for uid, w in wallets.items()},
        provider_wallet_id=provider.pk,
        system_wallet_id=system.pk,
        setup_journals=len(users),
    )


_INHERITED: list[Any] = []


def fresh_connections() -> None:
    """In a forked child: forget the parent's database connections without closing them (closing would
    end the parent's session on the shared socket). The parent closes its own before forking anyway;
    this keeps a child from finalizing anything it inherited."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)  # never finalized: multiprocessing children end in os._exit
        conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False
        conn.run_on_commit = []


# --- the operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str
    a: int  # user id (source for transfers)
    b: int  # target user id for transfers
    amount: int


def op_for(seed: int, worker: int, n: int, user_ids: list[int]) -> Op:
    """The n-th operation of a worker, the same every time it is asked for (so a restarted worker
    retries exactly the operation it may have lost)."""
    rng = random.Random(f"{seed}:{worker}:{n}")
    kind = rng.choices(OP_KINDS, OP_WEIGHTS)[0]
    a, b = rng.sample(user_ids, 2)
    amount = {"purchase": rng.randint(1, 200), "transfer": rng.randint(1, 150), "consume": rng.randint(1, 80)}.get(
        kind, rng.randint(1, 20)
    )
    return Op(kind, a, b, amount)


class Actors:
    """The objects a worker needs, loaded once."""

    def __init__(self, bank: Bank) -> None:
        self.customer = Customer.objects.get(pk=bank.customer_id)
        self.account = Account.objects.select_related("customer").get(pk=bank.account_id)
        self.master = User.objects.select_related("customer").get(pk=bank.master_id)
        self.users = {u.pk: u for u in User.objects.select_related("customer").filter(pk__in=bank.user_ids)}
        self.wallets = {
            uid: Wallet.objects.select_related("user__customer").get(pk=wid) for uid, wid in bank.wallet_ids.items()
        }
        self.provider = Wallet.objects.get(pk=bank.provider_wallet_id)


def apply_op(actors: Actors, op: Op, key: str | None) -> JournalTransaction:
    """Perform one operation; InsufficientCredits propagates (an overdraft is refused, never clamped)."""
    if op.kind == "purchase":
        # The billing flow is another app's; a purchase is its ledger half: provider -> user.
        legs = [Leg(actors.provider, -op.amount), Leg(actors.wallets[op.a], op.amount)]
        try:
            with transaction.atomic():
                return post(
                    "purchase",
                    legs,
                    actor=actors.master,
                    customer=actors.customer,
                    reason=f"Purchase of {op.amount} credits",
                    idempotency_key=key,
                )
        except IntegrityError:
            if key is None:
                raise
            return JournalTransaction.objects.get(customer=actors.customer, idempotency_key=key)  # type: ignore[no-any-return]
    if op.kind == "transfer":
        return services.transfer(
            actors.wallets[op.a], actors.wallets[op.b], op.amount, actor=actors.master, idempotency_key=key
        )
    if op.kind == "consume":
        return services.consume(actors.users[op.a], actors.account, op.amount, idempotency_key=key)
    return services.refund(
        actors.wallets[op.a], op.amount, actor=actors.master, reason="Message failed", idempotency_key=key
    )


def _fsync_line(handle: Any, line: str) -> None:
    handle.write(line + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def run_worker(
    bank: Bank,
    worker: int,
    *,
    seed: int,
    n_ops: int,
    result_dir: str,
    keyed: bool = False,
    ack: bool = False,
    ops_delay: float = 0.0,
) -> None:
    """A worker process: n_ops operations, then a JSON summary. With `ack`, every outcome is appended
    to an fsynced per-worker file once committed, and a restarted worker resumes after the last
    acknowledged operation (retrying the one that may have been lost)."""
    fresh_connections()
    summary: dict[str, Any] = {"worker": worker, "ok": Counter(), "refused": 0, "errors": [], "start": 0}
    try:
        actors = Actors(bank)
        ack_path = Path(result_dir) / f"ack-{worker}.log"
        start = 0
        if ack and ack_path.exists():
            start = _resume_point(ack_path)
        summary["start"] = start
        handle = ack_path.open("a") if ack else None
        for n in range(start, n_ops):
            op = op_for(seed, worker, n, bank.user_ids)
            try:
                journal = apply_op(actors, op, f"{worker}-{n}" if keyed else None)
            except InsufficientCredits:
                summary["refused"] += 1
                if handle:
                    _fsync_line(handle, f"{n} refused")
            except DomainError as exc:
                summary["errors"].append(f"{op}: {exc.__class__.__name__}: {exc.message}")
            else:
                summary["ok"][op.kind] += 1
                if handle:
                    _fsync_line(handle, f"{n} {journal.pk}")
            if ops_delay:
                time.sleep(ops_delay)
    except Exception:
        summary["errors"].append(traceback.format_exc())
    finally:
        connection.close()
    Path(result_dir, f"summary-{worker}.json").write_text(json.dumps(summary))


def _resume_point(ack_path: Path) -> int:
    """The operation after the last acknowledged one. A line cut short by the kill (no newline) was
    never acknowledged: it is dropped, and that operation is retried under its idempotency key."""
    text = ack_path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        ack_path.write_text(text)
    lines = text.splitlines()
    return int(lines[-1].split()[0]) + 1 if lines else 0


def read_acks(ack_path: Path) -> dict[int, str]:
    """{operation number: journal id or "refused"}; a number acknowledged twice is a duplicate."""
    acks: dict[int, str] = {}
    for line in ack_path.read_text().splitlines():
        n, outcome = line.split()
        assert int(n) not in acks, f"operation {n} acknowledged twice in {ack_path.name}"
        acks[int(n)] = outcome
    return acks


def run_reader(result_dir: str, stop: Any, *, customer_id: int) -> None:
    """Full reads in one REPEATABLE READ transaction, over and over: money is conserved (all wallets
    sum to zero), no customer wallet is below zero, and — in the same snapshot — every balance equals
    the sum of its postings."""
    fresh_connections()
    reads, violations = 0, []
    try:
        while not stop.is_set() or reads < 3:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT id, kind, balance FROM ledger_wallet")
                rows = cursor.fetchall()
                cursor.execute(
                    "SELECT wallet_id, SUM(CASE direction WHEN 'in' THEN amount ELSE -amount END) "
                    "FROM ledger_posting GROUP BY wallet_id"
                )
                sums = dict(cursor.fetchall())
            reads += 1
            total = sum(r[2] for r in rows)
            if total != 0:
                violations.append(f"read {reads}: wallets sum to {total}")
            for wid, kind, balance in rows:
                if kind != "provider" and balance < 0:
                    violations.append(f"read {reads}: wallet {wid} at {balance}")
                if balance != sums.get(wid, 0):
                    violations.append(f"read {reads}: wallet {wid} balance {balance} != postings {sums.get(wid, 0)}")
            if len(violations) > 20:
                break
            time.sleep(0.005)  # a reader, not a load generator: leave the CPUs to the workers
    except Exception:
        violations.append(traceback.format_exc())
    finally:
        connection.close()
    Path(result_dir, "reader.json").write_text(json.dumps({"reads": reads, "violations": violations}))


# Only a real hang reaches this; a slow machine never should (a test bounds its work by operations).
HANG_CAP = 30 * 60


def await_exit(procs: dict[str, Any], *, cap: float = HANG_CAP) -> None:
    """Wait until every process has ended, however long a busy machine makes that take; fail only on a
    hang, naming the processes that hung."""
    deadline = time.monotonic() + cap
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    hung = [f"{name} (pid {proc.pid})" for name, proc in procs.items() if proc.is_alive()]
    assert not hung, f"still running after {cap / 60:.0f} minutes, so hung: {', '.join(hung)}"


def read_summaries(result_dir: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(Path(result_dir).glob("summary-*.json"))]


# --- after the load ------------------------------------------------------------------------------


def replayed_balances() -> dict[int, int]:
    """Every wallet's balance recomputed in Python from the postings alone."""
    totals: dict[int, int] = {w: 0 for w in Wallet.objects.values_list("pk", flat=True)}
    for wallet_id, direction, amount in Posting.objects.values_list("wallet_id", "direction", "amount").iterator():
        totals[wallet_id] += amount if direction == Posting.Direction.IN else -amount
    return totals


def stored_balances() -> dict[int, int]:
    return dict(Wallet.objects.values_list("pk", "balance"))


def bank_as_dict(bank: Bank) -> dict[str, Any]:
    return asdict(bank)
