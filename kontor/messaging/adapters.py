"""What messaging asks the apps below it when it sends: the sender number (numbers) and opt-outs
(contacts). Both are always installed: these are plain calls, kept in one place so that the send paths
(single, batch, group commit, fan-out) ask the same way."""

from __future__ import annotations

from dataclasses import dataclass

from kontor.contacts import services as contacts
from kontor.core import hotcache
from kontor.numbers import routing
from kontor.tenancy.models import Account


@dataclass(frozen=True)
class Sender:
    number: str
    can_receive: bool  # False for the provider's default number: replies go nowhere


def sender_for(account: Account) -> Sender:
    return hotcache.memo(("sender", account.pk), lambda: _sender_for(account))


def _sender_for(account: Account) -> Sender:
    number, can_receive = routing.sender_for(account)
    return Sender(number, can_receive)


def opted_out(account: Account, phones: list[str]) -> set[str]:
    """The numbers among `phones` (E.164) that opted out of this account's messages."""
    if not phones:
        return set()
    return set(contacts.opted_out(account, phones))


def is_opted_out(account: Account, phone: str) -> bool:
    return bool(contacts.is_opted_out(account, phone))
