"""Campaigns: one templated message to a phonebook (opted-out numbers skipped) or a list of numbers.

A preview renders and prices every recipient with one rate table before anything is written, so the
user sees the credits before confirming. Sending plans again (the phonebook may have changed) into a
spool, refuses outside office hours or without enough credits before anything is written, then writes
every message in bulk with one reservation journal for the campaign, in one transaction: every
reservation is made, or none. See bulk/fanout.py for how."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from kontor.audit.services import record
from kontor.contacts.models import Phonebook
from kontor.core.errors import Forbidden, Invalid
from kontor.core.retry import retried
from kontor.ledger.posting import InsufficientCredits
from kontor.ledger.services import ensure_not_archived, sending_wallet
from kontor.messaging import adapters
from kontor.messaging.bulk import fanout
from kontor.messaging.models import Campaign, Message, Status
from kontor.messaging.rules.officehours import OfficeHoursResult, window_check
from kontor.messaging.services.messages import timing

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account

MAX_NUMBERS = fanout.MAX_NUMBERS
SAMPLES = fanout.SAMPLES
MAX_NAME = 120
ACTIVE = (Status.QUEUED, Status.SCHEDULED, Status.SUBMITTED, Status.ACCEPTED)
COUNTED = ("scheduled", "queued", "submitted", "accepted", "delivered", "failed", "expired", "rejected")


@dataclass(frozen=True)
class CampaignPreview:
    recipients: int
    skipped_opted_out: int
    segments_total: int
    credits_total: int
    encoding: str  # gsm7, ucs2, or "mixed" when the renders differ
    sample_renders: list[tuple[str, str]]
    office_hours: OfficeHoursResult


def _preview(account: Account, p: fanout.Plan) -> CampaignPreview:
    return CampaignPreview(
        recipients=p.recipients,
        skipped_opted_out=p.skipped_opted_out,
        segments_total=p.segments_total,
        credits_total=p.credits_total,
        encoding=p.encoding,
        sample_renders=list(p.samples),
        office_hours=window_check(account, timezone.now()),
    )


def preview_campaign(
    account: Account, *, text: str, phonebook: Phonebook | None = None, numbers: list[str] | None = None
) -> CampaignPreview:
    """Recipients, opt-outs skipped, segments, encoding, credits and office-hours status; writes nothing.
    Invalid on "text" (unknown column, too long for someone), "phonebook" or "numbers"."""
    return _preview(account, fanout.plan(account, text, phonebook, numbers, keep=False))


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid.field("name", "Give the campaign a name.")
    if len(name) > MAX_NAME:
        raise Invalid.field("name", f"At most {MAX_NAME} characters.")
    return name


@retried()  # the fan-out reserves for many wallets; a deadlock reruns all of it, never half
def send_campaign(
    account: Account,
    *,
    actor: User,
    name: str,
    text: str,
    phonebook: Phonebook | None = None,
    numbers: list[str] | None = None,
    office_hours: str = "refuse",
    schedule_at: dt.datetime | None = None,
) -> Campaign:
    """Plan, refuse (office hours: OutsideOfficeHours; credits: InsufficientCredits with the numbers)
    before anything is written, then create the campaign and all its messages with their credits
    reserved, in one transaction; they are dispatched once committed."""
    if actor.customer_id != account.customer_id:
        raise Forbidden("Only users of this customer send from its accounts.")
    ensure_not_archived(account)
    name = _clean_name(name)
    p = fanout.plan(account, text, phonebook, numbers, keep=True)
    try:
        now = timezone.now()
        status, scheduled_for = timing(account, now=now, schedule_at=schedule_at, office_hours=office_hours)
        wallet = sending_wallet(actor, account)
        if wallet.balance < p.credits_total:
            raise InsufficientCredits(wallet, wallet.balance, p.credits_total)
        sender = adapters.sender_for(account)
        with transaction.atomic():
            campaign = Campaign.objects.create(
                customer_id=account.customer_id,
                account=account,
                name=name,
                text=str(text),
                phonebook=phonebook,
                recipients_count=p.recipients,
                segments_total=p.segments_total,
                credits_total=p.credits_total,
                status=Campaign.State.SCHEDULED if status == Status.SCHEDULED else Campaign.State.SENT,
                scheduled_for=scheduled_for,
                created_by=actor,
            )
            how = fanout.Sending(account, actor, campaign, wallet, sender.number, status, scheduled_for, now)
            ids = fanout.write(p, how)
            # Last, so the wallet rows stay locked only for the end of the transaction; a balance spent
            # meanwhile still refuses here (InsufficientCredits) and rolls everything back.
            fanout.reserve(how, p.credits_total)
            record(
                "campaign.send",
                campaign,
                actor=actor,
                customer=account.customer_id,
                account_id=account.pk,
                after={
                    "name": name,
                    "phonebook": phonebook.pk if phonebook else None,
                    "recipients": p.recipients,
                    "skipped_opted_out": p.skipped_opted_out,
                    "segments": p.segments_total,
                    "credits": p.credits_total,
                    "status": campaign.status,
                    "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
                },
                object_repr=name,
            )
            fanout.enqueue_on_commit(ids, scheduled_for)
    finally:
        p.close()
    return campaign


def status_counts(messages: QuerySet[Message]) -> dict[str, int]:
    """{status: count} of a campaign's messages (pass them already scoped), every status present."""
    counts = dict.fromkeys(COUNTED, 0)
    for row in messages.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def campaign_messages(qs: QuerySet[Message], campaign: Campaign) -> QuerySet[Message]:
    return qs.filter(account_id=campaign.account_id, campaign_id=campaign.pk)


def is_active(counts: dict[str, int]) -> bool:
    return any(counts.get(s, 0) for s in ACTIVE)
