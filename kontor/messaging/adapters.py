"""Soft links to apps built alongside this one (numbers: the sender number; contacts: opt-outs). Each
falls back when the other app is not there yet, so sending works on its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from kontor.core import hotcache

if TYPE_CHECKING:
    from kontor.tenancy.models import Account

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sender:
    number: str
    can_receive: bool  # False for the provider's default number: replies go nowhere


def default_sender() -> Sender:
    return Sender(getattr(settings, "KONTOR_DEFAULT_SENDER", "Kontor"), False)


def sender_for(account: Account) -> Sender:
    return hotcache.memo(("sender", account.pk), lambda: _sender_for(account))


def _sender_for(account: Account) -> Sender:
    try:
        from kontor.numbers.routing import sender_for as numbers_sender_for
    except ImportError:
        return default_sender()
    found: Any = numbers_sender_for(account)
    if not found:
        return default_sender()
    if isinstance(found, tuple):  # (number, can_receive), as kontor.numbers.routing answers
        return Sender(str(found[0]), bool(found[1]))
    if isinstance(found, str):
        return Sender(found, True)
    number = getattr(found, "number", None) or getattr(found, "value", None) or str(found)
    return Sender(str(number), bool(getattr(found, "can_receive", True)))


def opted_out(account: Account, phones: list[str]) -> set[str]:
    """The numbers among `phones` (E.164) that opted out of this account's messages."""
    if not phones:
        return set()
    try:
        from kontor.contacts.services import opted_out as contacts_opted_out
    except ImportError:
        return {p for p in phones if is_opted_out(account, p)}
    return set(contacts_opted_out(account, phones))


def is_opted_out(account: Account, phone: str) -> bool:
    try:
        from kontor.contacts.services import is_opted_out as contacts_is_opted_out
    except ImportError:
        return False
    return bool(contacts_is_opted_out(account, phone))
