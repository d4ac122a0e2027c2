"""What counts as data held by an account. Each app that stores account data registers a probe, so
deleting an account that holds any archives it instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kontor.tenancy.models import Account, CustomColumn

AccountDataProbe = Callable[["Account"], tuple[str, int]]
_probes: list[AccountDataProbe] = []


def register_account_data(probe: AccountDataProbe) -> AccountDataProbe:
    _probes.append(probe)
    return probe


def account_data(account: Account) -> list[tuple[str, int]]:
    """[(what, how many)] for every kind of data the account holds."""
    found = [probe(account) for probe in _probes]
    return [(what, n) for what, n in found if n]


# --- the values contacts hold in custom columns ----------------------------------------------------
# Contacts live above tenancy, so the column services reach the values through this door, which the
# contacts app fills in its AppConfig.ready.


class ColumnValueStore(Protocol):
    def holders(self, account: Account, column_ids: list[int]) -> dict[int, int]:
        """{column id: how many contacts of the account hold a value in it}."""
        ...

    def unconvertible(self, account: Account, column: CustomColumn, new_type: str, limit: int) -> tuple[int, list[str]]:
        """How many contacts hold a value of `column` that `new_type` cannot take, and up to `limit` of them."""
        ...

    def convert(self, account: Account, column: CustomColumn, new_type: str) -> int:
        """Rewrite the values in `new_type`'s canonical form, clearing those that do not convert (returned)."""
        ...

    def strip(self, account: Account, column_ids: list[int]) -> int:
        """Remove the values of these columns from every contact for good; returns the contacts changed."""
        ...

    def refresh_search(self, account: Account, column_ids: list[int]) -> int:
        """Re-index what "search any value" matches for the contacts holding these columns' values, now
        that they were hidden or shown again; returns the contacts changed."""
        ...


class _NoValues:
    def holders(self, account: Account, column_ids: list[int]) -> dict[int, int]:
        return {}

    def unconvertible(self, account: Account, column: CustomColumn, new_type: str, limit: int) -> tuple[int, list[str]]:
        return 0, []

    def convert(self, account: Account, column: CustomColumn, new_type: str) -> int:
        return 0

    def strip(self, account: Account, column_ids: list[int]) -> int:
        return 0

    def refresh_search(self, account: Account, column_ids: list[int]) -> int:
        return 0


_column_values: list[ColumnValueStore] = []


def register_column_values(store: ColumnValueStore) -> None:
    _column_values[:] = [store]


def column_values() -> ColumnValueStore:
    return _column_values[0] if _column_values else _NoValues()
