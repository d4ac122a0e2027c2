"""Reads about tenancy: customers by id or subscriber ID (staff pages), columns in bulk. Which accounts a
caller may name is access's (kontor/access/visibility.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from kontor.core.errors import NotFound
from kontor.tenancy.models import CustomColumn, Customer

_SUBSCRIBER_ID = re.compile(r"^[Ss]?0*(\d{1,12})$")


def subscriber_pk(text: str) -> int | None:
    """`S000012`, `s12` or `12` → 12; anything else → None (the inverse of Customer.subscriber_id)."""
    match = _SUBSCRIBER_ID.match((text or "").strip())
    return int(match.group(1)) if match else None


def get_customer(pk: int) -> Customer:
    """A customer by id for provider staff, who see every customer; NotFound (404) when there is none."""
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def columns_for_accounts(customer: Customer, account_ids: Iterable[int]) -> dict[int, list[CustomColumn]]:
    """The custom columns of each of `account_ids` (of `customer` only), by position, in one query.
    Every asked-for account has an entry, empty when it has no columns. The caller must have resolved
    the accounts in its own scope first: columns live inside their account."""
    wanted = list(dict.fromkeys(account_ids))
    out: dict[int, list[CustomColumn]] = {pk: [] for pk in wanted}
    if not wanted:
        return out
    rows = CustomColumn.objects.filter(customer_id=customer.pk, account_id__in=wanted).order_by(
        "account_id", "position"
    )
    for column in rows:
        out[column.account_id].append(column)
    return out
