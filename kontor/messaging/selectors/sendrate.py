"""Provider staff and an account's send rate: the account is found inside its customer (the customer from
the path first, then the account in that customer's scope), so an id of another customer's account
answers 404 like a missing one."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kontor.access.models import User
from kontor.access.selectors import staff_scope
from kontor.core.errors import NotFound
from kontor.core.scope import get_scoped, scoped
from kontor.messaging.models import SendRate
from kontor.messaging.rules.sendrate import default_rate
from kontor.tenancy.models import Account, Customer


@dataclass(frozen=True)
class SendRateView:
    account: Account
    messages_per_second: int
    is_default: bool  # no override: KONTOR_DEFAULT_SEND_RATE applies
    default: int


def staff_account(actor: User, customer_id: int, account_id: int) -> Account:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("customer")
    scope = staff_scope(actor, customer)
    return get_scoped(scope, scoped(scope, Account).select_related("customer"), pk=account_id)


def send_rate_of(actor: User, account: Account) -> SendRateView:
    scope = replace(staff_scope(actor, account.customer), account=account)
    override = scoped(scope, SendRate).values_list("messages_per_second", flat=True).first()
    default = default_rate()
    return SendRateView(account, int(override) if override else default, override is None, default)
