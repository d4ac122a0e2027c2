"""Reads that need care: the provider's view across customers (staff only), and one customer's numbers
with the accounts using them, which spans that customer's accounts."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from kontor.core.errors import NotFound
from kontor.core.scope import Scope, scoped
from kontor.numbers.models import AccountNumber, Keyword, KeywordOrder, Number, UnmatchedOwner
from kontor.tenancy.models import Account

# --- provider staff ------------------------------------------------------------------------------


def inventory() -> QuerySet[Number]:
    return Number.objects.select_related("customer").annotate(account_count=Count("account_links")).order_by("value")


def number_for_staff(pk: int) -> Number:
    number = Number.objects.select_related("customer").filter(pk=pk).first()
    if number is None:
        raise NotFound("number")
    return number


def keyword_orders_for_staff() -> QuerySet[KeywordOrder]:
    return KeywordOrder.objects.select_related("number", "account", "customer", "decided_by").order_by(
        "-created_at", "-id"
    )


def order_for_staff(pk: int) -> KeywordOrder:
    order = keyword_orders_for_staff().filter(pk=pk).first()
    if order is None:
        raise NotFound("keyword order")
    return order


# --- one customer --------------------------------------------------------------------------------


@dataclass
class NumberUse:
    """One of the customer's numbers: the accounts using it, who gets unmatched messages, and the
    current account's keywords there."""

    number: Number
    accounts: list[Account] = field(default_factory=list)
    unmatched_account: Account | None = None
    keywords: list[Keyword] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        return len(self.accounts) > 1


def customer_numbers(scope: Scope) -> QuerySet[Number]:
    """The customer's assigned numbers (scoped)."""
    return scoped(scope, Number).filter(status=Number.Status.ASSIGNED).order_by("value")


def numbers_in_use(scope: Scope, numbers: list[Number] | None = None) -> list[NumberUse]:
    numbers = list(customer_numbers(scope)) if numbers is None else numbers
    uses = {n.pk: NumberUse(n) for n in numbers}
    # The links of every account of this customer: Manage Unmatched is a choice between them.
    links = AccountNumber.objects.filter(customer_id=scope.customer.pk, number_id__in=list(uses)).select_related(
        "account"
    )
    for link in links.order_by("account__name"):
        uses[link.number_id].accounts.append(link.account)
    owners = UnmatchedOwner.objects.filter(customer_id=scope.customer.pk, number_id__in=list(uses)).select_related(
        "account"
    )
    for owner in owners:
        uses[owner.number_id].unmatched_account = owner.account
    for kw in scoped(scope, Keyword).filter(number_id__in=list(uses)).order_by("word"):
        uses[kw.number_id].keywords.append(kw)
    return list(uses.values())


def current_number(scope: Scope) -> Number | None:
    link = scoped(scope, AccountNumber).select_related("number").first()
    return link.number if link else None
