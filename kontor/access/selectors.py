"""Reads about access: which accounts a user reaches, with which permissions, as a Scope."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from kontor.access.models import ApiKey, User
from kontor.access.perms import CUSTOMER_PERMS, Perm
from kontor.core.scope import Scope
from kontor.tenancy.models import Account, Customer, Membership


def accounts_for(user: User) -> QuerySet[Account]:
    """The active accounts a customer user can switch to: every one for a master user."""
    if user.customer_id is None or not user.is_active:
        return Account.objects.none()
    qs = Account.objects.filter(customer_id=user.customer_id, status=Account.Status.ACTIVE)
    if not user.is_master:
        qs = qs.filter(memberships__user=user)
    return qs.order_by("name")


def perms_in_account(user: User, account: Account) -> frozenset[Perm]:
    if not user.is_active or user.customer_id != account.customer_id:
        return frozenset()
    if user.is_master:
        return CUSTOMER_PERMS
    membership = Membership.objects.filter(user=user, account=account).select_related("role").first()
    return membership.role.perm_set if membership else frozenset()


class KeyLimit(frozenset[str]):
    """An API key's permissions together with the one account the key is bound to. Passed as `within`
    to services, it caps what the key's creator may do through it: these permissions, in that account,
    and nothing in any other (a master creator holds every account, the key does not)."""

    account_id: int

    def __new__(cls, perms: Iterable[str], account_id: int) -> KeyLimit:
        limit = super().__new__(cls, perms)
        limit.account_id = account_id
        return limit


def effective_perms(user: User, account: Account, within: frozenset[str] | None = None) -> frozenset[Perm]:
    """What `user` may do in `account`, capped by `within` (an API key's permissions) when given."""
    if isinstance(within, KeyLimit) and account.pk != within.account_id:
        return frozenset()
    granted = perms_in_account(user, account)
    if within is not None:
        granted = frozenset(p for p in granted if p.value in within)
    return granted


def scope_for_user(user: User, account: Account | None) -> Scope | None:
    """The scope of a customer user in `account` (which must be one of theirs), else None."""
    if user.customer_id is None or account is None or account.customer_id != user.customer_id:
        return None
    if not account.is_active:
        return None
    perms = perms_in_account(user, account)
    if not perms and not user.is_master and not Membership.objects.filter(user=user, account=account).exists():
        return None
    return Scope(user=user, customer=account.customer, account=account, perms=frozenset(str(p) for p in perms))


def scope_for_api_key(key: ApiKey) -> Scope:
    perms = key.perm_set
    creator = key.created_by
    # A key never exceeds what its creator may still do in that account.
    if creator is not None:
        perms = perms & perms_in_account(creator, key.account)
    return Scope(
        user=creator,
        customer=key.account.customer,
        account=key.account,
        perms=frozenset(str(p) for p in perms),
        api_key=key,
    )


def staff_scope(user: User, customer: Customer) -> Scope:
    """Provider staff looking at one customer: all of its accounts, with their staff permissions."""
    return Scope(
        user=user,
        customer=customer,
        account=None,
        perms=frozenset(str(p) for p in user.staff_perms),
        staff=True,
    )
