"""Which audit entries a scope may read. Accounts keep data apart, and so does their history: an entry
that happened inside an account is shown only to those who can work in that account."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from kontor.audit.models import AuditEntry
from kontor.core.scope import Scope, scoped
from kontor.tenancy.models import Membership


def visible_entries(scope: Scope) -> QuerySet[AuditEntry]:
    """Provider staff and master users: the whole customer. An API key: customer-level entries and
    those of its own account. Anyone else: customer-level entries and those of the accounts they are
    a member of (whatever their current account is)."""
    qs: QuerySet[AuditEntry] = scoped(scope, AuditEntry)
    customer_level = Q(account_id__isnull=True)
    if scope.staff:
        return qs
    if scope.api_key is not None:
        return qs.filter(customer_level | Q(account_id=scope.api_key.account_id))
    if scope.user is None:
        own = [scope.account.pk] if scope.account is not None else []
        return qs.filter(customer_level | Q(account_id__in=own))
    if scope.user.is_master and scope.user.customer_id == scope.customer.pk:
        return qs
    member_of = scoped(scope, Membership).filter(user_id=scope.user.pk).values("account_id")
    return qs.filter(customer_level | Q(account_id__in=member_of))
