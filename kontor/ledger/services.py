"""Every movement of credits: purchase, allocation, transfer, consumption, reservation, settlement,
release and refund, each one balanced journal transaction, checked against the rules, and audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from kontor.audit.services import record
from kontor.core.errors import Conflict, ErrorCode, Forbidden, Invalid
from kontor.core.retry import retried
from kontor.ledger import rules
from kontor.ledger.models import SMS, JournalTransaction, Wallet
from kontor.ledger.posting import (
    Entry,
    Leg,
    hold_wallet,
    pool_wallet,
    post,
    post_many,
    provider_wallet,
    user_wallet,
)
from kontor.tenancy.models import CreditMode

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account, Customer

MAX_AMOUNT = 100_000_000
MAX_BATCH = 1000


def checked_amount(value: Any, field: str = "amount") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid.field(field, "Enter a whole number of credits.")
    if value < 1:
        raise Invalid.field(field, "Enter at least 1 credit.")
    if value > MAX_AMOUNT:
        raise Invalid.field(field, f"At most {MAX_AMOUNT:,} credits at a time.")
    return value


def replayed_journal(
    customer: Customer, key: str | None, kind: str, legs: Sequence[Leg] | None = None
) -> JournalTransaction | None:
    """The journal already written under this idempotency key, or None. The same key for a different
    movement (another kind, other wallets or amounts) is refused rather than answered with the old one."""
    if not key:
        return None
    journal = JournalTransaction.objects.filter(customer=customer, idempotency_key=key).first()
    if journal is None:
        return None
    same = journal.kind == kind
    if same and legs is not None:
        wanted: dict[int, int] = {}
        for leg in legs:
            wanted[leg.wallet.pk] = wanted.get(leg.wallet.pk, 0) + leg.delta
        stored = {p.wallet_id: p.delta for p in journal.postings.all()}
        same = stored == {w: d for w, d in wanted.items() if d}
    if not same:
        raise Invalid(
            "This idempotency key was already used for another operation.", code=ErrorCode.IDEMPOTENCY_MISMATCH
        )
    return journal  # type: ignore[no-any-return]


def _post_once(
    kind: str, legs: Sequence[Leg], *, customer: Customer, idempotency_key: str | None, **kw: Any
) -> tuple[JournalTransaction, bool]:
    """(journal, created). A concurrent duplicate under the same key loses on the unique constraint and
    gets the winner's journal instead."""
    if not idempotency_key:
        return post(kind, legs, customer=customer, **kw), True
    existing = replayed_journal(customer, idempotency_key, kind, legs)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():  # a savepoint: losing the race on the key must not spoil the caller's transaction
            return post(kind, legs, customer=customer, idempotency_key=idempotency_key, **kw), True
    except IntegrityError:
        existing = replayed_journal(customer, idempotency_key, kind, legs)
        if existing is None:
            raise
        return existing, False


def audit_journal(
    journal: JournalTransaction, *, actor: User | None, legs: Sequence[Leg], extra: dict[str, Any] | None = None
) -> None:
    record(
        f"credits.{journal.kind}",
        journal,
        actor=actor,
        customer=journal.customer_id,
        object_type="journaltransaction",
        object_repr=f"{journal.get_kind_display()} {abs(legs[0].delta)}",
        after={
            "legs": [{"wallet": str(leg.wallet), "wallet_id": leg.wallet.pk, "delta": leg.delta} for leg in legs],
            "reason": journal.reason,
            "on_behalf_of": journal.on_behalf_of_id,
            **(extra or {}),
        },
    )


# --- transfers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    source: Wallet
    target: Wallet
    amount: int
    reason: str = ""


def resolve_transfer(actor: User, source: Wallet, target: Wallet, senders: set[int] | None = None) -> str:
    """Check the rules for moving credits from `source` to `target`; returns the journal kind."""
    customer = actor.customer
    if customer is None or source.customer_id != customer.pk or target.customer_id != customer.pk:
        raise Forbidden("No such wallet.")
    if source.pk == target.pk:
        raise Invalid.field("target", "Choose a different wallet to transfer to.")
    if source.unit != target.unit:
        raise Invalid.field("target", "Both wallets must hold the same unit.")
    kinds = {source.kind, target.kind}
    if Wallet.Kind.HOLD in kinds or Wallet.Kind.PROVIDER in kinds:
        raise Forbidden("Reserved and provider credits cannot be transferred by hand.")
    if source.kind == Wallet.Kind.USER and target.kind == Wallet.Kind.USER:
        rules.check_user_to_user(actor, source.user, target.user, senders)  # type: ignore[arg-type]
        return JournalTransaction.Kind.TRANSFER
    # Anything touching system credits or account pools is the master users' business.
    user = source.user if source.kind == Wallet.Kind.USER else target.user if target.kind == Wallet.Kind.USER else None
    rules.check_system_transfer(actor, customer, user)
    if target.kind == Wallet.Kind.USER:
        rules._check_recipient(target.user, senders)  # type: ignore[arg-type]
    return JournalTransaction.Kind.ALLOCATION if source.kind == Wallet.Kind.SYSTEM else JournalTransaction.Kind.TRANSFER


@retried()  # a page's transfer is retried like the API's; inside the API's retry it runs once
def transfer(
    source: Wallet, target: Wallet, amount: int, *, actor: User, reason: str = "", idempotency_key: str | None = None
) -> JournalTransaction:
    amount = checked_amount(amount)
    kind = resolve_transfer(actor, source, target)
    customer = actor.customer
    assert customer is not None
    with transaction.atomic():
        legs = [Leg(source, -amount), Leg(target, amount)]
        journal, created = _post_once(
            kind,
            legs,
            customer=customer,
            idempotency_key=idempotency_key,
            actor=actor,
            reason=(reason or "").strip()[:200] or f"Transfer of {amount} credits",
        )
        if created:
            audit_journal(journal, actor=actor, legs=legs)
    return journal


@dataclass(frozen=True)
class BatchResult:
    journals: list[JournalTransaction]  # one per transfer, in the order given
    created: bool


@retried()
def batch_transfer(transfers: Sequence[Transfer], *, actor: User, idempotency_key: str | None = None) -> BatchResult:
    """Up to 1,000 transfers in one database transaction: all apply or none does. Each transfer is its own
    journal transaction (so every log shows it with its counterparty); the balances move once each, by
    their net change, so the batch is checked as a whole."""
    if not transfers:
        raise Invalid.field("transfers", "Give at least one transfer.")
    if len(transfers) > MAX_BATCH:
        raise Invalid.field("transfers", f"At most {MAX_BATCH} transfers per batch.")
    customer = actor.customer
    assert customer is not None
    if idempotency_key:
        first = JournalTransaction.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
        if first is not None:
            return BatchResult(_batch_of(first, len(transfers)), False)
    senders = rules.send_sms_user_ids(
        t.target.user_id for t in transfers if t.target.kind == Wallet.Kind.USER and t.target.user_id
    )
    entries: list[Entry] = []
    errors: dict[str, list[str]] = {}
    batch_ref = f"batch:{uuid.uuid4().hex}"  # every journal of the batch carries it, with its position
    for index, item in enumerate(transfers):
        try:
            amount = checked_amount(item.amount)
            kind = resolve_transfer(actor, item.source, item.target, senders)
        except (Invalid, Forbidden) as exc:
            errors[f"transfers.{index}"] = [exc.message if not exc.fields else next(iter(exc.fields.values()))[0]]
            continue
        entries.append(
            Entry(
                kind,
                [Leg(item.source, -amount), Leg(item.target, amount)],
                reason=(item.reason or "").strip()[:200] or f"Batch transfer {index + 1} of {len(transfers)}",
                idempotency_key=idempotency_key if index == 0 else None,
                reference=f"{batch_ref}:{index}",
            )
        )
    if errors:
        raise Invalid("Some transfers are not allowed; nothing was applied.", fields=errors)
    try:
        with transaction.atomic():
            journals = post_many(entries, actor=actor, customer=customer)
            record(
                "credits.batch_transfer",
                journals[0],
                actor=actor,
                customer=customer,
                object_type="journaltransaction",
                object_repr=f"Batch of {len(transfers)} transfers",
                after={
                    "transfers": len(transfers),
                    "credits": sum(t.amount for t in transfers),
                    "journals": [str(j.pk) for j in journals[:50]],
                },
            )
    except IntegrityError:
        first = JournalTransaction.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
        if not idempotency_key or first is None:
            raise
        return BatchResult(_batch_of(first, len(transfers)), False)
    return BatchResult(journals, True)


def _batch_of(first: JournalTransaction, count: int) -> list[JournalTransaction]:
    """The journals a batch wrote under its key (the first carries the key, all share the reference)."""
    journals = [first]
    if first.reference.startswith("batch:"):
        prefix = first.reference.rsplit(":", 1)[0] + ":"
        journals = sorted(
            JournalTransaction.objects.filter(customer=first.customer, reference__startswith=prefix),
            key=lambda j: int(j.reference.rsplit(":", 1)[1]),
        )
    allowed = (JournalTransaction.Kind.TRANSFER, JournalTransaction.Kind.ALLOCATION)
    if len(journals) != count or any(j.kind not in allowed for j in journals):
        raise Invalid(
            "This idempotency key was already used for another operation.", code=ErrorCode.IDEMPOTENCY_MISMATCH
        )
    return journals


# --- sending: where credits come from, reserve → settle → release --------------------------------


def sending_wallet(sender: User, account: Account, unit: str = SMS) -> Wallet:
    """Individual mode: the sender's own wallet, whoever the message is on behalf of. Pool mode: the
    account's pool."""
    customer = account.customer
    if customer.credit_mode == CreditMode.INDIVIDUAL:
        rules.check_can_consume(sender)
        return user_wallet(sender, unit)
    return pool_wallet(account, unit)


def consume(
    sender: User,
    account: Account,
    amount: int,
    *,
    on_behalf_of: User | None = None,
    reference: str = "",
    idempotency_key: str | None = None,
) -> JournalTransaction:
    amount = checked_amount(amount)
    wallet = sending_wallet(sender, account)
    with transaction.atomic():
        legs = [Leg(wallet, -amount), Leg(provider_wallet(wallet.unit, account.customer), amount)]
        journal, created = _post_once(
            JournalTransaction.Kind.CONSUMPTION,
            legs,
            customer=account.customer,
            idempotency_key=idempotency_key,
            actor=sender,
            on_behalf_of=on_behalf_of,
            reason=f"Consumption of {amount} credits",
            reference=reference,
        )
        if created:
            audit_journal(journal, actor=sender, legs=legs)
    return journal


def reserve(wallet: Wallet, amount: int, *, actor: User | None, reference: str = "") -> JournalTransaction:
    """Set credits aside for a message in flight (wallet → the customer's hold wallet)."""
    amount = checked_amount(amount)
    customer = wallet.customer
    assert customer is not None
    return post(
        JournalTransaction.Kind.RESERVATION,
        [Leg(wallet, -amount), Leg(hold_wallet(customer, wallet.unit), amount)],
        actor=actor,
        customer=customer,
        reason="Reserved for sending",
        reference=reference,
    )


def settle(customer: Customer, amount: int, *, unit: str = SMS, reference: str = "") -> JournalTransaction:
    """The message was accepted downstream: the reserved credits are consumed (hold → provider)."""
    amount = checked_amount(amount)
    return post(
        JournalTransaction.Kind.CONSUMPTION,
        [Leg(hold_wallet(customer, unit), -amount), Leg(provider_wallet(unit, customer), amount)],
        actor=None,
        customer=customer,
        reason="Message accepted",
        reference=reference,
    )


def release(wallet: Wallet, amount: int, *, reference: str = "") -> JournalTransaction:
    """The message failed before acceptance: the reserved credits go back (hold → wallet)."""
    amount = checked_amount(amount)
    customer = wallet.customer
    assert customer is not None
    return post(
        JournalTransaction.Kind.RELEASE,
        [Leg(hold_wallet(customer, wallet.unit), -amount), Leg(wallet, amount)],
        actor=None,
        customer=customer,
        reason="Message failed: reservation released",
        reference=reference,
    )


def refund(
    wallet: Wallet, amount: int, *, actor: User | None, reason: str, idempotency_key: str | None = None
) -> JournalTransaction:
    """Give consumed credits back (provider → wallet), e.g. for a message that failed after settlement."""
    amount = checked_amount(amount)
    customer = wallet.customer
    assert customer is not None
    if not (reason or "").strip():
        raise Invalid.field("reason", "Say why the credits are refunded.")
    with transaction.atomic():
        legs = [Leg(provider_wallet(wallet.unit, customer), -amount), Leg(wallet, amount)]
        journal, created = _post_once(
            JournalTransaction.Kind.REFUND,
            legs,
            customer=customer,
            idempotency_key=idempotency_key,
            actor=actor,
            reason=reason.strip()[:200],
        )
        if created:
            audit_journal(journal, actor=actor, legs=legs)
    return journal


# --- settings ------------------------------------------------------------------------------------


@transaction.atomic
def set_low_balance_threshold(wallet: Wallet, threshold: int | None, *, actor: User) -> Wallet:
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0):
        raise Invalid.field("threshold", "Enter a whole number of credits (0 or more), or leave it empty.")
    if wallet.low_balance_threshold == threshold:
        return wallet
    before = {"low_balance_threshold": wallet.low_balance_threshold}
    Wallet.objects.filter(pk=wallet.pk).update(low_balance_threshold=threshold)
    wallet.low_balance_threshold = threshold
    record(
        "wallet.threshold",
        wallet,
        actor=actor,
        customer=wallet.customer_id,
        before=before,
        after={"low_balance_threshold": threshold},
    )
    return wallet


def ensure_not_archived(account: Account) -> None:
    if not account.is_active:
        raise Conflict("This account is archived.", code=ErrorCode.ACCOUNT_ARCHIVED)
