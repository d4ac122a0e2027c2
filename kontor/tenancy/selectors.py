"""Reads about tenancy that need care: columns in bulk. Which accounts a caller may name is access's
(kontor/access/visibility.py)."""

from __future__ import annotations

from collections.abc import Iterable

from kontor.tenancy.models import CustomColumn, Customer


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
