"""What counts as data held by an account. Each app that stores account data registers a probe, so
deleting an account that holds any archives it instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kontor.tenancy.models import Account

AccountDataProbe = Callable[["Account"], tuple[str, int]]
_probes: list[AccountDataProbe] = []


def register_account_data(probe: AccountDataProbe) -> AccountDataProbe:
    _probes.append(probe)
    return probe


def account_data(account: Account) -> list[tuple[str, int]]:
    """[(what, how many)] for every kind of data the account holds."""
    found = [probe(account) for probe in _probes]
    return [(what, n) for what, n in found if n]
