"""Campaigns: one templated message to a phonebook (opted-out numbers skipped) or a list of numbers.

A preview renders and prices every recipient with one rate table before anything is written, so the
user sees the credits before confirming. Sending plans again (the phonebook may have changed), refuses
outside office hours or without enough credits before anything is written, then fans out with
`send_batch` in chunks inside one transaction: every reservation is made, or none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from kontor.audit.services import record
from kontor.contacts.models import Contact, Phonebook
from kontor.contacts.selectors import reachable_contacts
from kontor.contacts.templating import check_template, contact_values_by_name, render
from kontor.core.errors import Forbidden, Invalid
from kontor.core.validation import e164
from kontor.ledger.posting import InsufficientCredits
from kontor.ledger.services import ensure_not_archived, sending_wallet
from kontor.messaging import adapters, rates, services
from kontor.messaging.models import Campaign, Message, Status
from kontor.messaging.officehours import OfficeHoursResult, window_check
from kontor.tenancy.models import CustomColumn

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Account

CHUNK = services.MAX_BATCH
MAX_NUMBERS = 10_000  # a typed or pasted list; bigger audiences belong in a phonebook
SAMPLES = 3
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


def _targets(
    account: Account, text: str, phonebook: Phonebook | None, numbers: list[str] | None
) -> tuple[Iterator[tuple[str, str]], int]:
    """(phone, rendered text) per reachable recipient, and how many opted-out numbers were left out."""
    if phonebook is not None and numbers:
        raise Invalid.field("numbers", "Choose a phonebook or give numbers, not both.")
    if phonebook is None and not numbers:
        raise Invalid.field("phonebook", "Choose a phonebook or give the numbers to send to.")
    columns = list(CustomColumn.objects.filter(account=account).order_by("position"))
    used = check_template(account, text, columns)  # an unknown column stops everything here
    if phonebook is not None:
        if phonebook.account_id != account.pk:
            raise Invalid.field("phonebook", "No such phonebook.")
        reachable = reachable_contacts(phonebook)
        skipped = Contact.objects.filter(phonebook=phonebook).count() - reachable.count()

        def from_book() -> Iterator[tuple[str, str]]:
            for contact in reachable.iterator(chunk_size=2000):
                yield contact.phone, render(text, contact_values_by_name(contact, used))

        return from_book(), skipped
    assert numbers is not None
    if used:
        raise Invalid.field("text", "Columns such as {" + used[0].name + "} can be used only with a phonebook.")
    if len(numbers) > MAX_NUMBERS:
        raise Invalid.field("numbers", f"At most {MAX_NUMBERS:,} numbers; use a phonebook for more.")
    cleaned: dict[str, None] = {}
    bad: list[str] = []
    for index, raw in enumerate(numbers, start=1):
        try:
            cleaned[e164(str(raw or ""), region=account.customer.country, field="numbers")] = None
        except Invalid:
            bad.append(f"line {index} ({str(raw)[:40]})")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise Invalid.field("numbers", f"Not valid mobile numbers: {', '.join(bad[:5])}{more}.")
    stopped = adapters.opted_out(account, list(cleaned))
    return ((phone, text) for phone in cleaned if phone not in stopped), len(stopped)


def _plan_all(
    account: Account, text: str, phonebook: Phonebook | None, numbers: list[str] | None
) -> tuple[CampaignPreview, list[services.Plan]]:
    text = str(text or "")
    if not text.strip():
        raise Invalid.field("text", "Write a message.")
    targets, skipped = _targets(account, text, phonebook, numbers)
    table = rates.RateTable()
    plans: list[services.Plan] = []
    for phone, rendered in targets:
        try:
            plans.append(services.plan(account, phone, rendered, table=table, check_opt_out=False))
        except Invalid as exc:
            problems = [f"{phone}: {p}" for ps in exc.fields.values() for p in ps]
            raise Invalid.field("text", problems[0] if problems else f"{phone}: not valid.") from None
    if not plans:
        field = "phonebook" if phonebook is not None else "numbers"
        raise Invalid.field(field, "No one to send to: every number has opted out, or there are none.")
    encodings = {p.encoding for p in plans}
    preview = CampaignPreview(
        recipients=len(plans),
        skipped_opted_out=skipped,
        segments_total=sum(p.segments for p in plans),
        credits_total=sum(p.credits for p in plans),
        encoding=encodings.pop() if len(encodings) == 1 else "mixed",
        sample_renders=[(p.to, p.text) for p in plans[:SAMPLES]],
        office_hours=window_check(account, timezone.now()),
    )
    return preview, plans


def preview_campaign(
    account: Account, *, text: str, phonebook: Phonebook | None = None, numbers: list[str] | None = None
) -> CampaignPreview:
    """Recipients, opt-outs skipped, segments, encoding, credits and office-hours status; writes nothing.
    Invalid on "text" (unknown column, too long for someone), "phonebook" or "numbers"."""
    return _plan_all(account, text, phonebook, numbers)[0]


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid.field("name", "Give the campaign a name.")
    if len(name) > MAX_NAME:
        raise Invalid.field("name", f"At most {MAX_NAME} characters.")
    return name


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
    preview, plans = _plan_all(account, text, phonebook, numbers)
    status, scheduled_for = services.timing(
        account, now=timezone.now(), schedule_at=schedule_at, office_hours=office_hours
    )
    wallet = sending_wallet(actor, account)
    if wallet.balance < preview.credits_total:
        raise InsufficientCredits(wallet, wallet.balance, preview.credits_total)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            customer_id=account.customer_id,
            account=account,
            name=name,
            text=str(text),
            phonebook=phonebook,
            recipients_count=preview.recipients,
            segments_total=preview.segments_total,
            credits_total=preview.credits_total,
            status=Campaign.State.SCHEDULED if status == Status.SCHEDULED else Campaign.State.SENT,
            scheduled_for=scheduled_for,
            created_by=actor,
        )
        for start in range(0, len(plans), CHUNK):
            services.send_batch(
                account,
                actor=actor,
                messages=[(p.to, p.text) for p in plans[start : start + CHUNK]],
                # The time was settled above; each chunk gets the same one.
                schedule_at=scheduled_for,
                office_hours=office_hours,
                campaign_id=campaign.pk,
            )
        record(
            "campaign.send",
            campaign,
            actor=actor,
            customer=account.customer_id,
            account_id=account.pk,
            after={
                "name": name,
                "phonebook": phonebook.pk if phonebook else None,
                "recipients": preview.recipients,
                "skipped_opted_out": preview.skipped_opted_out,
                "segments": preview.segments_total,
                "credits": preview.credits_total,
                "status": campaign.status,
                "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
            },
            object_repr=name,
        )
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
