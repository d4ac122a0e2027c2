"""Reads that need care: which wallets a person may manage (manual 001, step 2) and what they may do
with each, and a wallet's log with an exact running balance.

Wallet visibility is decided here once, from `rules.credit_view`, and every credit page and API
operation goes through `wallet_row()`: a wallet of another customer is NotFound like a missing one, and
so is a wallet of one's own customer that one may not manage."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
    prefetch_related_objects,
)
from django.utils import timezone

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.core.errors import DomainError, NotFound
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.ledger import rules
from kontor.ledger.models import SMS, JournalTransaction, Posting, Wallet
from kontor.ledger.posting import pool_wallet, system_wallet, user_wallet
from kontor.ledger.services import resolve_transfer
from kontor.tenancy.models import Account, CreditMode

LOG_DAYS = 30

PURCHASE = "purchase"
TRANSFER_TO = "transfer_to"  # credits into this wallet
TRANSFER_FROM = "transfer_from"  # credits out of this wallet
LOG = "log"
THRESHOLD = "threshold"


def wallet_label(wallet: Wallet, user: User | None = None, account: Account | None = None) -> str:
    """A wallet's name as people say it: a user's name, "System credits", "Sales pool"."""
    if wallet.kind == Wallet.Kind.USER:
        owner = user or wallet.user
        return owner.full_name or owner.email if owner is not None else "User credits"
    if wallet.kind == Wallet.Kind.SYSTEM:
        return "System (unallocated) credits"
    if wallet.kind == Wallet.Kind.POOL:
        acc = account or wallet.account
        return f"{acc.name} (account pool)" if acc is not None else "Account pool"
    if wallet.kind == Wallet.Kind.HOLD:
        return "Reserved for messages in flight"
    return "Provider"


@dataclass
class WalletRow:
    """One line of "Manage SMS Credits"."""

    wallet: Wallet
    name: str
    user: User | None = None
    usable: bool = True  # False: the owner lost 'Send SMS' (or is inactive); credits must be moved away
    note: str = ""
    actions: set[str] = field(default_factory=set)

    @property
    def pk(self) -> int:
        return int(self.wallet.pk)

    def can(self, action: str) -> bool:
        return action in self.actions


@dataclass
class CreditOverview:
    viewer: User
    mode: str
    rows: list[WalletRow]
    system: bool  # the viewer sees the system (unallocated) credits
    office_manager: bool
    _decided: dict[tuple[Any, ...], bool] = field(default_factory=dict, repr=False)

    def may_transfer(self, source: WalletRow, target: WalletRow) -> bool:
        """The rules' answer for this pair, asked once per pair of kinds of row (see `_kind_of_row`)."""
        if source.pk == target.pk:
            return False
        key = ("transfer", _kind_of_row(self.viewer, source), _kind_of_row(self.viewer, target))
        if key not in self._decided:
            self._decided[key] = may_transfer(self.viewer, source.wallet, target.wallet)
        return self._decided[key]

    def may_purchase(self, row: WalletRow) -> bool:
        key = ("purchase", _kind_of_row(self.viewer, row))
        if key not in self._decided:
            self._decided[key] = may_purchase(self.viewer, row)
        return self._decided[key]

    @property
    def pool_mode(self) -> bool:
        return self.mode == CreditMode.POOL

    def get(self, wallet_id: Any) -> WalletRow | None:
        for row in self.rows:
            if str(row.pk) == str(wallet_id):
                return row
        return None

    @property
    def wallet_ids(self) -> set[int]:
        return {row.pk for row in self.rows}


def _kind_of_row(viewer: User, row: WalletRow) -> tuple[Any, ...]:
    """Everything the rules of manual 001 decide on about one side of a move: the wallet kind, and for
    a user's wallet whether it is the viewer's own, a team member's, in one of the viewer's offices, and
    usable (active, with 'Send SMS'). Rows alike in these are decided alike, so a page of n users asks
    the rules a handful of times instead of n² (if the rules ever weigh something else, add it here;
    the services check every real move anyway)."""
    user = row.user
    if user is None:
        return (row.wallet.kind,)
    return (
        row.wallet.kind,
        user.pk == viewer.pk,
        viewer.team_id is not None and viewer.team_id == user.team_id,
        bool(viewer.office_ids & user.office_ids),
        row.usable,
        user.is_active,
    )


def may_transfer(viewer: User, source: Wallet, target: Wallet) -> bool:
    """Would the rules let `viewer` move credits from `source` to `target`? (The service decides again.)"""
    try:
        resolve_transfer(viewer, source, target)
    except DomainError:
        return False
    return True


def may_purchase(viewer: User, row: WalletRow) -> bool:
    try:
        if row.wallet.kind == Wallet.Kind.SYSTEM and viewer.customer is not None:
            rules.check_purchase_for_system(viewer, viewer.customer)
            return True
        if row.wallet.kind == Wallet.Kind.USER and row.user is not None:
            rules.check_purchase_for_user(viewer, row.user)
            return True
    except DomainError:
        return False
    return False


def _existing_wallets(customer_id: int, kind: str, **lookup: Any) -> dict[int, Wallet]:
    key = "user_id" if kind == Wallet.Kind.USER else "account_id"
    qs = Wallet.objects.filter(customer_id=customer_id, kind=kind, unit=SMS, **lookup)
    return {getattr(w, key): w for w in qs}


def _user_rows(viewer: User, users: list[User]) -> list[WalletRow]:
    assert viewer.customer_id is not None
    existing = _existing_wallets(viewer.customer_id, Wallet.Kind.USER, user_id__in=[u.pk for u in users])
    rows = []
    for user in users:
        # A wallet is made the first time someone can act on it, so every row has an id to act on.
        wallet = existing.get(user.pk) or user_wallet(user)
        wallet.user = user  # the rules read the user (and its prefetched offices) through the wallet
        rows.append(WalletRow(wallet, wallet_label(wallet, user=user), user=user))
    return rows


def _stranded_rows(viewer: User, listed: set[int]) -> list[WalletRow]:
    """Users with credits who are not listed any more (lost 'Send SMS' or were deactivated)."""
    assert viewer.customer_id is not None
    wallets = (
        Wallet.objects.filter(customer_id=viewer.customer_id, kind=Wallet.Kind.USER, unit=SMS, balance__gt=0)
        .exclude(user_id__in=listed)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
    )
    rows = []
    for wallet in wallets:
        why = "is no longer active" if not wallet.user.is_active else "no longer has 'Send SMS'"
        rows.append(
            WalletRow(
                wallet,
                wallet_label(wallet),
                user=wallet.user,
                usable=False,
                note=f"{wallet.user.full_name or wallet.user.email} {why}: these credits cannot be used until "
                "they are transferred to someone who can send.",
            )
        )
    return rows


def _pool_rows(viewer: User, accounts: Iterable[Account], *, only_funded: bool = False) -> list[WalletRow]:
    assert viewer.customer_id is not None
    accounts = list(accounts)
    existing = _existing_wallets(viewer.customer_id, Wallet.Kind.POOL, account_id__in=[a.pk for a in accounts])
    rows = []
    for account in accounts:
        wallet = existing.get(account.pk)
        if wallet is None:
            if only_funded:
                continue
            wallet = pool_wallet(account)
        if only_funded and wallet.balance <= 0:
            continue
        note = ""
        if only_funded:
            note = "Left from account-pool mode: move these credits to the system credits to allocate them."
        rows.append(WalletRow(wallet, wallet_label(wallet, account=account), note=note))
    return rows


def credit_overview(scope: Scope, viewer: User, *, with_actions: bool = True) -> CreditOverview:
    """Every wallet `viewer` may manage, with the actions the rules allow on each."""
    customer = scope.customer
    view = rules.credit_view(viewer)
    rows: list[WalletRow] = []
    if view.system:
        wallet = system_wallet(customer)
        rows.append(WalletRow(wallet, wallet_label(wallet)))
    if customer.credit_mode == CreditMode.POOL:
        accounts = scoped(scope, Account).filter(status=Account.Status.ACTIVE)
        if not viewer.is_master:
            accounts = accounts.filter(memberships__user=viewer)
        rows += _pool_rows(viewer, accounts.order_by("name", "pk"))
    else:
        rows += _user_rows(viewer, view.users)
        if viewer.is_master:
            rows += _stranded_rows(viewer, view.user_ids)
            rows += _pool_rows(viewer, scoped(scope, Account).order_by("name", "pk"), only_funded=True)
    if scope.api_key is not None:
        # A key belongs to one account: of the account pools it reaches only its own.
        rows = [r for r in rows if r.wallet.kind != Wallet.Kind.POOL or r.wallet.account_id == scope.api_key.account_id]
    # Offices decide what office credit managers may do; load them once for everyone on the page.
    prefetch_related_objects([viewer, *(r.user for r in rows if r.user is not None)], "additional_offices")
    read_balances_together(r.wallet for r in rows)
    overview = CreditOverview(viewer, customer.credit_mode, rows, view.system, view.office_manager)
    if with_actions:
        _set_actions(overview)
    return overview


def read_balances_together(wallets: Iterable[Wallet]) -> None:
    """Set the balances of wallets shown together from ONE statement, so they come from one snapshot.
    The rows above are found by several queries (system, users, stranded, pools); a transfer that
    commits between two of them would be counted in one wallet and not yet in the other, and the page
    would show credits that do not add up."""
    wallets = list(wallets)
    if not wallets:
        return
    balances = dict(Wallet.objects.filter(pk__in={w.pk for w in wallets}).values_list("pk", "balance"))
    for wallet in wallets:
        wallet.balance = balances.get(wallet.pk, wallet.balance)


def _set_actions(overview: CreditOverview) -> None:
    viewer = overview.viewer
    # Two rows of each kind are enough to find a counterpart other than the row itself.
    samples: dict[tuple[Any, ...], list[WalletRow]] = defaultdict(list)
    for row in overview.rows:
        kind = _kind_of_row(viewer, row)
        if len(samples[kind]) < 2:
            samples[kind].append(row)
    for row in overview.rows:
        others = [
            next(r for r in rows if r.pk != row.pk) for rows in samples.values() if any(r.pk != row.pk for r in rows)
        ]
        actions = {LOG}
        if overview.may_purchase(row):
            actions.add(PURCHASE)
        if any(overview.may_transfer(row, other) for other in others):
            actions.add(TRANSFER_FROM)
        if any(overview.may_transfer(other, row) for other in others):
            actions.add(TRANSFER_TO)
        if viewer.is_master or (row.user is not None and row.user.pk == viewer.pk):
            actions.add(THRESHOLD)
        row.actions = actions


def wallet_row(scope: Scope, viewer: User, pk: Any, *, overview: CreditOverview | None = None) -> WalletRow:
    """The row of a wallet `viewer` may manage; NotFound for a foreign, missing or not visible one."""
    wallet = get_scoped(scope, Wallet, pk=pk)
    overview = overview or credit_overview(scope, viewer)
    row = overview.get(wallet.pk)
    if row is None:
        raise NotFound("wallet")
    return row


def transfer_counterparts(overview: CreditOverview, fixed: WalletRow, side: str) -> list[WalletRow]:
    """The wallets the viewer may pair with `fixed`: targets when `side` is "from" (credits leave
    `fixed`), sources when it is "to"."""
    if side == "from":
        return [r for r in overview.rows if overview.may_transfer(fixed, r)]
    return [r for r in overview.rows if overview.may_transfer(r, fixed)]


def sees_full_history(scope: Scope) -> bool:
    """Provider staff and auditors may look past the 30 days."""
    return scope.staff or scope.has(Perm.VIEW_AUDIT)


# --- the log -------------------------------------------------------------------------------------


def _delta() -> Case:
    return Case(
        When(direction=Posting.Direction.IN, then=F("amount")),
        default=Value(0) - F("amount"),
        output_field=BigIntegerField(),
    )


def log_postings(wallet: Wallet, *, since: dt.datetime | None, newest_first: bool = True) -> QuerySet[Posting]:
    """The wallet's postings from `since` (None: all), each annotated with `signed` (the delta) and `balance_after`.

    The running balance is the wallet's balance now minus the deltas posted after each row, in one
    statement (so the balance and the postings come from the same snapshot). A wallet's postings are
    numbered in the order its balance moved (its row is locked while they are written), so "after" is
    "with a higher id"; the 30-day window starts at the first posting inside it and keeps every later
    one, so no later delta can be missed whatever the clocks say."""
    qs = Posting.objects.filter(wallet_id=wallet.pk)
    if since is not None:
        first = qs.filter(created_at__gte=since).order_by("id").values_list("id", flat=True).first()
        if first is None:
            return qs.none()
        qs = qs.filter(id__gte=first)
    current = Wallet.objects.filter(pk=OuterRef("wallet_id")).values("balance")[:1]
    qs = qs.annotate(
        signed=_delta(),
        later_or_same=Window(Sum(_delta()), order_by=F("id").desc()),
        now_balance=Subquery(current, output_field=BigIntegerField()),
    ).annotate(balance_after=F("now_balance") - F("later_or_same") + F("signed"))
    return qs.select_related("journal", "journal__actor", "journal__on_behalf_of").order_by(
        "-id" if newest_first else "id"
    )


def log_since(now: dt.datetime | None = None, days: int = LOG_DAYS) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=days)


@dataclass(frozen=True)
class LogRow:
    posting_id: int
    journal_id: uuid.UUID
    at: dt.datetime  # in the viewer's time zone
    kind: str
    kind_label: str
    amount_in: int | None
    amount_out: int | None
    counterparty: str
    actor: str
    on_behalf_of: str
    reason: str
    reference: str
    balance: int

    @property
    def delta(self) -> int:
        return self.amount_in or -(self.amount_out or 0)


def _person(user: User | None) -> str:
    if user is None:
        return ""
    return user.full_name or user.email


def _counterparties(journal_ids: list[uuid.UUID], wallet_id: int, limit: int = 3) -> dict[uuid.UUID, str]:
    """The other wallet(s) of each journal, named; a big batch says how many more there are."""
    names: dict[uuid.UUID, list[str]] = defaultdict(list)
    counts: dict[uuid.UUID, int] = defaultdict(int)
    others = (
        Posting.objects.filter(journal_id__in=journal_ids)
        .exclude(wallet_id=wallet_id)
        .values_list("journal_id", "wallet_id")
        .order_by("journal_id", "id")
    )
    shown: dict[uuid.UUID, list[int]] = defaultdict(list)
    for journal_id, other_wallet in others.iterator(chunk_size=2000):
        counts[journal_id] += 1
        if len(shown[journal_id]) < limit:
            shown[journal_id].append(other_wallet)
    # Under row-level security a customer does not see the provider's side of a purchase (its posting
    # and wallet have no customer). Every journal balances, so a journal whose other side is unseen, or
    # whose other wallet is unseen, moved credits to or from the provider.
    wanted = {w for ids in shown.values() for w in ids}
    wallets = Wallet.objects.filter(pk__in=wanted).select_related("user", "account").in_bulk()
    for journal_id in journal_ids:
        ids = shown.get(journal_id)
        if not ids:
            names[journal_id], counts[journal_id] = ["Provider"], 1
        else:
            names[journal_id] = [wallet_label(wallets[w]) if w in wallets else "Provider" for w in ids]
    return {
        jid: ", ".join(names[jid]) + (f" and {counts[jid] - limit} more" if counts[jid] > limit else "")
        for jid in names
    }


def log_rows(postings: Iterable[Posting], wallet: Wallet, tz_name: str) -> list[LogRow]:
    postings = list(postings)
    try:
        tz = zoneinfo.ZoneInfo(tz_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    counter = _counterparties(list({p.journal_id for p in postings}), wallet.pk)
    rows = []
    for p in postings:
        journal: JournalTransaction = p.journal
        rows.append(
            LogRow(
                posting_id=p.pk,
                journal_id=journal.pk,
                at=p.created_at.astimezone(tz),
                kind=journal.kind,
                kind_label=journal.get_kind_display(),
                amount_in=p.amount if p.direction == Posting.Direction.IN else None,
                amount_out=p.amount if p.direction == Posting.Direction.OUT else None,
                counterparty=counter.get(journal.pk, ""),
                actor=_person(journal.actor),
                on_behalf_of=_person(journal.on_behalf_of),
                reason=journal.reason,
                reference=journal.reference,
                balance=int(p.balance_after),  # type: ignore[attr-defined]
            )
        )
    return rows


def iter_log_rows(wallet: Wallet, *, since: dt.datetime | None, tz_name: str, chunk: int = 1000) -> Iterator[LogRow]:
    """Every log row, oldest first, fetched a chunk at a time (for the CSV and the printed report)."""
    qs = log_postings(wallet, since=since, newest_first=False)
    last = 0
    while True:
        # Keyset paging: leaving out lower ids cannot change a row's running balance, which depends
        # only on the rows after it.
        batch = list(qs.filter(id__gt=last)[:chunk])
        if not batch:
            return
        yield from log_rows(batch, wallet, tz_name)
        last = batch[-1].pk


LOG_CSV_HEADER = [
    "Time",
    "Kind",
    "In",
    "Out",
    "Counterparty",
    "Actor",
    "On behalf of",
    "Reason",
    "Reference",
    "Balance",
]


def log_csv_row(row: LogRow) -> list[Any]:
    return [
        row.at.isoformat(timespec="seconds"),
        row.kind_label,
        row.amount_in,
        row.amount_out,
        row.counterparty,
        row.actor,
        row.on_behalf_of,
        row.reason,
        row.reference,
        row.balance,
    ]
