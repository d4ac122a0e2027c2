"""Group commit for single sends: the reservations of concurrent requests share one transaction.

Every message sent alone needs its own durable commit, and all of an account's messages reserve from
the same wallet, so alone they queue behind each other's row lock and fsync. With KONTOR_GROUP_COMMIT
on, a request validates and prices its message as before, then hands the write to one committer thread
per process, which takes whatever has queued up meanwhile (up to MAX_GROUP) and writes it all in one
transaction: the messages, one reservation journal each (one ledger `post_many` per customer and
actor, so each wallet moves once), their first events; then one dispatch task per group. Each request
is answered only after that commit, so an answered message is as durable as one committed alone.

Credits are checked per message, in arrival order, under the wallets' row locks: a message that would
overdraw is refused with InsufficientCredits on its own, the rest of its group goes through. When a
group fails for any other reason, each of its messages is tried alone, so one bad message cannot take
others down with it.

Off (the default, and in tests), `commit` writes its one item inline in the caller's transaction; the
write path is the same function either way."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django_tasks_db import DatabaseBackend

from kontor.core import hotcache, rls
from kontor.core.errors import Invalid, NotConfirmed
from kontor.ledger.models import JournalTransaction, Wallet
from kontor.ledger.posting import Batch, Entry, InsufficientCredits, Leg, hold_wallet, post_batches
from kontor.messaging import adapters
from kontor.messaging.bulk import insert
from kontor.messaging.delivery import outbound
from kontor.messaging.models import Direction, Message, MessageEvent
from kontor.messaging.rules.text import opted_out_message

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account

log = logging.getLogger(__name__)

MAX_GROUP = 500
WAIT_SECONDS = 60.0
IDLE_SECONDS = 30.0
LINGER_SECONDS = float(os.environ.get("KONTOR_GROUP_LINGER_MS", "2")) / 1000


@dataclass
class Pending:
    """One validated, priced message waiting to be written."""

    account: Account
    actor: User
    wallet: Wallet
    from_number: str
    to: str
    text: str
    encoding: str
    segments: int
    credits: int
    rate_prefix: str
    operator: str
    status: str
    scheduled_for: dt.datetime | None
    at: dt.datetime
    on_behalf_of: User | None = None
    campaign_id: int | None = None
    idempotency_key: str | None = None
    # Filled in by the committer:
    message: Message | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def enabled() -> bool:
    return bool(getattr(settings, "KONTOR_GROUP_COMMIT", False))


def commit(item: Pending) -> Message:
    """Write one message with its reservation and answer it once committed; raises what writing it
    raised (InsufficientCredits, ...)."""
    if enabled() and not transaction.get_connection().in_atomic_block:
        _committer().submit(item)
    else:
        write_group([item])
    if item.error is not None:
        raise item.error
    assert item.message is not None
    return item.message


def write_group(
    items: Sequence[Pending], *, all_or_nothing: bool = False, check_opt_outs: bool = True, reservation: str = ""
) -> None:
    """Write every item that fits its wallet in one transaction, enqueue their dispatch once
    committed, and set each item's message or error. Items that would overdraw get
    InsufficientCredits (all_or_nothing: the whole group is refused with the totals, and raised); any
    other failure is set on every item of the group and re-raised. Numbers that opted out of their
    account get Invalid (check_opt_outs: the caller has checked already). With `reservation` (all_or_nothing
    only), each wallet's credits are reserved in one journal with that reference instead of one
    journal per message."""
    assert not reservation or all_or_nothing, "one journal for many messages needs all of them written"

    try:
        with transaction.atomic():
            reachable = _without_opted_out(items) if check_opt_outs else list(items)
            fitting = _fit_credits(reachable)
            if all_or_nothing and len(fitting) < len(items):
                refused = next(item.error for item in items if item.error is not None)
                raise refused if isinstance(refused, Invalid) else _shortfall(items)
            rows = _insert(fitting)
            for item, row in zip(fitting, rows, strict=True):
                item.message = row
            # The ledger last: its UPDATEs lock the wallets, and they stay locked until the commit. One
            # post_batches for the whole group, so every wallet (hold wallets included) is locked in the
            # global id order: a post per actor would lock one actor's wallets after another's, out of
            # order, and deadlock with a transfer between them.
            by_poster: dict[tuple[int, int], list[Pending]] = defaultdict(list)
            for item in fitting:
                by_poster[(item.account.customer_id, item.actor.pk)].append(item)
            holds: dict[tuple[int, str], Wallet] = {}
            batches: list[Batch] = []
            for group in by_poster.values():
                customer = group[0].account.customer
                for item in group:
                    if (customer.pk, item.wallet.unit) not in holds:
                        unit = item.wallet.unit
                        holds[(customer.pk, unit)] = hotcache.memo(
                            ("hold", customer.pk, unit), functools.partial(hold_wallet, customer, unit)
                        )
                if reservation:
                    entries = _one_journal_per_wallet(group, holds, customer.pk, reservation)
                else:
                    entries = [
                        Entry(
                            JournalTransaction.Kind.RESERVATION,
                            [
                                Leg(item.wallet, -item.credits),
                                Leg(holds[(customer.pk, item.wallet.unit)], item.credits),
                            ],
                            reason="Reserved for sending",
                            reference=item.message.reference,  # type: ignore[union-attr]
                        )
                        for item in group
                    ]
                if entries:
                    batches.append(Batch(entries, group[0].actor, customer))
            if batches:
                # No savepoint: a refused posting fails the whole group, which is then written one by one.
                post_batches(batches, savepoint=False)
            # Looked up now, not at import: the tests stand in for the task queue there.
            _dispatch_on_commit(fitting, outbound.enqueue_dispatch)
    except BaseException as exc:
        for item in items:
            if item.error is None:
                item.error = exc
            item.message = None
        raise


COPY_FROM = 50  # below this many messages, two INSERTs cost less than the sequence query and two COPYs


def _insert(items: Sequence[Pending]) -> list[Message]:
    """The messages and their first events: on PostgreSQL by COPY when many share everything but
    number and text (a batch), as a campaign is written; otherwise two bulk INSERTs."""
    first = items[0] if items else None
    if (
        first is not None
        and len(items) >= COPY_FROM
        and connection.vendor == "postgresql"
        and all(_shared(item) == _shared(first) for item in items)
    ):
        how = insert.Sending(
            account=first.account,
            actor=first.actor,
            campaign=None,
            wallet=first.wallet,
            sender=first.from_number,
            status=first.status,
            scheduled_for=first.scheduled_for,
            now=first.at,
            on_behalf_of=first.on_behalf_of,
        )
        rows = [(i.to, i.text, i.encoding, i.segments, i.credits, i.rate_prefix, i.operator) for i in items]
        return insert.copy_messages(rows, how)
    messages = Message.objects.bulk_create([_message(item) for item in items])
    MessageEvent.objects.bulk_create(
        [
            MessageEvent(message=row, status=row.status, at=item.at, detail=insert.created_detail(row))
            for item, row in zip(items, messages, strict=True)
        ]
    )
    return messages


def _shared(item: Pending) -> tuple[Any, ...]:
    return (
        item.account.pk,
        item.actor.pk,
        item.wallet.pk,
        item.from_number,
        item.status,
        item.scheduled_for,
        item.at,
        item.on_behalf_of.pk if item.on_behalf_of is not None else None,
        item.campaign_id,
        item.idempotency_key,
    )


def _one_journal_per_wallet(
    group: Sequence[Pending], holds: dict[tuple[int, str], Wallet], customer_id: int, reference: str
) -> list[Entry]:
    totals: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    wallets: dict[int, Wallet] = {}
    for item in group:
        totals[item.wallet.pk] += item.credits
        counts[item.wallet.pk] += 1
        wallets[item.wallet.pk] = item.wallet
    return [
        Entry(
            JournalTransaction.Kind.RESERVATION,
            [Leg(wallets[pk], -total), Leg(holds[(customer_id, wallets[pk].unit)], total)],
            reason=f"Reserved for sending {counts[pk]} messages",
            reference=reference,
        )
        for pk, total in totals.items()
        if total
    ]


def _dispatch_on_commit(items: Sequence[Pending], enqueue: Any) -> None:
    by_time: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for item in items:
        assert item.message is not None
        by_time[item.scheduled_for].append(item.message.pk)
    if _tasks_in_this_database():
        # Task rows in the same database: in the same transaction, durable with the messages and in
        # one commit (one fsync) instead of a second; the workers see them once it commits.
        for run_after, ids in by_time.items():
            enqueue(ids, run_after)
        return
    for run_after, ids in by_time.items():
        # Robust: the messages are committed by now; an error here would make the group look failed and
        # be written again. A task that was not enqueued is picked up by `kontor dispatch_pending`.
        transaction.on_commit(_enqueue_dispatch(enqueue, ids, run_after), robust=True)


def _tasks_in_this_database() -> bool:
    return isinstance(outbound.dispatch_messages.get_backend(), DatabaseBackend)


def _enqueue_dispatch(enqueue: Any, ids: list[int], run_after: dt.datetime | None) -> Callable[[], None]:
    # A function, not a functools.partial: Django names a failed robust callback by its __qualname__.
    def enqueue_group() -> None:
        enqueue(ids, run_after)

    return enqueue_group


def _without_opted_out(items: Sequence[Pending]) -> list[Pending]:
    """One query per account of the group; an opted-out number is refused as `plan` would."""
    by_account: dict[int, list[Pending]] = defaultdict(list)
    for item in items:
        by_account[item.account.pk].append(item)
    stopped: set[tuple[int, str]] = set()
    for group in by_account.values():
        stopped |= {
            (group[0].account.pk, phone) for phone in adapters.opted_out(group[0].account, [i.to for i in group])
        }
    kept = []
    for item in items:
        if (item.account.pk, item.to) in stopped:
            item.error = Invalid("Please correct the errors below.", fields={"to": [opted_out_message(item.to)]})
        else:
            kept.append(item)
    return kept


def _fit_credits(items: Sequence[Pending]) -> list[Pending]:
    """Keep the items the wallets' balances cover, in arrival order; the others get
    InsufficientCredits. The balances are read without a lock: the wallets are locked only by the
    ledger's conditional UPDATEs at the end of the transaction (in id order, as every posting takes
    them, so a release or settle cannot deadlock with a group), which keeps the lock, and the queue of
    groups behind it, as short as the commit. A spend that comes between the read and the UPDATE makes
    the ledger refuse the group (InsufficientCredits), and the committer writes its messages one by
    one, each then refused or written on its own."""
    ids = sorted({item.wallet.pk for item in items})
    balances = dict(Wallet.objects.filter(pk__in=ids).values_list("pk", "balance"))
    fitting = []
    for item in items:
        available = balances.get(item.wallet.pk, 0)
        if item.credits > available:
            item.error = InsufficientCredits(item.wallet, available, item.credits)
            continue
        balances[item.wallet.pk] = available - item.credits
        fitting.append(item)
    return fitting


def _shortfall(items: Sequence[Pending]) -> InsufficientCredits:
    """The first wallet that cannot cover its share of the group, with the group's totals."""
    needed: dict[int, int] = defaultdict(int)
    for item in items:
        needed[item.wallet.pk] += item.credits
    for item in items:
        if isinstance(item.error, InsufficientCredits) and item.error.wallet.pk == item.wallet.pk:
            wallet = Wallet.objects.get(pk=item.wallet.pk)
            return InsufficientCredits(wallet, wallet.balance, needed[item.wallet.pk])
    raise AssertionError("a shortfall without an item that fell short")


def _message(item: Pending) -> Message:
    return Message(
        customer_id=item.account.customer_id,
        account=item.account,
        direction=Direction.OUT,
        user=item.actor,
        on_behalf_of=item.on_behalf_of,
        from_number=item.from_number,
        to_number=item.to,
        text=item.text,
        encoding=item.encoding,
        segments=item.segments,
        credits=item.credits,
        wallet=item.wallet,
        rate_prefix=item.rate_prefix,
        operator=item.operator,
        status=item.status,
        scheduled_for=item.scheduled_for,
        campaign_id=item.campaign_id,
        idempotency_key=item.idempotency_key,
    )


# --- the committer thread ------------------------------------------------------------------------


class Committer:
    """One per process: a daemon thread that writes what the request threads hand it, in groups."""

    last_size = 0  # how many the last group held: above one, the next waits LINGER_SECONDS for more

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="kontor-group-commit", daemon=True)
        self.thread.start()

    def submit(self, item: Pending) -> None:
        self.queue.put(item)
        if not item.done.wait(WAIT_SECONDS):
            # The committer may still write it: say so rather than pretend it failed.
            raise NotConfirmed("The message was not confirmed in time; look it up before sending it again.")

    def stop(self) -> None:
        """Finish what is queued, close the thread's database connection, end the thread."""
        self.queue.put(_STOP)
        self.thread.join(WAIT_SECONDS)

    def _run(self) -> None:
        # One group holds several customers' messages in one transaction, each checked against its own
        # scope by the request that handed it over.
        rls.thread_bypass("group commit")
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                _close_connection()  # idle: give the connection back rather than hold it open
                continue
            if first is _STOP:
                _close_connection()
                return
            group = [first]
            # Under load, the requests the last group answered come back a moment later: wait that
            # moment for them, or every other group would be half the size it could be.
            deadline = time.monotonic() + (LINGER_SECONDS if self.last_size > 1 else 0.0)
            while len(group) < MAX_GROUP:
                try:
                    wait = deadline - time.monotonic()
                    item = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self.queue.put(_STOP)  # after this group
                    break
                group.append(item)
            self.last_size = len(group)
            self._write(group)

    def _write(self, group: list[Pending]) -> None:
        try:
            _drop_stale_connections()
            write_group(group)
        except BaseException:
            if len(group) > 1:
                # One bad message must not fail the others: each alone, with its own error.
                for item in group:
                    item.error = None
                    try:
                        write_group([item])
                    except BaseException:
                        log.exception("group commit: a message failed to write")
            else:
                log.exception("group commit: a message failed to write")
        finally:
            for item in group:
                item.done.set()


# Neither may raise: an exception would end the committer thread, and every request queued after it
# would wait WAIT_SECONDS for an answer, its message never written.


def _drop_stale_connections() -> None:
    try:
        close_old_connections()
    except Exception:  # the write that follows finds out whether the connection still works
        log.exception("group commit: dropping stale database connections failed")


def _close_connection() -> None:
    try:
        connection.close()
    except Exception:  # the next write opens a fresh connection
        log.exception("group commit: closing the database connection failed")


_STOP: Any = object()
_lock = threading.Lock()
_instance: Committer | None = None


def shutdown() -> None:
    """Stop this process's committer, if it runs (tests, and a server's worker exit)."""
    global _instance
    with _lock:
        running, _instance = _instance, None
    if running is not None and running.pid == os.getpid():
        running.stop()


def _committer() -> Committer:
    global _instance
    with _lock:
        # A forked worker inherits the parent's object but not its thread: start its own.
        if _instance is None or _instance.pid != os.getpid() or not _instance.thread.is_alive():
            _instance = Committer()
        return _instance
