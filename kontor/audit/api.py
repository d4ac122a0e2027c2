"""Customer API: the customer's own audit log, newest first."""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from ninja import Field, Query, Router, Schema

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest
from kontor.api.filtering import DateRangeQuery, filtered
from kontor.api.permissions import requires
from kontor.api.schemas import Page, errors, page
from kontor.audit.filters import AuditFilter
from kontor.audit.models import AuditEntry
from kontor.audit.selectors import visible_entries
from kontor.core.scope import Scope, get_scoped

router = Router()


class AuditEntryOut(Schema):
    id: int
    created_at: datetime
    action: str = Field(..., description="e.g. `account.create`, `user.disable`.")
    actor_id: int | None
    actor: str = Field(..., description="The acting user's email, or the source (cli, job, system).")
    object_type: str
    object_id: str
    object_repr: str
    account_id: int | None
    before: Any = Field(None, description="Changed values before (an object), or null.")
    after: Any = Field(None, description="Values after (an object), or null.")
    source: str = Field(..., description="web, api, cli, job or system.")
    request_id: str
    ip: str | None


class AuditEntryFilters(DateRangeQuery):
    """The audit page's filters (kontor/audit/filters.py), by the same names."""

    action: str | None = Field(
        None, max_length=64, description="`account.create` exactly, or `account` for every account.* action."
    )
    actor: str | None = Field(None, max_length=254, description="Part of the actor's email.")
    object_type: str | None = Field(None, max_length=64, description="e.g. `account`, `user`, `apikey`.")
    q: str | None = Field(None, max_length=200, description="Part of the object's name.")


def _entries(scope: Scope) -> QuerySet[AuditEntry]:
    # A key reads only its own account's history; a user only that of the accounts they work in.
    return visible_entries(scope)


def _out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "created_at": entry.created_at,
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor": entry.actor_label,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "account_id": entry.account_id,
        "before": entry.before,
        "after": entry.after,
        "source": entry.source,
        "request_id": entry.request_id,
        "ip": entry.ip,
    }


@router.get("", response={200: Page[AuditEntryOut], **errors(422)}, operation_id="list_audit", tags=["audit"])
@requires(Perm.VIEW_AUDIT)
def list_audit(request: ScopedRequest, filters: Query[AuditEntryFilters]) -> dict[str, Any]:
    """The customer's audit log, newest first (`view_audit`): the customer-wide entries, and those
    of the accounts the caller works in (an API key: its own account; a master user: all)."""
    scope = request.scope
    qs = filtered(request, AuditFilter, _entries(scope).order_by("-created_at", "-id"), filters)
    return page(qs, filters, _out)


@router.get("/{entry_id}", response={200: AuditEntryOut, **errors(404, 422)}, operation_id="get_audit", tags=["audit"])
@requires(Perm.VIEW_AUDIT)
def get_audit(request: ScopedRequest, entry_id: int) -> dict[str, Any]:
    """One audit entry (`view_audit`)."""
    scope = request.scope
    return _out(get_scoped(scope, _entries(scope), pk=entry_id))
