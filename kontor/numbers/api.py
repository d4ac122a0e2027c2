"""Numbers API. Customers: their numbers with the accounts using them, keywords, Manage Unmatched and
keyword orders (`technical_settings` or `manage_services`). Provider staff (sessions, `staff.manage_numbers`,
tag "staff"): the inventory, assignment by subscriber ID and the keyword order queue.

Ids in a path are resolved in the caller's scope: another customer's id answers 404 like a missing one.
Ids in a body that are missing or foreign answer 422 naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, StaffRequest, actor_of
from kontor.api.filtering import filtered
from kontor.api.permissions import requires, requires_staff
from kontor.api.schemas import Input, Page, PageQuery, errors, field_names, page
from kontor.core.errors import Invalid
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.numbers import services
from kontor.numbers.filters import NumberFilter
from kontor.numbers.models import KEYWORD_MAX, Keyword, KeywordOrder, Number
from kontor.numbers.routing import sender_for
from kontor.numbers.selectors import (
    NumberUse,
    current_number,
    customer_numbers,
    inventory,
    number_for_staff,
    numbers_in_use,
    order_for_staff,
)
from kontor.tenancy.models import Account

router = Router()
PERMS = (Perm.TECHNICAL_SETTINGS, Perm.MANAGE_SERVICES)
STAFF_TAGS = ["staff"]


class NumberAccountRef(Schema):
    id: int
    name: str


class KeywordOut(Schema):
    id: int
    word: str
    number: str


class NumberUseOut(Schema):
    id: int
    value: str
    kind: str
    country: str
    two_way: bool
    accounts: list[NumberAccountRef]
    unmatched_account: NumberAccountRef | None
    keywords: list[KeywordOut] = Field(..., description="The calling account's keywords on this number.")
    is_current: bool = Field(..., description="The calling account's MO number.")


class NumberListOut(Page[NumberUseOut]):
    sender: str = Field(..., description="What the calling account's messages are sent from.")
    can_receive: bool = Field(..., description="False: the provider's default number, which cannot receive.")


class KeywordIn(Input):
    word: str = Field(..., min_length=1, max_length=KEYWORD_MAX)


class NumberUnmatchedIn(Input):
    account_id: int


class NumberUnmatchedOut(Schema):
    number: str
    account: NumberAccountRef


class NumberMoIn(Input):
    number_id: int | None = Field(None, description="null: the provider's default number (cannot receive).")


class NumberMoOut(Schema):
    number: str | None
    sender: str
    can_receive: bool


class KeywordOrderIn(Input):
    word: str = Field(..., min_length=1, max_length=KEYWORD_MAX)
    number_id: int | None = Field(None, description="A shared short code the account uses; default its MO number.")


class KeywordOrderOut(Schema):
    id: int
    number: str
    word: str
    status: str
    reason: str
    account: NumberAccountRef
    created_at: datetime
    decided_at: datetime | None


def _ref(account: Account) -> dict[str, Any]:
    return {"id": account.pk, "name": account.name}


def _keyword_out(kw: Keyword) -> dict[str, Any]:
    return {"id": kw.pk, "word": kw.word, "number": kw.number.value}


def _use_out(use: NumberUse, current: Number | None) -> dict[str, Any]:
    n = use.number
    return {
        "id": n.pk,
        "value": n.value,
        "kind": n.kind,
        "country": n.country,
        "two_way": n.two_way,
        "accounts": [_ref(a) for a in use.accounts],
        "unmatched_account": _ref(use.unmatched_account) if use.unmatched_account else None,
        "keywords": [{"id": k.pk, "word": k.word, "number": n.value} for k in use.keywords],
        "is_current": current is not None and current.pk == n.pk,
    }


def _order_out(order: KeywordOrder) -> dict[str, Any]:
    return {
        "id": order.pk,
        "number": order.number.value,
        "word": order.word,
        "status": order.status,
        "reason": order.reason,
        "account": _ref(order.account),
        "created_at": order.created_at,
        "decided_at": order.decided_at,
    }


def _account(scope: Scope) -> Account:
    assert scope.account is not None
    return scope.account


# --- customers -----------------------------------------------------------------------------------


@router.get("", response={200: NumberListOut, **errors()}, operation_id="list_numbers", tags=["numbers"])
@requires(any_of=PERMS)
def list_numbers(request: ScopedRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """The customer's numbers with the accounts using them and the calling account's keywords."""
    scope = request.scope
    current = current_number(scope)
    body = page(customer_numbers(scope), query, lambda n: n)
    uses = numbers_in_use(scope, body["items"])
    body["items"] = [_use_out(u, current) for u in uses]
    body["sender"], body["can_receive"] = sender_for(_account(scope))
    return body


@router.put("/mo-number", response={200: NumberMoOut, **errors()}, operation_id="set_mo_number", tags=["numbers"])
@requires(any_of=PERMS)
def set_mo_number(request: ScopedRequest, payload: NumberMoIn) -> dict[str, Any]:
    """Choose the calling account's MO number among the customer's numbers, or null for the default."""
    scope = request.scope
    number = None
    if payload.number_id is not None:
        number = customer_numbers(scope).filter(pk=payload.number_id).first()
        if number is None:
            raise Invalid.field("number_id", "No such number of yours.")
    with field_names({"number": "number_id"}):
        services.set_account_number(_account(scope), number, actor=actor_of(request))
    sender, can_receive = sender_for(_account(scope))
    return {"number": number.value if number else None, "sender": sender, "can_receive": can_receive}


@router.post("/keywords", response={201: KeywordOut, **errors()}, operation_id="claim_keyword", tags=["numbers"])
@requires(any_of=PERMS)
def claim_keyword(request: ScopedRequest, payload: KeywordIn) -> Status[dict[str, Any]]:
    """Claim a keyword on the account's MO number (not on short codes: order those). Taken → 422."""
    scope = request.scope
    keyword = services.claim_keyword(_account(scope), payload.word, actor=actor_of(request))
    return Status(201, _keyword_out(keyword))


@router.delete(
    "/keywords/{keyword_id}", response={204: None, **errors(404)}, operation_id="release_keyword", tags=["numbers"]
)
@requires(any_of=PERMS)
def release_keyword(request: ScopedRequest, keyword_id: int) -> Status[None]:
    scope = request.scope
    keyword = get_scoped(scope, scoped(scope, Keyword).select_related("number"), pk=keyword_id)
    services.release_keyword(keyword, actor=actor_of(request))
    return Status(204, None)


@router.put(
    "/{number_id}/unmatched-owner",
    response={200: NumberUnmatchedOut, **errors(404)},
    operation_id="set_unmatched_owner",
    tags=["numbers"],
)
@requires(any_of=PERMS)
def set_unmatched_owner(request: ScopedRequest, number_id: int, payload: NumberUnmatchedIn) -> dict[str, Any]:
    """Manage Unmatched: which account using this number receives the messages matching no keyword."""
    scope = request.scope
    number = get_scoped(scope, customer_numbers(scope), pk=number_id)
    account = scoped(scope, Account).filter(pk=payload.account_id).first()
    if account is None:
        raise Invalid.field("account_id", "No such account.")
    with field_names({"account": "account_id"}):
        services.set_unmatched_owner(number, account, actor=actor_of(request))
    return {"number": number.value, "account": _ref(account)}


@router.post(
    "/keyword-orders", response={201: KeywordOrderOut, **errors()}, operation_id="order_keyword", tags=["numbers"]
)
@requires(any_of=PERMS)
def order_keyword(request: ScopedRequest, payload: KeywordOrderIn) -> Status[dict[str, Any]]:
    """Order a keyword on a shared short code the account uses; the provider approves or rejects it."""
    scope = request.scope
    if payload.number_id is None:
        number = current_number(scope)
    else:
        number = customer_numbers(scope).filter(pk=payload.number_id).first()
    if number is None:
        raise Invalid.field("number_id", "No such number of this account.")
    with field_names({"number": "number_id"}):
        order = services.order_keyword(_account(scope), number, payload.word, actor=actor_of(request))
    return Status(201, _order_out(order))


@router.get(
    "/keyword-orders",
    response={200: Page[KeywordOrderOut], **errors()},
    operation_id="list_keyword_orders",
    tags=["numbers"],
)
@requires(any_of=PERMS)
def list_keyword_orders(request: ScopedRequest, query: Query[PageQuery]) -> dict[str, Any]:
    scope = request.scope
    qs = scoped(scope, KeywordOrder).select_related("number", "account").order_by("-created_at", "-id")
    return page(qs, query, _order_out)


# --- provider staff ------------------------------------------------------------------------------


class NumberInventoryOut(Schema):
    id: int
    value: str
    kind: str
    country: str
    operator: str
    two_way: bool
    status: str
    subscriber_id: str | None
    customer: str | None
    assigned_at: datetime | None


class NumberInventoryQuery(PageQuery):
    """The inventory page's filters (kontor/numbers/filters.py), by the same names."""

    aliases: ClassVar[dict[str, str]] = {"subscriber_id": "customer"}

    q: str | None = Field(None, max_length=30, description="Part of the number.")
    kind: Literal["short_code", "long_code", "dnis"] | None = None
    status: Literal["available", "assigned", "suspended"] | None = None
    country: str | None = Field(None, max_length=2)
    customer: str | None = Field(None, max_length=200, description="Subscriber ID (S000012) or part of the name.")
    subscriber_id: str | None = Field(None, max_length=20, deprecated=True, description="Deprecated: use `customer`.")

    @field_validator("country", mode="after")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class NumberInventoryIn(Input):
    value: str = Field(..., min_length=1, max_length=30)
    kind: Literal["short_code", "long_code", "dnis"]
    country: str = Field(..., min_length=2, max_length=2)
    operator: str = Field("", max_length=80)
    two_way: bool = False


class NumberAssignIn(Input):
    subscriber_id: str = Field(..., min_length=1, max_length=20, description="S000012 or 12")


class NumberUnassignIn(Input):
    force: bool = Field(False, description="Unassign even while accounts use it.")


class KeywordOrderRejectIn(Input):
    reason: str = Field(..., min_length=1, max_length=300)


def _inventory_out(n: Number) -> dict[str, Any]:
    return {
        "id": n.pk,
        "value": n.value,
        "kind": n.kind,
        "country": n.country,
        "operator": n.operator,
        "two_way": n.two_way,
        "status": n.status,
        "subscriber_id": n.customer.subscriber_id if n.customer else None,
        "customer": n.customer.name if n.customer else None,
        "assigned_at": n.assigned_at,
    }


@router.get(
    "/inventory",
    response={200: Page[NumberInventoryOut], **errors()},
    operation_id="staff_list_numbers",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_list_numbers(request: StaffRequest, query: Query[NumberInventoryQuery]) -> dict[str, Any]:
    qs = filtered(request, NumberFilter, inventory(), query)
    return page(qs, query, _inventory_out)


@router.post(
    "/inventory",
    response={201: NumberInventoryOut, **errors()},
    operation_id="staff_add_number",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_add_number(request: StaffRequest, payload: NumberInventoryIn) -> Status[dict[str, Any]]:
    actor = request.user
    number = services.add_number(actor=actor, **payload.model_dump())
    return Status(201, _inventory_out(number))


@router.post(
    "/inventory/{number_id}/assign",
    response={200: NumberInventoryOut, **errors(404)},
    operation_id="staff_assign_number",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_assign_number(request: StaffRequest, number_id: int, payload: NumberAssignIn) -> dict[str, Any]:
    """Assign the number to a subscriber (manual 002). Unknown subscriber or a number assigned
    elsewhere → 422."""
    actor = request.user
    number = services.assign_number(number_for_staff(number_id), payload.subscriber_id, actor=actor)
    return _inventory_out(number)


@router.post(
    "/inventory/{number_id}/unassign",
    response={200: NumberInventoryOut, **errors(404, 409)},
    operation_id="staff_unassign_number",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_unassign_number(request: StaffRequest, number_id: int, payload: NumberUnassignIn) -> dict[str, Any]:
    """Take the number back. While accounts use it: 409, unless `force`."""
    actor = request.user
    number = number_for_staff(number_id)
    if number.customer_id is None:
        raise Invalid.field("number_id", f"{number.value} is not assigned.")
    number = services.unassign_number(number, number.customer_id, actor=actor, force=payload.force)
    return _inventory_out(number)


@router.post(
    "/keyword-orders/{keyword_order_id}/approve",
    response={200: KeywordOrderOut, **errors(404, 409)},
    operation_id="staff_approve_keyword_order",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_approve_keyword_order(request: StaffRequest, keyword_order_id: int) -> dict[str, Any]:
    """Creates the keyword; 422 if the word was taken on the number meanwhile, 409 if already decided."""
    actor = request.user
    order = order_for_staff(keyword_order_id)
    services.approve_keyword_order(order, actor=actor)
    return _order_out(order_for_staff(keyword_order_id))


@router.post(
    "/keyword-orders/{keyword_order_id}/reject",
    response={200: KeywordOrderOut, **errors(404, 409)},
    operation_id="staff_reject_keyword_order",
    tags=STAFF_TAGS,
)
@requires_staff(Perm.STAFF_MANAGE_NUMBERS)
def staff_reject_keyword_order(
    request: StaffRequest, keyword_order_id: int, payload: KeywordOrderRejectIn
) -> dict[str, Any]:
    actor = request.user
    order = services.reject_keyword_order(order_for_staff(keyword_order_id), actor=actor, reason=payload.reason)
    return _order_out(order)
