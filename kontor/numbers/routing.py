"""Inbound (MO) routing by number and keyword, and the sender number of outbound messages. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from kontor.numbers import normalise
from kontor.numbers.models import AccountNumber, Keyword, Number, UnmatchedOwner
from kontor.tenancy.models import Account

Reason = Literal["keyword", "dedicated", "unmatched_owner", "unknown_number", "not_two_way", "no_owner"]
DEFAULT_CANNOT_RECEIVE = "The default number is not activated to receive SMS messages or allow replies on SMS messages."


@dataclass(frozen=True)
class Route:
    """Where an inbound message goes. `account` is None when nobody receives it (see `reason`).
    `is_stop`: the message opts the sender out, from `account` only."""

    account: Account | None
    number: Number | None
    keyword: str | None
    reason: Reason
    is_stop: bool = False


def route_inbound(to: str, text: str) -> Route:
    """Route a message sent to `to` (E.164, with or without "+", or short code digits).

    A keyword (the first word, any case, punctuation around it ignored) on that number takes it to the
    account that claimed it; otherwise the one account using the number (dedicated), else the number's
    Manage Unmatched account. A first word STOP/STOPP/UNSUBSCRIBE/END marks an opt-out and the rest of
    the message is routed the same way, so "STOP ACME" reaches the account owning ACME only."""
    value = normalise.inbound_address(to)
    number = Number.objects.select_related("customer").filter(value=value).first() if value else None
    if number is None:
        return Route(None, None, None, "unknown_number")
    word, rest = normalise.first_word(text)
    is_stop = word in normalise.STOP_WORDS
    if is_stop:
        word, _ = normalise.first_word(rest)
    if not number.two_way:
        return Route(None, number, None, "not_two_way", is_stop)
    if number.status != Number.Status.ASSIGNED or number.customer_id is None:
        return Route(None, number, None, "no_owner", is_stop)
    if word:
        keyword = (
            Keyword.objects.select_related("account")
            .filter(number=number, word=word, status=Keyword.Status.ACTIVE)
            .first()
        )
        if keyword is not None:
            return Route(keyword.account, number, keyword.word, "keyword", is_stop)
    users = list(AccountNumber.objects.filter(number=number).select_related("account")[:2])
    if len(users) == 1:
        return Route(users[0].account, number, None, "dedicated", is_stop)
    owner = UnmatchedOwner.objects.select_related("account").filter(number=number).first()
    if owner is not None:
        return Route(owner.account, number, None, "unmatched_owner", is_stop)
    return Route(None, number, None, "no_owner", is_stop)


def default_sender() -> str:
    """The provider's default sender, used by accounts without an activated MO number."""
    return str(getattr(settings, "KONTOR_DEFAULT_SENDER", "Kontor"))


def account_number(account: Account) -> Number | None:
    link = AccountNumber.objects.select_related("number").filter(account=account).first()
    return link.number if link else None


def sender_for(account: Account) -> tuple[str, bool]:
    """(the number messages of `account` are sent from, whether replies to it can be received): its MO
    number when it has one activated for two-way traffic, else the provider's default, which cannot."""
    number = account_number(account)
    if number is not None and number.two_way and number.status == Number.Status.ASSIGNED:
        return number.value, True
    return default_sender(), False
