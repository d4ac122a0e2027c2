"""Which accounts a caller may see and name by id, and act on with a permission: the visibility
helpers every view and API operation that takes an account id goes through. They need permissions, so
they are access's, above tenancy."""

from __future__ import annotations

from django.db.models import QuerySet

from kontor.access.perms import Perm
from kontor.access.selectors import perms_in_account
from kontor.core.errors import Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account


def visible_accounts(scope: Scope) -> QuerySet[Account]:
    """The accounts a caller can see and name by id, on the web and in the API alike: an API key only
    its own account; a master user every account of the customer (archived ones too); anyone else the
    accounts they are a member of. Any other account of the customer answers like a missing one."""
    qs: QuerySet[Account] = scoped(scope, Account)
    if scope.api_key is not None:
        return qs.filter(pk=scope.api_key.account_id)
    if scope.user is None:
        return qs.none()
    if scope.user.is_master and scope.user.customer_id == scope.customer.pk:
        return qs
    return qs.filter(memberships__user=scope.user)


def account_to_act_on(scope: Scope, account_id: object, perm: Perm) -> Account:
    """An account the caller may act on with `perm`: one they can see (else NotFound, 404) in which they
    hold `perm` themselves (else Forbidden, 403), whatever they hold in the account they work in. A key
    is bound to its own account and holds there the permissions of its scope."""
    account = get_scoped(scope, visible_accounts(scope), pk=account_id)
    if scope.api_key is not None:
        held = scope.has(perm)
    else:
        assert scope.user is not None
        held = perm in perms_in_account(scope.user, account)
    if not held:
        raise Forbidden(f"You need the permission “{perm.label}” in {account.name} for this.")
    return account
