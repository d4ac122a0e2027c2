"""Messages API: send one or a batch (credits reserved at once, `Idempotency-Key` supported), search the
account's transactions (Support keys: by mobile number only), one message with its status history, and
a streamed CSV export."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Header, Query, Router, Schema

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.api.filtering import DateRange, filter_data, filtered
from kontor.api.idempotency import Work, idempotent_write
from kontor.api.permissions import requires
from kontor.api.schemas import Input, Page, PageQuery, collect, errors, page
from kontor.core.errors import Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.messaging.filters import MessageFilter
from kontor.messaging.models import Message
from kontor.messaging.services import messages as services
from kontor.messaging.tables import MessageTable
from kontor.web.export import table_csv

router = Router(tags=["messages"])

IDEMPOTENCY_DOC = (
    " Send an `Idempotency-Key` header (1 to 100 characters) to make retries safe: the same key and body "
    "return the first response again; the same key with another body is 422 `idempotency_key_reused`."
)

StatusName = Literal[
    "queued", "scheduled", "submitted", "accepted", "delivered", "failed", "expired", "rejected", "received"
]

# --- schemas -------------------------------------------------------------------------------------


class SmsSendIn(Input):
    to: str = Field(
        ..., min_length=1, max_length=40, description="Mobile number; national numbers use the customer's country."
    )
    text: str = Field(..., min_length=1, max_length=services.MAX_TEXT)
    schedule_at: dt.datetime | None = Field(None, description="Send later (with a time zone); null: now.")
    office_hours: Literal["refuse", "schedule"] = Field(
        "refuse",
        description="For office-hours-only accounts outside the window: refuse (409 with `next_allowed`) or "
        "schedule for the next allowed time.",
    )
    on_behalf_of_id: int | None = Field(None, description="A user of the customer this message is sent for.")


class SmsBatchItem(Input):
    to: str = Field(..., min_length=1, max_length=40)
    text: str = Field(..., min_length=1, max_length=services.MAX_TEXT)


class SmsBatchIn(Input):
    messages: list[SmsBatchItem] = Field(..., min_length=1, max_length=services.MAX_BATCH)
    schedule_at: dt.datetime | None = None
    office_hours: Literal["refuse", "schedule"] = "refuse"


class MessageOut(Schema):
    id: int
    direction: str
    user_id: int | None
    on_behalf_of_id: int | None
    from_number: str
    to_number: str
    text: str
    encoding: str = Field(..., description="gsm7 or ucs2.")
    segments: int
    credits: int = Field(..., description="Reserved, then charged; given back if the message fails.")
    operator: str
    status: str
    error_code: str
    error_text: str
    scheduled_for: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class MessageEventOut(Schema):
    status: str
    at: dt.datetime
    detail: dict[str, Any]


class MessageDetailOut(MessageOut):
    connector: str | None = Field(..., description="With `troubleshoot_transactions` only.")
    downstream_id: str | None = Field(..., description="With `troubleshoot_transactions` only.")
    attempts: int | None
    events: list[MessageEventOut] | None = Field(..., description="Each status change with its time.")


class SmsBatchOut(Schema):
    count: int
    credits: int
    messages: list[MessageOut]


class MessageCsvQuery(DateRange):
    """The transaction page's filters (kontor/messaging/filters.py), by the same names."""

    mobile: str | None = Field(None, max_length=40, description="Messages to or from this number.")
    status: StatusName | None = None
    direction: Literal["out", "in"] | None = None
    q: str | None = Field(None, max_length=200, description="Words in the message text.")


class MessageFilters(PageQuery, MessageCsvQuery):
    """The same filters, and paging."""


# --- helpers -------------------------------------------------------------------------------------


def _out(m: Message) -> dict[str, Any]:
    return {
        "id": m.pk,
        "direction": m.direction,
        "user_id": m.user_id,
        "on_behalf_of_id": m.on_behalf_of_id,
        "from_number": m.from_number,
        "to_number": m.to_number,
        "text": m.text,
        "encoding": m.encoding,
        "segments": m.segments,
        "credits": m.credits,
        "operator": m.operator,
        "status": m.status,
        "error_code": m.error_code,
        "error_text": m.error_text,
        "scheduled_for": m.scheduled_for,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def _created(body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=201, content_type="application/json")


def _sender(request: ScopedRequest) -> tuple[Scope, User]:
    scope = request.scope
    user = actor_of(request)
    if scope.account is None:
        raise Forbidden("Choose an account to send from.")
    return scope, user


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=dt.UTC)
    return value


# Searching: everything, or (Support) by mobile number only.
SEARCH = (Perm.SEARCH_TRANSACTIONS, Perm.SEARCH_BY_MOBILE)


def _search(request: ScopedRequest, f: MessageFilters | MessageCsvQuery) -> QuerySet[Message]:
    scope = request.scope
    qs = scoped(scope, Message).order_by("-created_at", "-id")
    if not scope.has(Perm.SEARCH_TRANSACTIONS):
        if any(name != "mobile" for name in filter_data(f)):
            raise Forbidden("You may search by mobile number only.")
        if not f.mobile:
            collect({"mobile": ["Give the mobile number to search for."]})
    return filtered(request, MessageFilter, qs, f)


# --- writes --------------------------------------------------------------------------------------


@router.post(
    "",
    response={201: MessageOut, **errors(404, 409)},
    operation_id="send_message",
    description="Send one SMS. Its credits (rate card × segments) are reserved from the sender's wallet "
    "(individual mode) or the account pool at once; too few is 409 `insufficient_credits`, outside office "
    "hours (when refused) 409 `conflict` with `next_allowed`." + IDEMPOTENCY_DOC,
)
@requires(Perm.SEND_SMS)
@idempotent_write()
def send_message(
    request: ScopedRequest,
    payload: SmsSendIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _sender(request)
    account = scope.account
    assert account is not None
    behalf: User | None = None
    if payload.on_behalf_of_id is not None:
        pk = payload.on_behalf_of_id
        behalf = scoped(scope, User).filter(pk=pk).first() if 0 < pk < 2**63 else None
        if behalf is None:
            collect({"on_behalf_of_id": ["No such user."]})

    def work() -> HttpResponse:
        message = services.send_message(
            account,
            actor=user,
            to=payload.to,
            text=payload.text,
            on_behalf_of=behalf,
            schedule_at=_aware(payload.schedule_at),
            office_hours=payload.office_hours,
            idempotency_key=idempotency_key,
        )
        return _created(_out(message))

    return work


@router.post(
    "/batch",
    response={201: SmsBatchOut, **errors(409)},
    operation_id="send_message_batch",
    description="Up to 1,000 messages, all or nothing: a bad item is named in `errors` as `messages.N.to` or "
    "`messages.N.text` and nothing is sent; the credits of all are reserved together." + IDEMPOTENCY_DOC,
)
@requires(Perm.SEND_SMS)
@idempotent_write()
def send_message_batch(
    request: ScopedRequest,
    payload: SmsBatchIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Work:
    scope, user = _sender(request)
    account = scope.account
    assert account is not None

    def work() -> HttpResponse:
        rows = services.send_batch(
            account,
            actor=user,
            messages=[(m.to, m.text) for m in payload.messages],
            schedule_at=_aware(payload.schedule_at),
            office_hours=payload.office_hours,
        )
        return _created(
            {"count": len(rows), "credits": sum(m.credits for m in rows), "messages": [_out(m) for m in rows]}
        )

    return work


# --- reads ---------------------------------------------------------------------------------------


@router.get("", response={200: Page[MessageOut], **errors()}, operation_id="list_messages")
@requires(any_of=SEARCH)
def list_messages(request: ScopedRequest, filters: Query[MessageFilters]) -> dict[str, Any]:
    """The account's transactions, newest first. With only `search_by_mobile` (Support), `mobile` is required
    and the other filters are refused."""
    qs = _search(request, filters)
    return page(qs, filters, _out)


@router.get("/export.csv", response={200: str, **errors()}, operation_id="export_messages_csv")
@requires(Perm.EXPORT_TRANSACTIONS, any_of=SEARCH)
def export_messages_csv(request: ScopedRequest, filters: Query[MessageCsvQuery]) -> StreamingHttpResponse:
    """The filtered transactions as CSV (text/csv, streamed), newest first."""
    # Exporting is its own permission (manual 003); what is exported is what the caller may search.
    qs = _search(request, filters).select_related("user")
    return table_csv(f"transactions-{timezone.now():%Y%m%d-%H%M}.csv", MessageTable, qs)


@router.get("/{int:message_id}", response={200: MessageDetailOut, **errors(404)}, operation_id="get_message")
@requires(any_of=(Perm.SEARCH_TRANSACTIONS, Perm.TROUBLESHOOT_TRANSACTIONS))
def get_message(request: ScopedRequest, message_id: int) -> dict[str, Any]:
    """One transaction; connector, downstream id and the status history with `troubleshoot_transactions`."""
    scope = request.scope
    m = get_scoped(scope, Message, pk=message_id)
    technical = scope.has(Perm.TROUBLESHOOT_TRANSACTIONS)
    events = [{"status": e.status, "at": e.at, "detail": e.detail} for e in m.events.all()] if technical else None
    return {
        **_out(m),
        "connector": m.connector if technical else None,
        "downstream_id": m.downstream_id if technical else None,
        "attempts": m.attempts if technical else None,
        "events": events,
    }


# Campaigns have their own module; mounted here so that they share the /messages prefix.
from kontor.messaging.api.campaigns import router as campaigns_router  # noqa: E402

router.add_router("/campaigns", campaigns_router)
