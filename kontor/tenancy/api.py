"""Customer API: the caller (/me), accounts, cost centers, offices, teams and the IP allowlist.

Ids in a path are resolved in the caller's scope, so another customer's id answers 404 exactly like a
missing one. Ids inside a body (`cost_center_id`, `office_id`) that are missing or foreign answer 422
with a field error naming them; so does `mo_number_id` when it names no activated number of the customer."""

from dataclasses import replace
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.access.selectors import accounts_for
from kontor.access.visibility import account_to_act_on, visible_accounts
from kontor.api.filtering import filtered
from kontor.api.permissions import requires
from kontor.api.schemas import (
    AccountDetail,
    AccountFilters,
    AccountIn,
    AccountPatch,
    AccountSaved,
    AllowlistIn,
    AllowlistOut,
    ArchivedOut,
    ColumnIn,
    CostCenterInfo,
    MeOut,
    NameFilters,
    OfficeIn,
    OfficeOut,
    OfficePatch,
    Page,
    PageQuery,
    TeamIn,
    TeamOut,
    TeamPatch,
    collect,
    errors,
    field_names,
    page,
)
from kontor.core.errors import Invalid
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.numbers import services as number_services
from kontor.numbers.models import AccountNumber, Number
from kontor.numbers.selectors import customer_numbers
from kontor.tenancy import services
from kontor.tenancy.filters import AccountFilter
from kontor.tenancy.models import Account, CostCenter, CustomColumn, Office, Team
from kontor.tenancy.selectors import columns_for_accounts

router = Router()

# --- the caller ----------------------------------------------------------------------------------


@router.get("/me", response={200: MeOut, **errors()}, operation_id="me", tags=["me"])
@requires()
def me(request: ScopedRequest) -> dict[str, Any]:
    """Who is calling: user or key, customer, current account and its permissions. Any member."""
    scope = request.scope
    assert scope.account is not None
    user = scope.user
    if scope.api_key is not None:
        reachable = [scope.account]
    else:
        reachable = list(accounts_for(user)) if isinstance(user, User) else [scope.account]
    customer = scope.customer
    return {
        "user": _user_ref(user),
        "api_key": (
            {"id": scope.api_key.pk, "name": scope.api_key.name, "prefix": scope.api_key.prefix}
            if scope.api_key
            else None
        ),
        "customer": {
            "subscriber_id": customer.subscriber_id,
            "name": customer.name,
            "time_zone": customer.time_zone,
            "country": customer.country,
            "credit_mode": customer.credit_mode,
        },
        "account": {"id": scope.account.pk, "name": scope.account.name},
        "permissions": sorted(scope.perms),
        "accounts": [{"id": a.pk, "name": a.name} for a in reachable],
    }


def _user_ref(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_master": user.is_master,
    }


# --- accounts ------------------------------------------------------------------------------------


def _cost_centers(scope: Scope) -> QuerySet[CostCenter]:
    # CostCenter is the provider's catalogue; available_q is its scoping to one customer.
    return CostCenter.objects.filter(CostCenter.available_q(scope.customer))


def _visible_accounts(scope: Scope) -> QuerySet[Account]:
    return visible_accounts(scope).select_related("cost_center")


def _cost_center_out(cc: CostCenter | None) -> dict[str, Any] | None:
    if cc is None:
        return None
    return {"id": cc.pk, "code": cc.code, "name": cc.name, "shared": cc.customer_id is None}


def _account_out(scope: Scope, account: Account, columns: list[CustomColumn] | None = None) -> dict[str, Any]:
    if columns is None:
        # Columns live inside their account: read them through that account's scope.
        columns = list(scoped(replace(scope, account=account), CustomColumn).order_by("position"))
    return {
        "id": account.pk,
        "name": account.name,
        "status": account.status,
        "cost_center": _cost_center_out(account.cost_center),
        "office_hours_only": account.office_hours_only,
        "custom_columns": [{"position": c.position, "name": c.name, "type": c.type} for c in columns],
        "archived_at": account.archived_at,
        "created_at": account.created_at,
    }


def _current_mo_number(scope: Scope, account: Account) -> Number | None:
    # The link lives inside its account: read it through that account's scope.
    link = scoped(replace(scope, account=account), AccountNumber).select_related("number").first()
    return link.number if link else None


def _mo_number(scope: Scope, pk: int | None, current: Number | None = None) -> Number | None:
    """The number `mo_number_id` names: one of the customer's activated numbers, or the account's
    current one (kept even if no longer offered, as on the web form); anything else is a 422."""
    if pk is None:
        return None
    if current is not None and current.pk == pk:
        return current
    found = customer_numbers(scope).filter(pk=pk).first()
    if found is None:
        raise Invalid.field("mo_number_id", "No such number: give one of your activated numbers, or null.")
    return found


def _saved(scope: Scope, account: Account) -> dict[str, Any]:
    body = _account_out(scope, account)
    number = _current_mo_number(scope, account)
    body["mo_number"] = {"id": number.pk, "number": number.value} if number else None
    shared = services.shared_cost_center_accounts(account)
    body["warnings"] = (
        [
            f"The cost center {account.cost_center} is also used by {', '.join(a.name for a in shared)}: "
            "these accounts will not be billed separately."
        ]
        if shared
        else []
    )
    return body


def _cost_center(scope: Scope, pk: int | None) -> CostCenter | None:
    if pk is None:
        return None
    found = _cost_centers(scope).filter(pk=pk).first()
    if found is None:
        raise Invalid.field("cost_center_id", "No such cost center.")
    return found


def _columns(columns: list[ColumnIn]) -> list[services.ColumnSpec]:
    return [services.ColumnSpec(name=c.name, type=c.type) for c in columns]


ACCOUNT_FIELDS = {"cost_center": "cost_center_id", "number": "mo_number_id"}


@router.get(
    "/accounts", response={200: Page[AccountDetail], **errors(422)}, operation_id="list_accounts", tags=["accounts"]
)
@requires()
def list_accounts(request: ScopedRequest, filters: Query[AccountFilters]) -> dict[str, Any]:
    """Accounts the caller can see (any member): every account of the customer for a master user,
    the key's own account for an API key, else the accounts the caller is a member of."""
    scope = request.scope
    qs = filtered(request, AccountFilter, _visible_accounts(scope).order_by("name", "pk"), filters)
    # One query for the columns of the whole page (the accounts are already resolved in scope).
    rows = list(qs[filters.offset : filters.offset + filters.limit])
    columns = columns_for_accounts(scope.customer, [a.pk for a in rows])
    return {
        "items": [_account_out(scope, a, columns[a.pk]) for a in rows],
        "count": qs.count(),
        "limit": filters.limit,
        "offset": filters.offset,
    }


@router.post(
    "/accounts",
    response={201: AccountSaved, **errors(409, 422)},
    operation_id="create_account",
    tags=["accounts"],
)
@requires(Perm.CREATE_ACCOUNTS)
def create_account(request: ScopedRequest, payload: AccountIn) -> Status[dict[str, Any]]:
    """Add an account (`create_accounts`). `cost_center_id` must be one offered to the customer, and
    `mo_number_id` one of its activated numbers (else 422; nothing is created). A creator who is not a
    master user becomes a member with the role they hold in their current account (the key's account
    for a key), never more."""
    scope = request.scope
    actor = actor_of(request)
    cost_center = _cost_center(scope, payload.cost_center_id)
    number = _mo_number(scope, payload.mo_number_id)
    # One transaction: a refused MO number (e.g. shared with an account the caller may not manage)
    # leaves no account behind.
    with field_names(ACCOUNT_FIELDS), transaction.atomic():
        account = services.create_account(
            scope.customer,
            actor=actor,
            name=payload.name,
            cost_center=cost_center,
            office_hours_only=payload.office_hours_only,
            custom_columns=_columns(payload.custom_columns),
            creator_from=scope.account,
        )
        if number is not None:
            number_services.set_account_number(account, number, actor=actor)
    return Status(201, _saved(scope, account))


@router.get(
    "/accounts/{account_id}",
    response={200: AccountDetail, **errors(404, 422)},
    operation_id="get_account",
    tags=["accounts"],
)
@requires()
def get_account(request: ScopedRequest, account_id: int) -> dict[str, Any]:
    """One account. Any member who can see it (as in the list); others answer 404."""
    scope = request.scope
    return _account_out(scope, get_scoped(scope, _visible_accounts(scope), pk=account_id))


@router.patch(
    "/accounts/{account_id}",
    response={200: AccountSaved, **errors(404, 409, 422)},
    operation_id="update_account",
    tags=["accounts"],
)
@requires(Perm.MANAGE_ACCOUNTS)
def update_account(request: ScopedRequest, account_id: int, payload: AccountPatch) -> dict[str, Any]:
    """Change some fields of an account (`manage_accounts`); absent fields stay, `mo_number_id: null`
    goes back to the provider's default number. A column change that would hide or clear contact values
    answers 409 `column_data_at_risk` (with `columns`: name, change, contacts, examples) unless
    `confirm_column_changes` is true. An archived account answers 409 `account_archived`;
    a refused change (e.g. a number that is not the customer's: 422) changes nothing."""
    scope = request.scope
    account = account_to_act_on(scope, account_id, Perm.MANAGE_ACCOUNTS)
    given = payload.model_dump(exclude_unset=True)
    bad = {
        k: ["May not be null."]
        for k in ("name", "office_hours_only", "custom_columns")
        if k in given and given[k] is None
    }
    collect(bad)
    kwargs: dict[str, Any] = {"confirm_column_changes": payload.confirm_column_changes}
    if "cost_center_id" in given:
        kwargs["cost_center"] = _cost_center(scope, payload.cost_center_id)
    if "custom_columns" in given:
        kwargs["custom_columns"] = _columns(payload.custom_columns or [])
    change_number = "mo_number_id" in given
    number = _mo_number(scope, payload.mo_number_id, _current_mo_number(scope, account)) if change_number else None
    with field_names(ACCOUNT_FIELDS), transaction.atomic():
        account = services.update_account(
            account,
            actor=actor_of(request),
            name=payload.name,
            office_hours_only=payload.office_hours_only,
            **kwargs,
        )
        if change_number:
            number_services.set_account_number(account, number, actor=actor_of(request))
    return _saved(scope, account)


@router.delete(
    "/accounts/{account_id}",
    response={204: None, 200: ArchivedOut, **errors(404)},
    operation_id="delete_account",
    tags=["accounts"],
)
@requires(Perm.MANAGE_ACCOUNTS)
def delete_account(request: ScopedRequest, account_id: int) -> Status[Any]:
    """Delete an empty account: 204. An account that holds data is archived instead and the answer is
    200 with `archived: true` and what it holds (`manage_accounts`)."""
    scope = request.scope
    account = account_to_act_on(scope, account_id, Perm.MANAGE_ACCOUNTS)
    outcome = services.delete_account(account, actor=actor_of(request))
    if outcome.deleted:
        return Status(204, None)
    return Status(200, {"archived": True, "held": [{"what": w, "count": n} for w, n in outcome.held]})


@router.post(
    "/accounts/{account_id}/restore",
    response={200: AccountDetail, **errors(404, 422)},
    operation_id="restore_account",
    tags=["accounts"],
)
@requires(Perm.MANAGE_ACCOUNTS)
def restore_account(request: ScopedRequest, account_id: int) -> dict[str, Any]:
    """Bring an archived account back (`manage_accounts`); an active one is left as it is."""
    scope = request.scope
    account = services.restore_account(
        account_to_act_on(scope, account_id, Perm.MANAGE_ACCOUNTS), actor=actor_of(request)
    )
    return _account_out(scope, account)


@router.get(
    "/cost-centers",
    response={200: Page[CostCenterInfo], **errors(422)},
    operation_id="list_cost_centers",
    tags=["accounts"],
)
@requires()
def list_cost_centers(request: ScopedRequest, filters: Query[PageQuery]) -> dict[str, Any]:
    """Cost centers the provider offers this customer (its own and the shared ones). Any member."""
    scope = request.scope
    return page(_cost_centers(scope).order_by("code", "pk"), filters, _cost_center_out)


# --- offices and teams ---------------------------------------------------------------------------


def _office_out(office: Office | None) -> dict[str, Any] | None:
    if office is None:
        return None
    return {"id": office.pk, "name": office.name, "address": office.address}


def _team_out(team: Team) -> dict[str, Any]:
    return {"id": team.pk, "name": team.name, "office": _office_out(team.office)}


def _office_ref(scope: Scope, pk: int | None, field: str) -> Office | None:
    if pk is None:
        return None
    found = scoped(scope, Office).filter(pk=pk).first()
    if found is None:
        raise Invalid.field(field, "No such office.")
    return found


READ_OFFICES = (Perm.VIEW_USERS, Perm.MANAGE_OFFICES)


@router.get("/offices", response={200: Page[OfficeOut], **errors(422)}, operation_id="list_offices", tags=["offices"])
@requires(any_of=READ_OFFICES)
def list_offices(request: ScopedRequest, filters: Query[NameFilters]) -> dict[str, Any]:
    """The customer's offices (`view_users` or `manage_offices`)."""
    scope = request.scope
    qs = scoped(scope, Office).order_by("name", "pk")
    if filters.q:
        qs = qs.filter(name__icontains=filters.q.strip())
    return page(qs, filters, _office_out)


@router.post("/offices", response={201: OfficeOut, **errors(422)}, operation_id="create_office", tags=["offices"])
@requires(Perm.MANAGE_OFFICES)
def create_office(request: ScopedRequest, payload: OfficeIn) -> Status[Any]:
    """Add an office (`manage_offices`)."""
    scope = request.scope
    office = services.save_office(
        scope.customer, None, actor=actor_of(request), name=payload.name, address=payload.address
    )
    return Status(201, _office_out(office))


@router.get(
    "/offices/{office_id}",
    response={200: OfficeOut, **errors(404, 422)},
    operation_id="get_office",
    tags=["offices"],
)
@requires(any_of=READ_OFFICES)
def get_office(request: ScopedRequest, office_id: int) -> Any:
    """One office (`view_users` or `manage_offices`)."""
    scope = request.scope
    return _office_out(get_scoped(scope, Office, pk=office_id))


@router.patch(
    "/offices/{office_id}",
    response={200: OfficeOut, **errors(404, 422)},
    operation_id="update_office",
    tags=["offices"],
)
@requires(Perm.MANAGE_OFFICES)
def update_office(request: ScopedRequest, office_id: int, payload: OfficePatch) -> Any:
    """Rename an office or change its address (`manage_offices`)."""
    scope = request.scope
    office = get_scoped(scope, Office, pk=office_id)
    office = services.save_office(
        scope.customer,
        office,
        actor=actor_of(request),
        name=office.name if payload.name is None else payload.name,
        address=office.address if payload.address is None else payload.address,
    )
    return _office_out(office)


@router.delete(
    "/offices/{office_id}",
    response={204: None, **errors(404, 409, 422)},
    operation_id="delete_office",
    tags=["offices"],
)
@requires(Perm.MANAGE_OFFICES)
def delete_office(request: ScopedRequest, office_id: int) -> Status[None]:
    """Delete an office (`manage_offices`); 409 while it is some user's primary office."""
    scope = request.scope
    services.delete_office(get_scoped(scope, Office, pk=office_id), actor=actor_of(request))
    return Status(204, None)


@router.get("/teams", response={200: Page[TeamOut], **errors(422)}, operation_id="list_teams", tags=["offices"])
@requires(any_of=READ_OFFICES)
def list_teams(request: ScopedRequest, filters: Query[NameFilters]) -> dict[str, Any]:
    """The customer's teams (`view_users` or `manage_offices`)."""
    scope = request.scope
    qs = scoped(scope, Team).select_related("office").order_by("name", "pk")
    if filters.q:
        qs = qs.filter(name__icontains=filters.q.strip())
    return page(qs, filters, _team_out)


@router.post("/teams", response={201: TeamOut, **errors(422)}, operation_id="create_team", tags=["offices"])
@requires(Perm.MANAGE_OFFICES)
def create_team(request: ScopedRequest, payload: TeamIn) -> Status[Any]:
    """Add a team (`manage_offices`); `office_id` must be one of the customer's offices (else 422)."""
    scope = request.scope
    office = _office_ref(scope, payload.office_id, "office_id")
    with field_names({"office": "office_id"}):
        team = services.save_team(scope.customer, None, actor=actor_of(request), name=payload.name, office=office)
    return Status(201, _team_out(team))


@router.get("/teams/{team_id}", response={200: TeamOut, **errors(404, 422)}, operation_id="get_team", tags=["offices"])
@requires(any_of=READ_OFFICES)
def get_team(request: ScopedRequest, team_id: int) -> Any:
    """One team (`view_users` or `manage_offices`)."""
    scope = request.scope
    return _team_out(get_scoped(scope, Team, pk=team_id))


@router.patch(
    "/teams/{team_id}",
    response={200: TeamOut, **errors(404, 422)},
    operation_id="update_team",
    tags=["offices"],
)
@requires(Perm.MANAGE_OFFICES)
def update_team(request: ScopedRequest, team_id: int, payload: TeamPatch) -> Any:
    """Rename a team or move it to another office (`manage_offices`)."""
    scope = request.scope
    team = get_scoped(scope, Team, pk=team_id)
    given = payload.model_dump(exclude_unset=True)
    office = _office_ref(scope, payload.office_id, "office_id") if "office_id" in given else team.office
    with field_names({"office": "office_id"}):
        team = services.save_team(
            scope.customer,
            team,
            actor=actor_of(request),
            name=team.name if payload.name is None else payload.name,
            office=office,
        )
    return _team_out(team)


@router.delete(
    "/teams/{team_id}",
    response={204: None, **errors(404, 422)},
    operation_id="delete_team",
    tags=["offices"],
)
@requires(Perm.MANAGE_OFFICES)
def delete_team(request: ScopedRequest, team_id: int) -> Status[None]:
    """Delete a team (`manage_offices`); its members simply have no team afterwards."""
    scope = request.scope
    services.delete_team(get_scoped(scope, Team, pk=team_id), actor=actor_of(request))
    return Status(204, None)


# --- security: the IP allowlist ------------------------------------------------------------------


def _allowlist_out(request: HttpRequest, entries: list[str]) -> dict[str, Any]:
    return {"entries": list(entries), "your_address": getattr(request, "client_ip", None)}


@router.get(
    "/security/ip-allowlist",
    response={200: AllowlistOut, **errors()},
    operation_id="get_ip_allowlist",
    tags=["security"],
)
@requires(Perm.MANAGE_SECURITY)
def get_ip_allowlist(request: ScopedRequest) -> dict[str, Any]:
    """Where the customer's users and keys may connect from (`manage_security`)."""
    scope = request.scope
    return _allowlist_out(request, scope.customer.ip_allowlist)


@router.put(
    "/security/ip-allowlist",
    response={200: AllowlistOut, **errors(409, 422)},
    operation_id="set_ip_allowlist",
    tags=["security"],
)
@requires(Perm.MANAGE_SECURITY)
def set_ip_allowlist(request: ScopedRequest, payload: AllowlistIn) -> dict[str, Any]:
    """Replace the allowlist (`manage_security`). A list that leaves out the caller's own address is
    refused with 409 `allowlist_excludes_current_address` unless `confirm_lockout` is true."""
    scope = request.scope
    customer = services.set_ip_allowlist(
        scope.customer,
        payload.entries,
        actor=actor_of(request),
        current_ip=getattr(request, "client_ip", None),
        confirm_lockout=payload.confirm_lockout,
    )
    return _allowlist_out(request, customer.ip_allowlist)
