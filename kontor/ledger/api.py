"""Credits API: balances, the 30-day log, transfers (single and batch) and the low-balance threshold.
Quotes and purchases are billing's (kontor/billing/api.py), under the same /credits path.

Reads need `view_credits` or `send_sms`; so do writes, which the rules of manual 001 then decide for the
acting user (the signed-in user, or the API key's creator). A wallet in a path that the caller may not
manage answers 404 like a missing one. Every POST that moves credits takes an `Idempotency-Key`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.api.idempotency import Work, idempotent_write
from kontor.api.permissions import requires
from kontor.api.schemas import IDEMPOTENCY_DOC, Input, Page, PageQuery, collect, errors, field_names
from kontor.core.errors import Forbidden
from kontor.core.scope import Scope, scoped
from kontor.ledger import rules, selectors, services
from kontor.ledger.models import Wallet
from kontor.ledger.selectors import LOG_CSV_HEADER, LOG_DAYS, THRESHOLD, WalletRow
from kontor.web.lists import stream_csv

router = Router(tags=["credits"])

# --- schemas -------------------------------------------------------------------------------------


class WalletOut(Schema):
    id: int
    kind: str = Field(..., description="system, pool or user.")
    unit: str
    name: str
    balance: int
    low_balance_threshold: int | None
    user_id: int | None
    account_id: int | None
    usable: bool = Field(..., description="False when the owner lost 'Send SMS': move the credits away first.")
    note: str
    actions: list[str] = Field(
        ..., description="What the caller may do: purchase, transfer_to, transfer_from, log, threshold."
    )


class LogEntryOut(Schema):
    posting_id: int
    journal_id: uuid.UUID
    at: dt.datetime
    kind: str
    amount_in: int | None
    amount_out: int | None
    delta: int
    counterparty: str
    actor: str
    on_behalf_of: str
    reason: str
    reference: str
    balance: int = Field(..., description="The wallet's balance right after this entry.")


class LogQuery(PageQuery):
    days: int = Field(LOG_DAYS, ge=1, le=LOG_DAYS, description=f"Look back this many days (at most {LOG_DAYS}).")
    full: bool = Field(False, description="The whole history (auditors with `view_audit` only).")


class CsvQuery(Schema):
    days: int = Field(LOG_DAYS, ge=1, le=LOG_DAYS)
    full: bool = False


class TransferIn(Input):
    from_wallet_id: int
    to_wallet_id: int
    amount: int = Field(..., ge=1, le=services.MAX_AMOUNT)
    reason: str = Field("", max_length=200)


class TransferOut(Schema):
    journal_id: uuid.UUID
    from_balance: int
    to_balance: int


class BatchIn(Input):
    transfers: list[TransferIn] = Field(..., min_length=1, max_length=services.MAX_BATCH)


class BatchOut(Schema):
    journal_id: uuid.UUID = Field(..., description="The first transfer's journal transaction.")
    journal_ids: list[uuid.UUID] = Field(..., description="One journal transaction per transfer, in order.")
    count: int


class ThresholdIn(Input):
    threshold: int | None = Field(..., ge=0, le=services.MAX_AMOUNT, description="null switches the alert off.")


# --- helpers -------------------------------------------------------------------------------------


# Buying and moving credits (rules.check_credit_writer): 'View SMS credits' alone only reads.
CREDIT_WRITERS = (Perm.SEND_SMS, Perm.MANAGE_OFFICE_CREDITS)
WRITER_REFUSAL = "Buying or moving credits needs 'Send SMS' or 'Manage Office SMS Credits'."


def _caller(request: ScopedRequest) -> tuple[Scope, User]:
    user = actor_of(request)
    rules.check_credit_caller(user, request.scope.customer)
    return request.scope, user


def _wallet_out(row: WalletRow) -> dict[str, Any]:
    w = row.wallet
    return {
        "id": w.pk,
        "kind": w.kind,
        "unit": w.unit,
        "name": row.name,
        "balance": w.balance,
        "low_balance_threshold": w.low_balance_threshold,
        "user_id": w.user_id,
        "account_id": w.account_id,
        "usable": row.usable,
        "note": row.note,
        "actions": sorted(row.actions),
    }


def _since(scope: Scope, days: int, full: bool) -> dt.datetime | None:
    if full:
        if not selectors.sees_full_history(scope):
            raise Forbidden("Only auditors (view_audit) see the full history; others see the last 30 days.")
        return None
    return selectors.log_since(days=days)


def _created(body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(body, default=str), status=201, content_type="application/json")


def _body_wallets(scope: Scope, pairs: list[tuple[str, int]]) -> dict[str, Wallet]:
    """Wallets named in a body, by field name; a missing or foreign one is a field error."""
    ids = [pk for _, pk in pairs if 0 < pk < 2**63]
    found = {w.pk: w for w in scoped(scope, Wallet).filter(pk__in=ids)}
    out: dict[str, Wallet] = {}
    problems: dict[str, list[str]] = {}
    for name, pk in pairs:
        if pk in found:
            out[name] = found[pk]
        else:
            problems.setdefault(name, []).append("No such wallet.")
    collect(problems)
    return out


# --- reads ---------------------------------------------------------------------------------------


@router.get("/wallets", response={200: Page[WalletOut], **errors(422)}, operation_id="list_wallets")
@requires(any_of=rules.CREDIT_PERMS)
def list_wallets(request: ScopedRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """The wallets the caller may manage ("Manage SMS Credits", manual 001 step 2), with balances and
    the actions the rules allow on each."""
    scope, user = _caller(request)
    rows = selectors.credit_overview(scope, user).rows
    return {
        "items": [_wallet_out(r) for r in rows[query.offset : query.offset + query.limit]],
        "count": len(rows),
        "limit": query.limit,
        "offset": query.offset,
    }


@router.get("/wallets/{wallet_id}", response={200: WalletOut, **errors(404)}, operation_id="get_wallet")
@requires(any_of=rules.CREDIT_PERMS)
def get_wallet(request: ScopedRequest, wallet_id: int) -> dict[str, Any]:
    scope, user = _caller(request)
    return _wallet_out(selectors.wallet_row(scope, user, wallet_id))


@router.get(
    "/wallets/{wallet_id}/log", response={200: Page[LogEntryOut], **errors(404, 422)}, operation_id="wallet_log"
)
@requires(any_of=rules.CREDIT_PERMS)
def wallet_log(request: ScopedRequest, wallet_id: int, query: Query[LogQuery]) -> dict[str, Any]:
    """Every posting of the wallet in the last `days` days, newest first, with the running balance."""
    scope, user = _caller(request)
    row = selectors.wallet_row(scope, user, wallet_id)
    qs = selectors.log_postings(row.wallet, since=_since(scope, query.days, query.full))
    rows = selectors.log_rows(qs[query.offset : query.offset + query.limit], row.wallet, "UTC")
    items = [{**r.__dict__, "delta": r.delta} for r in rows]
    return {"items": items, "count": qs.count(), "limit": query.limit, "offset": query.offset}


@router.get("/wallets/{wallet_id}/log.csv", response={200: str, **errors(404, 422)}, operation_id="wallet_log_csv")
@requires(any_of=rules.CREDIT_PERMS)
def wallet_log_csv(request: ScopedRequest, wallet_id: int, query: Query[CsvQuery]) -> StreamingHttpResponse:
    """The same log as CSV (text/csv, streamed), oldest first, times in UTC."""
    scope, user = _caller(request)
    row = selectors.wallet_row(scope, user, wallet_id)
    rows = selectors.iter_log_rows(row.wallet, since=_since(scope, query.days, query.full), tz_name="UTC")
    stamp = timezone.now().strftime("%Y%m%d")
    return stream_csv(f"sms-credits-{row.pk}-{stamp}.csv", LOG_CSV_HEADER, (selectors.log_csv_row(r) for r in rows))


# --- writes --------------------------------------------------------------------------------------


@router.post(
    "/transfers",
    response={201: TransferOut, **errors(404, 409, 422)},
    operation_id="transfer_credits",
    description="Move credits between two wallets, as the rules of manual 001 allow the caller. Too few credits "
    "is 409 `insufficient_credits`." + IDEMPOTENCY_DOC,
)
@requires(any_of=CREDIT_WRITERS, refusal=WRITER_REFUSAL)
@idempotent_write()
def transfer_credits(
    request: ScopedRequest,
    payload: TransferIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _caller(request)
    wallets = _body_wallets(scope, [("from_wallet_id", payload.from_wallet_id), ("to_wallet_id", payload.to_wallet_id)])
    source, target = wallets["from_wallet_id"], wallets["to_wallet_id"]

    def work() -> HttpResponse:
        with field_names({"target": "to_wallet_id"}):
            journal = services.transfer(
                source, target, payload.amount, actor=user, reason=payload.reason, idempotency_key=idempotency_key
            )
        selectors.read_balances_together([source, target])  # one snapshot: the pair always adds up
        return _created({"journal_id": journal.pk, "from_balance": source.balance, "to_balance": target.balance})

    return work


@router.post(
    "/transfers/batch",
    response={201: BatchOut, **errors(404, 409, 422)},
    operation_id="batch_transfer_credits",
    description="Up to 1,000 transfers as one transaction: all apply or none does. Refused items are named in "
    "`errors` as `transfers.N`." + IDEMPOTENCY_DOC,
)
@requires(any_of=CREDIT_WRITERS, refusal=WRITER_REFUSAL)
@idempotent_write()
def batch_transfer_credits(
    request: ScopedRequest,
    payload: BatchIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _caller(request)
    ids = {t.from_wallet_id for t in payload.transfers} | {t.to_wallet_id for t in payload.transfers}
    found = {w.pk: w for w in scoped(scope, Wallet).filter(pk__in=[i for i in ids if 0 < i < 2**63])}
    problems: dict[str, list[str]] = {}
    items: list[services.Transfer] = []
    for index, t in enumerate(payload.transfers):
        source, target = found.get(t.from_wallet_id), found.get(t.to_wallet_id)
        if source is None or target is None:
            problems[f"transfers.{index}"] = ["No such wallet."]
            continue
        items.append(services.Transfer(source, target, t.amount, t.reason))
    collect(problems, "Some transfers are not allowed; nothing was applied.")

    def work() -> HttpResponse:
        result = services.batch_transfer(items, actor=user, idempotency_key=idempotency_key)
        return _created(
            {"journal_id": result.journals[0].pk, "journal_ids": [j.pk for j in result.journals], "count": len(items)}
        )

    return work


@router.put(
    "/wallets/{wallet_id}/threshold",
    response={200: WalletOut, **errors(404, 422)},
    operation_id="set_wallet_threshold",
)
@requires(any_of=rules.CREDIT_PERMS)
def set_wallet_threshold(request: ScopedRequest, wallet_id: int, payload: ThresholdIn) -> dict[str, Any]:
    """The low-balance alert: crossing it emails the owner and the master users once. Master users set it on
    any wallet they manage, others on their own."""
    scope, user = _caller(request)
    row = selectors.wallet_row(scope, user, wallet_id)
    if not row.can(THRESHOLD):
        raise Forbidden("Only master users set alerts on other people's credits; you can set your own.")
    services.set_low_balance_threshold(row.wallet, payload.threshold, actor=user)
    return _wallet_out(row)
