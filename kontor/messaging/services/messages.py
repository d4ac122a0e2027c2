"""Sending: validate, check office hours, price from the rate card, reserve the credits and create the
message in one transaction, then hand it to a worker once committed (delivery/outbound.py, enqueue_dispatch).

No audit row per message: the message itself, its MessageEvents and the ledger journals (each carrying
`message:<id>` as reference) are the record."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError
from django.utils import timezone

from kontor.core import hotcache
from kontor.core.errors import DomainError, ErrorCode, Forbidden, Invalid
from kontor.core.validation import e164
from kontor.ledger.services import ensure_not_archived, sending_wallet
from kontor.messaging import adapters
from kontor.messaging.bulk import groupcommit
from kontor.messaging.models import Message, Status
from kontor.messaging.rules import encoding, ratecard
from kontor.messaging.rules.officehours import window_check
from kontor.messaging.rules.text import MAX_TEXT, max_segments, opted_out_message

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.ledger.models import Wallet
    from kontor.tenancy.models import Account

MAX_BATCH = 1000
MAX_SCHEDULE_AHEAD = dt.timedelta(days=366)
OFFICE_HOURS_CHOICES = ("refuse", "schedule")


class OutsideOfficeHours(DomainError):
    """The account sends only in office hours and `at` is outside them; `next_allowed` says when."""

    status = 409
    code = ErrorCode.CONFLICT

    def __init__(self, reason: str, next_allowed: dt.datetime | None, time_zone: str) -> None:
        when = ""
        if next_allowed is not None:
            when = f" The next allowed time is {next_allowed:%A %Y-%m-%d %H:%M} ({time_zone})."
        super().__init__(f"{reason}.{when}", fields={"office_hours": [f"{reason}.{when}"]})
        self.next_allowed = next_allowed

    def problem(self) -> dict[str, object]:
        body = super().problem()
        body["next_allowed"] = self.next_allowed.isoformat() if self.next_allowed else None
        return body


@dataclass(frozen=True)
class Plan:
    """One message, validated and priced, not yet written."""

    to: str
    text: str
    encoding: str
    segments: int
    credits: int
    rate_prefix: str
    operator: str


def plan(
    account: Account, to: str, text: str, *, table: ratecard.RateTable | None = None, check_opt_out: bool = True
) -> Plan:
    """Validate and price one message (Invalid names the field: `to` or `text`)."""
    errors: dict[str, list[str]] = {}
    number = ""
    try:
        number = e164(str(to or ""), region=account.customer.country, field="to")
    except Invalid as exc:
        errors.update(exc.fields)
    text = str(text or "")
    info = _analysed(text)
    if not text.strip():
        errors["text"] = ["Write a message."]
    elif len(text) > MAX_TEXT or info.segments > max_segments():
        errors["text"] = [
            f"The message is too long: {info.segments} segments ({info.encoding_label}); at most "
            f"{max_segments()} are allowed."
        ]
    if check_opt_out and number and "to" not in errors and adapters.is_opted_out(account, number):
        errors["to"] = [opted_out_message(number)]
    if errors:
        raise Invalid("Please correct the errors below.", fields=errors)
    credits, entry = (table or ratecard.current()).price(number, info.segments)
    return Plan(number, text, info.encoding, info.segments, credits, entry.prefix, entry.operator)


@functools.lru_cache(maxsize=1024)
def _analysed(text: str) -> encoding.SmsInfo:
    # Pure, and batches and bulk senders repeat their texts: worth reusing within a process.
    return encoding.analyse(text)


def timing(
    account: Account, *, now: dt.datetime, schedule_at: dt.datetime | None, office_hours: str
) -> tuple[str, dt.datetime | None]:
    """(status, scheduled_for): queued now, or scheduled for a later time (asked for, or the next
    office-hours window when the user chose to schedule rather than be refused)."""
    if office_hours not in OFFICE_HOURS_CHOICES:
        raise Invalid.field("office_hours", "Choose “refuse” or “schedule”.")
    when = now
    if schedule_at is not None:
        if timezone.is_naive(schedule_at):
            raise Invalid.field("schedule_at", "Give the time with its time zone.")
        if schedule_at > now + MAX_SCHEDULE_AHEAD:
            raise Invalid.field("schedule_at", "Schedule at most a year ahead.")
        when = max(schedule_at, now)
    check = window_check(account, when)
    if not check.allowed:
        if office_hours == "refuse" or check.next_allowed is None:
            raise OutsideOfficeHours(check.reason, check.next_allowed, account.customer.time_zone)
        when = check.next_allowed
    if when > now:
        return Status.SCHEDULED, when
    return Status.QUEUED, None


def _check_actor(account: Account, actor: User, on_behalf_of: User | None) -> None:
    if actor.customer_id != account.customer_id:
        raise Forbidden("Only users of this customer send from its accounts.")
    if on_behalf_of is not None and on_behalf_of.customer_id != account.customer_id:
        raise Invalid.field("on_behalf_of", "No such user.")
    ensure_not_archived(account)


def _replayed(account: Account, key: str, to: str, text: str) -> Message | None:
    found: Message | None = Message.objects.filter(customer_id=account.customer_id, idempotency_key=key).first()
    if found is None:
        return None
    if found.account_id != account.pk or found.text != text or found.to_number != to:
        raise Invalid("This idempotency key was already used for another message.", code=ErrorCode.IDEMPOTENCY_MISMATCH)
    return found


def send_message(
    account: Account,
    *,
    actor: User,
    to: str,
    text: str,
    on_behalf_of: User | None = None,
    schedule_at: dt.datetime | None = None,
    office_hours: str = "refuse",
    idempotency_key: str | None = None,
) -> Message:
    """Create one outbound message with its credits reserved, and dispatch it once committed.
    Insufficient credits raise the ledger's InsufficientCredits (409) and nothing is created."""
    _check_actor(account, actor, on_behalf_of)
    key = (idempotency_key or "").strip() or None
    if key is not None and len(key) > 100:
        raise Invalid.field("idempotency_key", "At most 100 characters.")
    p = plan(account, to, text, check_opt_out=False)  # checked when written, for a group at once
    if key is not None and (earlier := _replayed(account, key, p.to, p.text)) is not None:
        return earlier
    now = timezone.now()
    status, scheduled_for = timing(account, now=now, schedule_at=schedule_at, office_hours=office_hours)
    wallet = hotcache.memo(("wallet", actor.pk, account.pk), lambda: sending_wallet(actor, account))
    sender = adapters.sender_for(account)
    pending = _pending(
        p, account, actor, wallet, sender.number, status, scheduled_for, now, on_behalf_of, idempotency_key=key
    )
    try:
        return groupcommit.commit(pending)
    except IntegrityError:
        # A concurrent request with the same key won: answer with its message.
        if key is None or (earlier := _replayed(account, key, p.to, p.text)) is None:
            raise
        return earlier


def _pending(
    p: Plan,
    account: Account,
    actor: User,
    wallet: Wallet,
    from_number: str,
    status: str,
    scheduled_for: dt.datetime | None,
    now: dt.datetime,
    on_behalf_of: User | None,
    **extra: Any,
) -> groupcommit.Pending:
    """A planned message, ready for groupcommit to write."""
    return groupcommit.Pending(
        account=account,
        actor=actor,
        wallet=wallet,
        from_number=from_number,
        to=p.to,
        text=p.text,
        encoding=p.encoding,
        segments=p.segments,
        credits=p.credits,
        rate_prefix=p.rate_prefix,
        operator=p.operator,
        status=status,
        scheduled_for=scheduled_for,
        at=now,
        on_behalf_of=on_behalf_of,
        **extra,
    )


def send_batch(
    account: Account,
    *,
    actor: User,
    messages: Sequence[tuple[str, str]],
    on_behalf_of: User | None = None,
    schedule_at: dt.datetime | None = None,
    office_hours: str = "refuse",
    campaign_id: int | None = None,
) -> list[Message]:
    """Up to 1,000 messages, all or nothing: every item is validated first (errors name `messages.N.to`
    / `messages.N.text`), then the messages, one reservation journal for all of them (reference
    `batch:<uuid>`) and their first events are written in one transaction, and dispatched once
    committed."""
    _check_actor(account, actor, on_behalf_of)
    if not messages:
        raise Invalid.field("messages", "Give at least one message.")
    if len(messages) > MAX_BATCH:
        raise Invalid.field("messages", f"At most {MAX_BATCH} messages per batch.")
    indexed: list[tuple[int, Plan]] = []
    errors: dict[str, list[str]] = {}
    table = ratecard.RateTable()
    for index, (to, text) in enumerate(messages):
        try:
            indexed.append((index, plan(account, to, text, table=table, check_opt_out=False)))
        except Invalid as exc:
            for name, problems in exc.fields.items():
                errors[f"messages.{index}.{name}"] = problems
    stopped = adapters.opted_out(account, sorted({p.to for _, p in indexed}))
    for index, p in indexed:
        if p.to in stopped:
            errors[f"messages.{index}.to"] = [opted_out_message(p.to)]
    plans = [p for _, p in indexed]
    if errors:
        raise Invalid("Some messages are not valid; nothing was sent.", fields=errors)
    now = timezone.now()
    status, scheduled_for = timing(account, now=now, schedule_at=schedule_at, office_hours=office_hours)
    wallet = sending_wallet(actor, account)
    sender = adapters.sender_for(account)
    items = [
        _pending(
            p, account, actor, wallet, sender.number, status, scheduled_for, now, on_behalf_of, campaign_id=campaign_id
        )
        for p in plans
    ]
    # One reservation journal for the batch: settle, release and refund stay per message (they need
    # only its credits and wallet) and the hold-balance check counts messages, not journals.
    groupcommit.write_group(items, all_or_nothing=True, check_opt_outs=False, reservation=f"batch:{uuid.uuid4().hex}")
    return [item.message for item in items if item.message is not None]
