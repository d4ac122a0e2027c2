"""Customer API: users and their memberships, roles and permissions, and the current account's API keys.

Ids in a path are resolved in the caller's scope, so another customer's id answers 404 exactly like a
missing one. Ids inside a body (`primary_office_id`, `additional_office_ids`, `team_id`,
`memberships[].account_id`, `role_id`) that are missing or foreign answer 422 with a field error
naming them, and nothing is changed."""

from typing import Any

from django.db.models import F, Q
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import ValidationError

from kontor.access import services
from kontor.access.login import password_confirms
from kontor.access.models import ApiKey, Role, User, normalise_email
from kontor.access.perms import CUSTOMER_PERMS, Perm
from kontor.access.requests import ScopedRequest, actor_of
from kontor.access.selectors import KeyLimit
from kontor.access.visibility import account_to_act_on, visible_accounts
from kontor.api.permissions import requires
from kontor.api.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    MembershipOut,
    Page,
    PageQuery,
    PermOut,
    Reauth,
    RoleIn,
    RoleOut,
    RolePatch,
    RoleRef,
    UserFilters,
    UserIn,
    UserOut,
    UserPatch,
    collect,
    errors,
    field_names,
    page,
)
from kontor.core.errors import ErrorCode, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.tenancy.models import Account, Membership, Office, Team

router = Router()

# --- users ---------------------------------------------------------------------------------------


def _reauthenticated(request: HttpRequest, scope: Scope, raw: str | None, *, needed: bool) -> None:
    """A signed-in master re-enters the password for master-user changes, as the pages ask. Keys and
    other users send none: the services refuse them these changes whatever they carry."""
    actor = actor_of(request)
    if not needed or scope.api_key is not None or not actor.is_master:
        return  # keys and other users are refused by the services, with permission_denied
    if not password_confirms(actor, raw):
        raise Forbidden(
            "Master-user changes need your own password: send it again as current_password.",
            code=ErrorCode.REAUTHENTICATION_REQUIRED,
        )


def _optional_password(request: HttpRequest) -> str | None:
    """`current_password` from an optional JSON body (Reauth): disable and enable take no body otherwise."""
    if request.content_type != "application/json" or not request.body.strip():
        return None
    try:
        return Reauth.model_validate_json(request.body).current_password
    except ValidationError as exc:
        collect({".".join(str(p) for p in e["loc"]) or "body": [e["msg"]] for e in exc.errors()})
    return None


REAUTH_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": Reauth.model_json_schema()}},
    }
}


def _changes_another_masters_access(actor: User, target: User) -> bool:
    return target.is_master and target.pk != actor.pk


def _within(scope: Scope) -> frozenset[str] | None:
    """What an API key may do (its scope's permissions), passed to services so that a key never acts
    beyond itself even when its creator could; None for a session."""
    return KeyLimit(scope.perms, scope.api_key.account_id) if scope.api_key is not None else None


def _user_out(user: User, only_account: int | None = None) -> dict[str, Any]:
    # Prefetched below; a user's memberships all belong to the user's own customer. A key works in
    # one account and sees nothing of the others, not even who has access to them.
    memberships = sorted(
        (m for m in user.memberships.all() if only_account is None or m.account_id == only_account),
        key=lambda m: (m.account.name, m.account_id),
    )
    return {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "time_zone": user.time_zone,
        "is_master": user.is_master,
        "is_active": user.is_active,
        "primary_office_id": user.primary_office_id,
        "additional_office_ids": sorted(o.pk for o in user.additional_offices.all()),
        "team_id": user.team_id,
        "memberships": [_membership_out(m) for m in memberships],
        "date_joined": user.date_joined,
    }


def _membership_out(m: Membership) -> dict[str, Any]:
    return {"account_id": m.account_id, "account_name": m.account.name, "role_id": m.role_id, "role_name": m.role.name}


def _users(scope: Scope) -> Any:
    return scoped(scope, User).prefetch_related("memberships__account", "memberships__role", "additional_offices")


def _user(scope: Scope, pk: int) -> User:
    return get_scoped(scope, _users(scope), pk=pk)


def _key_account(scope: Scope) -> int | None:
    return scope.api_key.account_id if scope.api_key is not None else None


def _show(scope: Scope, user: User) -> dict[str, Any]:
    return _user_out(user, _key_account(scope))


class _Refs:
    """Resolves ids named in a body inside the scope, gathering a field error for each bad one."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.errors: dict[str, list[str]] = {}

    def one(self, model: Any, pk: int | None, field: str, what: str) -> Any:
        if pk is None:
            return None
        # Accounts are named only among those the caller can see (a key: its own).
        rows = visible_accounts(self.scope) if model is Account else scoped(self.scope, model)
        found = rows.filter(pk=pk).first()
        if found is None:
            self.errors.setdefault(field, []).append(f"No such {what}.")
        return found

    def many(self, model: Any, pks: list[int], field: str, what: str) -> list[Any]:
        found = {o.pk: o for o in scoped(self.scope, model).filter(pk__in=[p for p in pks if 0 < p < 2**63])}
        missing = [str(p) for p in pks if p not in found]
        if missing:
            self.errors.setdefault(field, []).append(f"No such {what}: {', '.join(missing)}.")
        return [found[p] for p in dict.fromkeys(pks) if p in found]

    def done(self) -> None:
        collect(self.errors)


USER_FIELDS = {
    "offices": "additional_office_ids",
    "team": "team_id",
    "role": "memberships",
    "user": "memberships",
}


@router.get("/users", response={200: Page[UserOut], **errors(422)}, operation_id="list_users", tags=["users"])
@requires(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
def list_users(request: ScopedRequest, filters: Query[UserFilters]) -> dict[str, Any]:
    """The customer's users (`view_users` or `manage_users`)."""
    scope = request.scope
    qs = _users(scope).order_by("last_name", "first_name", "email", "pk")
    if filters.q:
        text = filters.q.strip()
        qs = qs.filter(Q(first_name__icontains=text) | Q(last_name__icontains=text) | Q(email__icontains=text))
    if filters.active is not None:
        qs = qs.filter(is_active=filters.active)
    if filters.account_id is not None:
        qs = qs.filter(memberships__account__in=visible_accounts(scope).filter(pk=filters.account_id))
    if filters.role_id is not None:
        qs = qs.filter(memberships__role_id=filters.role_id)
    return page(qs.distinct(), filters, lambda u: _show(scope, u))


@router.post("/users", response={201: UserOut, **errors(409, 422)}, operation_id="create_user", tags=["users"])
@requires(Perm.MANAGE_USERS)
def create_user(request: ScopedRequest, payload: UserIn) -> Status[Any]:
    """Add a user with roles in accounts (`manage_users`); they get a welcome email to set a password.
    Granting a role with permissions the caller lacks in that account is 403."""
    scope = request.scope
    refs = _Refs(scope)
    primary = refs.one(Office, payload.primary_office_id, "primary_office_id", "office")
    extra = refs.many(Office, payload.additional_office_ids, "additional_office_ids", "office")
    team = refs.one(Team, payload.team_id, "team_id", "team")
    memberships: list[tuple[Account, Role]] = []
    seen: set[int] = set()
    for i, m in enumerate(payload.memberships):
        account = refs.one(Account, m.account_id, f"memberships.{i}.account_id", "account")
        role = refs.one(Role, m.role_id, f"memberships.{i}.role_id", "role")
        if m.account_id in seen:
            refs.errors.setdefault(f"memberships.{i}.account_id", []).append("This account is listed twice.")
        seen.add(m.account_id)
        if account is not None and role is not None:
            memberships.append((account, role))
    refs.done()
    _reauthenticated(request, scope, payload.current_password, needed=payload.is_master)
    with field_names(USER_FIELDS):
        user = services.create_user(
            scope.customer,
            actor=actor_of(request),
            first_name=payload.first_name,
            last_name=payload.last_name,
            email=payload.email,
            phone=payload.phone,
            time_zone=payload.time_zone,
            is_master=payload.is_master,
            primary_office=primary,
            additional_offices=extra,
            team=team,
            memberships=memberships,
            within=_within(scope),
        )
    return Status(201, _show(scope, _user(scope, user.pk)))


@router.get("/users/{user_id}", response={200: UserOut, **errors(404, 422)}, operation_id="get_user", tags=["users"])
@requires(any_of=(Perm.VIEW_USERS, Perm.MANAGE_USERS))
def get_user(request: ScopedRequest, user_id: int) -> dict[str, Any]:
    """One user (`view_users` or `manage_users`)."""
    scope = request.scope
    return _show(scope, _user(scope, user_id))


@router.patch(
    "/users/{user_id}",
    response={200: UserOut, **errors(404, 409, 422)},
    operation_id="update_user",
    tags=["users"],
)
@requires(Perm.MANAGE_USERS)
def update_user(request: ScopedRequest, user_id: int, payload: UserPatch) -> dict[str, Any]:
    """Change some fields of a user (`manage_users`); absent fields stay. Only a master user may grant
    or remove master-user rights (else 403)."""
    scope = request.scope
    user = _user(scope, user_id)
    given = payload.model_dump(exclude_unset=True)
    nullable = {"primary_office_id", "team_id"}
    collect({k: ["May not be null."] for k, v in given.items() if v is None and k not in nullable})
    refs = _Refs(scope)
    kwargs: dict[str, Any] = {}
    if "primary_office_id" in given:
        kwargs["primary_office"] = refs.one(Office, payload.primary_office_id, "primary_office_id", "office")
    if "team_id" in given:
        kwargs["team"] = refs.one(Team, payload.team_id, "team_id", "team")
    if payload.additional_office_ids is not None:
        kwargs["additional_offices"] = refs.many(
            Office, payload.additional_office_ids, "additional_office_ids", "office"
        )
    refs.done()
    actor = actor_of(request)
    master_change = payload.is_master is not None and payload.is_master != user.is_master
    email_change = payload.email is not None and normalise_email(payload.email) != user.email
    needed = master_change or (email_change and _changes_another_masters_access(actor, user))
    _reauthenticated(request, scope, payload.current_password, needed=needed)
    with field_names(USER_FIELDS):
        services.update_user(
            user,
            actor=actor_of(request),
            first_name=payload.first_name,
            last_name=payload.last_name,
            email=payload.email,
            phone=payload.phone,
            time_zone=payload.time_zone,
            is_master=payload.is_master,
            within=_within(scope),
            **kwargs,
        )
    return _show(scope, _user(scope, user_id))


@router.post(
    "/users/{user_id}/disable",
    response={200: UserOut, **errors(404, 409, 422)},
    operation_id="disable_user",
    openapi_extra=REAUTH_BODY,
    tags=["users"],
)
@requires(Perm.MANAGE_USERS)
def disable_user(request: ScopedRequest, user_id: int) -> dict[str, Any]:
    """Disable a user and end their sessions (`manage_users`). 409 for yourself or the last master.
    Another master user: a signed-in master only, with `current_password`."""
    scope = request.scope
    user = _user(scope, user_id)
    needed = _changes_another_masters_access(actor_of(request), user)
    _reauthenticated(request, scope, _optional_password(request), needed=needed)
    services.set_user_active(user, False, actor=actor_of(request), within=_within(scope))
    return _show(scope, _user(scope, user_id))


@router.post(
    "/users/{user_id}/enable",
    response={200: UserOut, **errors(404, 422)},
    operation_id="enable_user",
    openapi_extra=REAUTH_BODY,
    tags=["users"],
)
@requires(Perm.MANAGE_USERS)
def enable_user(request: ScopedRequest, user_id: int) -> dict[str, Any]:
    """Enable a disabled user again (`manage_users`). Another master user: a signed-in master only, with
    `current_password`."""
    scope = request.scope
    user = _user(scope, user_id)
    needed = _changes_another_masters_access(actor_of(request), user)
    _reauthenticated(request, scope, _optional_password(request), needed=needed)
    services.set_user_active(user, True, actor=actor_of(request), within=_within(scope))
    return _show(scope, _user(scope, user_id))


@router.put(
    "/users/{user_id}/memberships/{account_id}",
    response={200: MembershipOut, **errors(404, 409, 422)},
    operation_id="set_membership",
    tags=["users"],
)
@requires(Perm.MANAGE_USERS)
def set_membership(request: ScopedRequest, user_id: int, account_id: int, payload: RoleRef) -> dict[str, Any]:
    """Give the user access to the account with `role_id`, or change their role there (`manage_users`
    in that account; a key: only its own account, any other answers 404). A role with permissions the
    caller lacks in that account is 403; an archived account 409."""
    scope = request.scope
    user = _user(scope, user_id)
    account = account_to_act_on(scope, account_id, Perm.MANAGE_USERS)
    refs = _Refs(scope)
    role = refs.one(Role, payload.role_id, "role_id", "role")
    refs.done()
    with field_names({"role": "role_id", "user": "user_id"}):
        membership = services.set_membership(account, user, role, actor=actor_of(request), within=_within(scope))
    return _membership_out(membership)


@router.delete(
    "/users/{user_id}/memberships/{account_id}",
    response={204: None, **errors(404, 422)},
    operation_id="remove_membership",
    tags=["users"],
)
@requires(Perm.MANAGE_USERS)
def remove_membership(request: ScopedRequest, user_id: int, account_id: int) -> Status[None]:
    """Take the user's access to the account away (`manage_users` in that account; a key: only its own
    account); 404 if they had none."""
    scope = request.scope
    user = _user(scope, user_id)
    account = account_to_act_on(scope, account_id, Perm.MANAGE_USERS)
    membership = get_scoped(scope, Membership, user_id=user.pk, account_id=account.pk)
    services.remove_membership(membership, actor=actor_of(request), within=_within(scope))
    return Status(204, None)


# --- roles and permissions -----------------------------------------------------------------------


def _role_out(role: Role) -> dict[str, Any]:
    return {
        "id": role.pk,
        "name": role.name,
        "slug": role.slug,
        "description": role.description,
        "perms": sorted(role.perms),
        "builtin": role.is_builtin,
    }


READ_ROLES = (Perm.VIEW_USERS, Perm.MANAGE_USERS, Perm.MANAGE_ROLES)


@router.get("/permissions", response={200: list[PermOut], **errors()}, operation_id="list_permissions", tags=["roles"])
@requires()
def list_permissions(request: ScopedRequest) -> list[dict[str, str]]:
    """Every permission a role or key can hold, with its label (a short fixed list, not paged). Any member."""
    return [{"value": p.value, "label": p.label} for p in sorted(CUSTOMER_PERMS, key=lambda p: p.value)]


@router.get("/roles", response={200: Page[RoleOut], **errors(422)}, operation_id="list_roles", tags=["roles"])
@requires(any_of=READ_ROLES)
def list_roles(request: ScopedRequest, filters: Query[PageQuery]) -> dict[str, Any]:
    """Built-in roles, then the customer's own (`view_users`, `manage_users` or `manage_roles`)."""
    scope = request.scope
    qs = scoped(scope, Role).order_by(F("customer_id").asc(nulls_first=True), "name", "pk")
    return page(qs, filters, _role_out)


@router.post("/roles", response={201: RoleOut, **errors(422)}, operation_id="create_role", tags=["roles"])
@requires(Perm.MANAGE_ROLES)
def create_role(request: ScopedRequest, payload: RoleIn) -> Status[Any]:
    """Add a custom role from the customer permissions (`manage_roles`)."""
    scope = request.scope
    role = services.save_role(
        scope.customer,
        None,
        actor=actor_of(request),
        name=payload.name,
        perms=payload.perms,
        description=payload.description,
        within=_within(scope),
    )
    return Status(201, _role_out(role))


@router.get("/roles/{role_id}", response={200: RoleOut, **errors(404, 422)}, operation_id="get_role", tags=["roles"])
@requires(any_of=READ_ROLES)
def get_role(request: ScopedRequest, role_id: int) -> dict[str, Any]:
    """One role (`view_users`, `manage_users` or `manage_roles`)."""
    scope = request.scope
    return _role_out(get_scoped(scope, Role, pk=role_id))


@router.patch(
    "/roles/{role_id}", response={200: RoleOut, **errors(404, 422)}, operation_id="update_role", tags=["roles"]
)
@requires(Perm.MANAGE_ROLES)
def update_role(request: ScopedRequest, role_id: int, payload: RolePatch) -> dict[str, Any]:
    """Change a custom role (`manage_roles`); built-in roles answer 403."""
    scope = request.scope
    role = get_scoped(scope, Role, pk=role_id)
    role = services.save_role(
        scope.customer,
        role,
        actor=actor_of(request),
        name=role.name if payload.name is None else payload.name,
        perms=role.perms if payload.perms is None else payload.perms,
        description=role.description if payload.description is None else payload.description,
        within=_within(scope),
    )
    return _role_out(role)


@router.delete(
    "/roles/{role_id}", response={204: None, **errors(404, 409, 422)}, operation_id="delete_role", tags=["roles"]
)
@requires(Perm.MANAGE_ROLES)
def delete_role(request: ScopedRequest, role_id: int) -> Status[None]:
    """Delete a custom role no membership uses (`manage_roles`); in use: 409; built-in: 403."""
    scope = request.scope
    services.delete_role(get_scoped(scope, Role, pk=role_id), actor=actor_of(request))
    return Status(204, None)


# --- API keys ------------------------------------------------------------------------------------


def _key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "perms": sorted(key.perms),
        "created_by": key.created_by.email if key.created_by else None,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "active": key.is_active,
    }


@router.get(
    "/api-keys", response={200: Page[ApiKeyOut], **errors(422)}, operation_id="list_api_keys", tags=["api keys"]
)
@requires(Perm.MANAGE_API_KEYS)
def list_api_keys(request: ScopedRequest, filters: Query[PageQuery]) -> dict[str, Any]:
    """The current account's keys, revoked ones included (`manage_api_keys`)."""
    scope = request.scope
    qs = scoped(scope, ApiKey).select_related("created_by").order_by("-created_at", "-pk")
    return page(qs, filters, _key_out)


@router.post(
    "/api-keys",
    response={201: ApiKeyCreated, **errors(409, 422)},
    operation_id="create_api_key",
    tags=["api keys"],
)
@requires(Perm.MANAGE_API_KEYS)
def create_api_key(request: ScopedRequest, payload: ApiKeyIn) -> Status[Any]:
    """Issue a key for the current account (`manage_api_keys`). It may hold only permissions the
    caller has there (else 403). The answer carries the secret, once."""
    scope = request.scope
    assert scope.account is not None
    issued = services.create_api_key(
        scope.account, actor=actor_of(request), name=payload.name, perms=payload.perms, within=_within(scope)
    )
    return Status(201, {**_key_out(issued.key), "secret": issued.secret})


@router.delete(
    "/api-keys/{key_id}",
    response={204: None, **errors(404, 422)},
    operation_id="revoke_api_key",
    tags=["api keys"],
)
@requires(Perm.MANAGE_API_KEYS)
def revoke_api_key(request: ScopedRequest, key_id: int) -> Status[None]:
    """Revoke a key of the current account at once (`manage_api_keys`); revoking twice is harmless."""
    scope = request.scope
    services.revoke_api_key(get_scoped(scope, ApiKey, pk=key_id), actor=actor_of(request))
    return Status(204, None)
