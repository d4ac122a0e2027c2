"""The one way money and credits move: a balanced journal transaction of postings, with each wallet's
balance changed in the same transaction by one conditional UPDATE (never read-modify-write)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from kontor.core.errors import DomainError, ErrorCode, Invalid
from kontor.ledger.alerts import notify_low_balance
from kontor.ledger.models import SMS, JournalTransaction, Posting, Wallet

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account, Customer


class InsufficientCredits(DomainError):
    status = 409
    code = ErrorCode.INSUFFICIENT_CREDITS

    def __init__(self, wallet: Wallet, available: int, needed: int) -> None:
        unit = "credits" if wallet.unit == SMS else wallet.unit
        super().__init__(f"insufficient {unit}: {available} available, {needed} needed ({wallet})")
        self.wallet = wallet
        self.available = available
        self.needed = needed


@dataclass(frozen=True)
class Leg:
    wallet: Wallet
    delta: int  # positive: the wallet gains; negative: it loses


# --- wallets -------------------------------------------------------------------------------------


def _get_or_create(lookup: Q, **fields: object) -> Wallet:
    wallet = Wallet.objects.filter(lookup).first()
    if wallet is not None:
        return wallet  # type: ignore[no-any-return]
    try:
        with transaction.atomic():
            return Wallet.objects.create(**fields)  # type: ignore[no-any-return]
    except IntegrityError:  # created concurrently: the unique constraint picked the winner
        return Wallet.objects.get(lookup)  # type: ignore[no-any-return]


def provider_wallet(unit: str = SMS, customer: Customer | None = None) -> Wallet:
    """The provider's side of a customer's credits (or the provider's general wallet without one)."""
    return _get_or_create(
        Q(kind=Wallet.Kind.PROVIDER, unit=unit, customer=customer),
        kind=Wallet.Kind.PROVIDER,
        unit=unit,
        customer=customer,
    )


def system_wallet(customer: Customer, unit: str = SMS) -> Wallet:
    return _get_or_create(
        Q(kind=Wallet.Kind.SYSTEM, unit=unit, customer=customer),
        kind=Wallet.Kind.SYSTEM,
        unit=unit,
        customer=customer,
    )


def hold_wallet(customer: Customer, unit: str = SMS) -> Wallet:
    return _get_or_create(
        Q(kind=Wallet.Kind.HOLD, unit=unit, customer=customer),
        kind=Wallet.Kind.HOLD,
        unit=unit,
        customer=customer,
    )


def pool_wallet(account: Account, unit: str = SMS) -> Wallet:
    return _get_or_create(
        Q(kind=Wallet.Kind.POOL, unit=unit, account=account),
        kind=Wallet.Kind.POOL,
        unit=unit,
        customer_id=account.customer_id,
        account=account,
    )


def user_wallet(user: User, unit: str = SMS) -> Wallet:
    assert user.customer_id is not None, "staff users have no wallets"
    return _get_or_create(
        Q(kind=Wallet.Kind.USER, unit=unit, user=user),
        kind=Wallet.Kind.USER,
        unit=unit,
        customer_id=user.customer_id,
        user=user,
    )


# --- posting -------------------------------------------------------------------------------------


def _check_legs(legs: Sequence[Leg]) -> dict[int, int]:
    if len(legs) < 2:
        raise Invalid("A transaction needs at least two postings.")
    deltas: dict[int, int] = defaultdict(int)
    units = {leg.wallet.unit for leg in legs}
    if len(units) != 1:
        raise Invalid(f"A transaction cannot mix units ({', '.join(sorted(units))}).")
    for leg in legs:
        if not isinstance(leg.delta, int) or isinstance(leg.delta, bool) or leg.delta == 0:
            raise Invalid.field("amount", "Amounts must be whole numbers other than zero.")
        deltas[leg.wallet.pk] += leg.delta
    if sum(deltas.values()) != 0:
        raise Invalid("The postings of a transaction must sum to zero.")
    return deltas


def lock_wallets(wallet_ids: Iterable[int]) -> None:
    """Lock these wallet rows now, in the global order (id ascending), for a transaction that will post
    more than once: each `post` locks its own wallets in order, but a second one that needs a lower id
    than the first took would wait out of order and could deadlock. Locking the union first makes the
    later UPDATEs re-lock rows this transaction already holds. SQLite locks the whole database instead."""
    ids = sorted({int(pk) for pk in wallet_ids})
    if not ids or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_wallet WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [ids])
        cursor.fetchall()


def _apply(wallets: dict[int, Wallet], deltas: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Move every balance in the global lock order, wallet id ascending (hold and provider wallets
    included), so concurrent transactions cannot deadlock, each by one conditional UPDATE that refuses
    to take a customer wallet below zero. Returns {id: (before, after)}. A transaction must therefore
    move all its balances in one call (`post_many`, `post_batches`) or `lock_wallets` the union first."""
    moved: dict[int, tuple[int, int]] = {}
    for wallet_id in sorted(deltas):
        delta = deltas[wallet_id]
        if delta == 0:
            continue
        wallet = wallets[wallet_id]
        guarded = delta < 0 and wallet.kind != Wallet.Kind.PROVIDER
        sql = "UPDATE ledger_wallet SET balance = balance + %s WHERE id = %s"
        params: list[int] = [delta, wallet_id]
        if guarded:
            sql += " AND balance >= %s"
            params.append(-delta)
        with connection.cursor() as cursor:
            # RETURNING (PostgreSQL, SQLite >= 3.35) gives the new balance without a second query.
            cursor.execute(sql + " RETURNING balance", params)
            row = cursor.fetchone()
        if row is None:
            raise InsufficientCredits(wallet, Wallet.objects.get(pk=wallet_id).balance, -delta)
        after = int(row[0])
        moved[wallet_id] = (after - delta, after)
        wallet.balance = after
    return moved


@dataclass(frozen=True)
class Entry:
    """One journal transaction to write."""

    kind: str
    legs: Sequence[Leg]
    reason: str = ""
    on_behalf_of: User | None = None
    idempotency_key: str | None = None
    reference: str = ""


def post(
    kind: str,
    legs: Sequence[Leg],
    *,
    actor: User | None,
    customer: Customer | None,
    on_behalf_of: User | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    reference: str = "",
) -> JournalTransaction:
    """Write one balanced journal transaction and move the balances; all or nothing."""
    entry = Entry(kind, legs, reason, on_behalf_of, idempotency_key, reference)
    return post_many([entry], actor=actor, customer=customer)[0]


def post_many(
    entries: Sequence[Entry], *, actor: User | None, customer: Customer | None, savepoint: bool = True
) -> list[JournalTransaction]:
    """Write several journal transactions in one database transaction: each balance moves once, by its
    net change (so a batch is checked as a whole), then every posting and every header is inserted in
    one statement each. All or nothing. `savepoint=False` when nested in a transaction that a refusal
    fails as a whole anyway (two statements fewer)."""
    return post_batches([Batch(entries, actor, customer)], savepoint=savepoint)[0]


@dataclass(frozen=True)
class Batch:
    """Journal transactions of one actor and customer, for `post_batches`."""

    entries: Sequence[Entry]
    actor: User | None
    customer: Customer | None


def post_batches(batches: Sequence[Batch], *, savepoint: bool = True) -> list[list[JournalTransaction]]:
    """`post_many` for several actors or customers at once (the group commit): every balance of every
    batch moves in ONE pass in wallet-id order, never one batch after another, which would lock a lower
    id after a higher one and deadlock with a transfer. Returns each batch's journals."""
    if not batches or not all(b.entries for b in batches):
        raise Invalid("Nothing to post.")
    per_entry: list[dict[int, int]] = []
    wallets: dict[int, Wallet] = {}
    net: dict[int, int] = defaultdict(int)
    for batch in batches:
        for entry in batch.entries:
            if entry.kind not in JournalTransaction.Kind.values:
                raise Invalid(f"Unknown transaction kind “{entry.kind}”.")
            deltas = _check_legs(entry.legs)
            if not any(deltas.values()):
                raise Invalid("A transaction must move something: its postings cancel out.")
            per_entry.append(deltas)
            for leg in entry.legs:
                wallets[leg.wallet.pk] = leg.wallet
            for wallet_id, delta in deltas.items():
                net[wallet_id] += delta
    out: list[list[JournalTransaction]] = [[] for _ in batches]
    journals: list[JournalTransaction] = []
    postings: list[Posting] = []
    flat = [(index, batch, entry) for index, batch in enumerate(batches) for entry in batch.entries]
    for (index, batch, entry), deltas in zip(flat, per_entry, strict=True):
        journal = JournalTransaction(
            id=uuid.uuid4(),
            kind=entry.kind,
            customer=batch.customer,
            actor=batch.actor,
            on_behalf_of=entry.on_behalf_of,
            reason=(entry.reason or "")[:200],
            idempotency_key=entry.idempotency_key,
            reference=entry.reference[:64],
        )
        journals.append(journal)
        out[index].append(journal)
        postings += [
            Posting(
                journal_id=journal.id,
                wallet_id=wallet_id,
                customer_id=wallets[wallet_id].customer_id,
                direction=Posting.Direction.IN if delta > 0 else Posting.Direction.OUT,
                amount=abs(delta),
            )
            for wallet_id, delta in sorted(deltas.items())
            if delta != 0
        ]
    # A savepoint when nested: a refused overdraft must leave the caller's transaction usable.
    with transaction.atomic(savepoint=savepoint):
        moved = _apply(wallets, net)
        # Postings first, then the headers: the database refuses a header whose postings do not balance.
        Posting.objects.bulk_create(postings)
        JournalTransaction.objects.bulk_create(journals)
        _low_balance_alerts(wallets, moved)
    return out


def _low_balance_alerts(wallets: dict[int, Wallet], moved: dict[int, tuple[int, int]]) -> None:
    for wallet_id, (before, after) in moved.items():
        wallet = wallets[wallet_id]
        threshold = wallet.low_balance_threshold
        if threshold is not None and before > threshold >= after:
            notify_low_balance(wallet, after)
