"""Campaigns API: preview (writes nothing), send (credits of every recipient reserved together,
`Idempotency-Key` supported), list, and one campaign with its messages' status counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.api.filtering import filtered
from kontor.api.idempotency import Work, idempotent_write
from kontor.api.permissions import requires
from kontor.api.schemas import Input, Page, PageQuery, collect, errors, page
from kontor.contacts.models import Phonebook
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.ledger.services import sending_wallet
from kontor.messaging.filters import CampaignFilter
from kontor.messaging.models import Campaign, Message
from kontor.messaging.services import campaigns
from kontor.messaging.services import messages as services

router = Router(tags=["campaigns"])


class CampaignPreviewIn(Input):
    text: str = Field(
        ..., min_length=1, max_length=services.MAX_TEXT, description="May use the account's columns: {Name}."
    )
    phonebook_id: int | None = Field(None, description="Send to this phonebook (opted-out numbers skipped).")
    numbers: list[str] | None = Field(
        None, max_length=campaigns.MAX_NUMBERS, description="Or these numbers (no columns then)."
    )


class CampaignSendIn(CampaignPreviewIn):
    name: str = Field(..., max_length=campaigns.MAX_NAME)
    office_hours: Literal["refuse", "schedule"] = Field(
        "refuse", description="Outside office hours: refuse (409 with `next_allowed`) or schedule for then."
    )
    schedule_at: dt.datetime | None = Field(None, description="Send later (with a time zone); null: now.")


class CampaignSampleOut(Schema):
    to: str
    text: str


class CampaignOfficeHoursOut(Schema):
    allowed: bool
    next_allowed: dt.datetime | None
    reason: str


class CampaignPreviewOut(Schema):
    recipients: int
    skipped_opted_out: int
    segments_total: int
    credits_total: int
    credits_available: int | None = Field(..., description="The sending wallet's balance now.")
    encoding: str = Field(..., description="gsm7, ucs2 or mixed.")
    sample_renders: list[CampaignSampleOut]
    office_hours: CampaignOfficeHoursOut


class CampaignOut(Schema):
    id: int
    name: str
    text: str
    phonebook_id: int | None
    recipients_count: int
    segments_total: int
    credits_total: int
    status: str
    scheduled_for: dt.datetime | None
    created_by_id: int | None
    created_at: dt.datetime


class CampaignDetailOut(CampaignOut):
    status_counts: dict[str, int] = Field(..., description="Its messages by status.")


class CampaignFilters(PageQuery):
    """The campaign page's filters (kontor/messaging/filters.py), by the same names."""

    name: str | None = Field(None, max_length=120, description="Part of the name.")
    status: Literal["draft", "scheduled", "sending", "sent", "refused"] | None = None


def _sender(request: ScopedRequest) -> tuple[Scope, User]:
    scope = request.scope
    user = actor_of(request)
    if scope.account is None:
        raise Forbidden("Choose an account to send from.")
    return scope, user


def _phonebook(scope: Scope, pk: int | None) -> Phonebook | None:
    if pk is None:
        return None
    book = scoped(scope, Phonebook).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if book is None:
        collect({"phonebook_id": ["No such phonebook."]})
    return book


def _out(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "text": c.text,
        "phonebook_id": c.phonebook_id,
        "recipients_count": c.recipients_count,
        "segments_total": c.segments_total,
        "credits_total": c.credits_total,
        "status": c.status,
        "scheduled_for": c.scheduled_for,
        "created_by_id": c.created_by_id,
        "created_at": c.created_at,
    }


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=dt.UTC)
    return value


@router.post(
    "/preview",
    response={200: CampaignPreviewOut, **errors()},
    operation_id="preview_campaign",
    description="Render and price a campaign without sending: recipients, opted-out numbers skipped, "
    "segments, credits (rate card) against the balance, samples and office hours. An unknown {Column} is 422.",
)
@requires(Perm.SEND_SMS)
def preview_campaign(request: ScopedRequest, payload: CampaignPreviewIn) -> dict[str, Any]:
    scope, user = _sender(request)
    account = scope.account
    assert account is not None
    book = _phonebook(scope, payload.phonebook_id)
    p = campaigns.preview_campaign(account, text=payload.text, phonebook=book, numbers=payload.numbers)
    available: int | None
    try:
        available = sending_wallet(user, account).balance
    except DomainError:  # a user who may not consume still sees the preview
        available = None
    return {
        "recipients": p.recipients,
        "skipped_opted_out": p.skipped_opted_out,
        "segments_total": p.segments_total,
        "credits_total": p.credits_total,
        "credits_available": available,
        "encoding": p.encoding,
        "sample_renders": [{"to": to, "text": text} for to, text in p.sample_renders],
        "office_hours": {
            "allowed": p.office_hours.allowed,
            "next_allowed": p.office_hours.next_allowed,
            "reason": p.office_hours.reason,
        },
    }


@router.post(
    "",
    response={201: CampaignOut, **errors(409)},
    operation_id="send_campaign",
    description="Send a campaign. Too few credits is 409 `insufficient_credits` with the numbers, outside "
    "office hours (when refused) 409 with `next_allowed`; either way nothing is sent. Send an "
    "`Idempotency-Key` header to make retries safe.",
)
@requires(Perm.SEND_SMS)
@idempotent_write()
def send_campaign(
    request: ScopedRequest,
    payload: CampaignSendIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _sender(request)
    account = scope.account
    assert account is not None
    book = _phonebook(scope, payload.phonebook_id)

    def work() -> HttpResponse:
        campaign = campaigns.send_campaign(
            account,
            actor=user,
            name=payload.name,
            text=payload.text,
            phonebook=book,
            numbers=payload.numbers,
            office_hours=payload.office_hours,
            schedule_at=_aware(payload.schedule_at),
        )
        body = json.dumps(_out(campaign), cls=DjangoJSONEncoder)
        return HttpResponse(body, status=201, content_type="application/json")

    return work


@router.get("", response={200: Page[CampaignOut], **errors()}, operation_id="list_campaigns")
@requires(Perm.SEND_SMS)
def list_campaigns(request: ScopedRequest, filters: Query[CampaignFilters]) -> dict[str, Any]:
    """The account's campaigns, newest first."""
    qs = filtered(request, CampaignFilter, scoped(request.scope, Campaign).order_by("-created_at", "-id"), filters)
    return page(qs, filters, _out)


@router.get("/{int:campaign_id}", response={200: CampaignDetailOut, **errors(404)}, operation_id="get_campaign")
@requires(Perm.SEND_SMS)
def get_campaign(request: ScopedRequest, campaign_id: int) -> dict[str, Any]:
    """One campaign with its messages counted by status."""
    scope = request.scope
    campaign = get_scoped(scope, Campaign, pk=campaign_id)
    counts = campaigns.status_counts(campaigns.campaign_messages(scoped(scope, Message), campaign))
    return {**_out(campaign), "status_counts": counts}
