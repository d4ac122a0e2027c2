"""The permission matrix of every built-in role, from the one table in kontor/access/perms.py, checked
against the manuals' words, and then enforced on every web page and every API operation, each of which
declares what it needs (kontor/web/decorators.py, kontor/api/permissions.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from kontor.access.models import Role
from kontor.access.perms import BUILTIN_ROLES, CUSTOMER_PERMS, STAFF_ROLE_PERMS, Perm, StaffRole
from kontor.access.selectors import scope_for_user
from kontor.access.services import create_api_key
from tests.isolation.walk import (
    MISSING,
    ApiOperation,
    WebRoute,
    api_operations,
    side_objects,
    web_kwarg_model,
    web_routes,
)
from tests.world import ROLE_SLUGS

pytestmark = pytest.mark.django_db

ALL_SLUGS = ["master", *ROLE_SLUGS]
CUSTOMER_PERM_LIST = sorted(CUSTOMER_PERMS, key=str)
MANAGE = {p for p in CUSTOMER_PERMS if p.value.startswith("manage_")}
# Pages that need no object and no permission beyond signing in; the sweep must find at least this many
# permission-declaring pages so that it cannot silently cover nothing.
MIN_DECLARED_PAGES = 25
# Pages whose access also follows a business rule beyond permissions, so that holding the declared
# permissions is necessary but not sufficient. Each needs its reason; everything else is decided by the
# declaration alone. (A view needing any one of several permissions sets `any_perms` on its callback.)
RULE_GATED = {
    "ledger:purchase": "manual 001: in pool mode only master users buy credits; otherwise by office rules",
    "ledger:threshold": "manual 001: the wallets a user may watch follow the credit-transfer rules",
}


def test_every_builtin_role_is_in_the_world():
    assert set(ALL_SLUGS) == set(BUILTIN_ROLES)


@pytest.mark.parametrize("perm", CUSTOMER_PERM_LIST, ids=str)
@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_scope_has_exactly_the_tables_permissions(world, slug, perm):
    user = world.acme.user(slug)
    scope = scope_for_user(user, world.acme.account)
    assert scope is not None
    assert scope.has(perm) is (perm in BUILTIN_ROLES[slug][2])


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_role_rows_match_the_table(db, slug):
    role = Role.objects.get(customer=None, slug=slug)
    assert role.perm_set == BUILTIN_ROLES[slug][2]
    assert role.name == BUILTIN_ROLES[slug][0]


def _perms(slug: str) -> frozenset[Perm]:
    return BUILTIN_ROLES[slug][2]


def test_the_manuals_words():
    # Master user and Administrator: everything a customer can hold.
    assert _perms("master") == CUSTOMER_PERMS
    assert _perms("administrator") == CUSTOMER_PERMS
    # "support staff may only search by mobile number"
    assert _perms("support") == {Perm.SEARCH_BY_MOBILE}
    # "technicians may only configure technical settings, troubleshoot transactions and administer
    # the set-up of new services" -- and nothing about users, roles or security.
    tech = _perms("technician")
    assert {Perm.TECHNICAL_SETTINGS, Perm.TROUBLESHOOT_TRANSACTIONS, Perm.MANAGE_SERVICES} <= tech
    for forbidden in (
        Perm.VIEW_USERS,
        Perm.MANAGE_USERS,
        Perm.MANAGE_ROLES,
        Perm.MANAGE_SECURITY,
        Perm.MANAGE_ACCOUNTS,
        Perm.CREATE_ACCOUNTS,
        Perm.SEND_SMS,
        Perm.MANAGE_OFFICE_CREDITS,
        Perm.MANAGE_COMPANY,
        Perm.VIEW_AUDIT,
    ):
        assert forbidden not in tech, forbidden
    # Read-only changes nothing and sends nothing.
    ro = _perms("read_only")
    assert not (ro & MANAGE)
    assert Perm.SEND_SMS not in ro and Perm.CREATE_ACCOUNTS not in ro
    # 'Send SMS' and 'Manage Office SMS Credits' (manual 001).
    assert Perm.SEND_SMS in _perms("sender")
    assert Perm.MANAGE_OFFICE_CREDITS not in _perms("sender")
    assert {Perm.MANAGE_OFFICE_CREDITS, Perm.SEND_SMS} <= _perms("office_credit_manager")
    # No customer role carries a staff permission.
    for slug in BUILTIN_ROLES:
        assert all(not p.is_staff_perm for p in _perms(slug)), slug


def test_role_users_reach_only_their_accounts(world):
    a = world.acme
    for slug in ROLE_SLUGS:
        reach = scope_for_user(a.users[slug], a.other_account)
        assert (reach is not None) is (slug == "administrator"), slug
    assert scope_for_user(a.master, a.other_account).perms == {str(p) for p in CUSTOMER_PERMS}
    assert scope_for_user(a.master, world.globex.account) is None


def test_staff_roles():
    assert STAFF_ROLE_PERMS[StaffRole.ADMIN] == {p for p in Perm if p.is_staff_perm}
    for role, perms in STAFF_ROLE_PERMS.items():
        assert all(p.is_staff_perm for p in perms), role


# --- the web sweep -------------------------------------------------------------------------------


def fill(route: WebRoute, objects: dict) -> dict | None:
    if route.other_kwargs:
        return None  # e.g. one-time tokens: not an object id
    kwargs = {}
    for name in route.int_kwargs:
        label = web_kwarg_model(route, name)
        if label is None:
            return None  # reported by test_the_sweep_knows_every_declared_page_with_an_id
        kwargs[name] = objects[label].pk
    return kwargs


def declared_routes() -> list[WebRoute]:
    return [r for r in web_routes() if r.kind in ("customer", "staff")]


def _expect_refused(route: WebRoute, user, slug: str) -> bool:
    if route.kind == "staff":
        if not user.is_staff:
            return True
        have = {p.value for p in user.staff_perms}
        return not set(route.required_perms) <= have
    if user.is_staff:
        return True
    have = {p.value for p in BUILTIN_ROLES[slug][2]}
    if not set(route.required_perms) <= have:
        return True
    any_of = getattr(route.callback, "any_perms", ())
    return bool(any_of) and not ({str(p) for p in any_of} & have)


def _sweep(client, world, user, slug: str) -> tuple[int, list[str]]:
    objects = side_objects(world, world.acme)
    client.force_login(user)
    covered, problems = 0, []
    for route in declared_routes():
        kwargs = fill(route, objects)
        if kwargs is None:
            continue
        url = reverse(route.name, kwargs=kwargs)
        covered += 1
        refused = _expect_refused(route, user, slug)
        response = client.get(url)
        status = response.status_code
        if status == 405 and refused:
            # A POST-only page: a refused caller must be refused before anything happens.
            status = client.post(url, {}).status_code
        if refused and status != 403:
            problems.append(f"{slug}: {route.name} {url} needs {route.required_perms}: {status}, expected 403")
        if not refused and (status == 500 or (status == 403 and route.name not in RULE_GATED)):
            problems.append(f"{slug}: {route.name} {url} needs {route.required_perms}: {status}")
    return covered, problems


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_customer_roles_on_every_declared_page(world, client, slug):
    covered, problems = _sweep(client, world, world.acme.user(slug), slug)
    assert covered >= MIN_DECLARED_PAGES, f"only {covered} pages swept"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [r.value for r in StaffRole])
def test_staff_roles_on_every_declared_page(world, client, role):
    covered, problems = _sweep(client, world, world.staff[role], role)
    assert covered >= MIN_DECLARED_PAGES, f"only {covered} pages swept"
    assert not problems, "\n".join(problems)


def test_the_sweep_knows_every_declared_page_with_an_id():
    """A declared page with an int kwarg the sweep cannot fill would escape the matrix."""
    unknown = [
        f"{r.name} ({r.route}): {k}" for r in declared_routes() for k in r.int_kwargs if web_kwarg_model(r, k) is None
    ]
    assert not unknown, "add these to WEB_KWARG_MODELS in tests/isolation/walk.py:\n" + "\n".join(unknown)


def test_transaction_exports_need_the_export_permission():
    """'Export transactions' is required by every transaction export (issue 8 §3), not implied by search."""
    exports = [r for r in declared_routes() if r.name == "messaging:export"]
    assert exports, "the transaction export page is gone from the sweep"
    for route in exports:
        assert Perm.EXPORT_TRANSACTIONS in route.required_perms, route.name


def test_anonymous_visitors_are_sent_to_sign_in(world, client):
    objects = side_objects(world, world.acme)
    login = reverse("access:login")
    for route in declared_routes():
        kwargs = fill(route, objects)
        if kwargs is None:
            continue
        response = client.get(reverse(route.name, kwargs=kwargs))
        if response.status_code == 405:
            continue
        assert response.status_code == 302, route.name
        assert response["Location"].startswith(login), route.name


# --- the API sweep -------------------------------------------------------------------------------

API_KINDS = {"customer", "staff", "signed_in", "public"}
# The API had 113 operations when every one of them came to declare what it needs.
MIN_API_OPERATIONS = 113
# Operations whose access also follows a business rule beyond the declaration (as RULE_GATED above).
API_RULE_GATED: dict[str, str] = {}


def bound_operations() -> list[tuple[str, Any]]:
    """(operation id, ninja Operation) for every operation as mounted on the one API, schema or not."""
    import kontor.urls  # noqa: F401  (mounts the routers)
    from kontor.api.core import api

    return [
        (operation.operation_id or api.get_openapi_operation_id(operation), operation)
        for bound in api._get_bound_routers()
        for path_view in bound.path_operations.values()
        for operation in path_view.operations
    ]


def declared_api() -> list[tuple[ApiOperation, Any]]:
    """Every operation of the OpenAPI document with its view function (which carries the declaration)."""
    funcs = {op_id: operation.view_func for op_id, operation in bound_operations()}
    return [(op, funcs[op.operation_id]) for op in api_operations()]


def test_every_api_operation_declares_what_it_needs():
    operations = bound_operations()
    assert len(operations) >= MIN_API_OPERATIONS, f"only {len(operations)} operations found"
    problems = []
    for op_id, operation in operations:
        func = operation.view_func
        kind = getattr(func, "kind", None)
        perms = {str(p) for p in (*getattr(func, "required_perms", ()), *getattr(func, "any_perms", ()))}
        if kind not in API_KINDS:
            problems.append(f"{op_id}: no @requires, @requires_staff, @signed_in or @public")
        elif kind == "staff" and not all(Perm(p).is_staff_perm for p in perms):
            problems.append(f"{op_id}: a staff operation needing customer permissions {perms}")
        elif kind == "customer" and not perms <= {p.value for p in CUSTOMER_PERMS}:
            problems.append(f"{op_id}: a customer operation needing staff permissions {perms}")
        elif kind == "public" and not getattr(func, "public_reason", ""):
            problems.append(f"{op_id}: public without saying why")
    assert not problems, "\n".join(problems)
    ids = [op_id for op_id, _ in operations]
    assert len(ids) == len(set(ids)), "operation ids are not unique"


def _api_refused(kind: str, func: Any, *, staff: bool, have: set[str]) -> bool:
    """Whether the declaration refuses a caller: provider staff holding `have`, or a customer caller
    (a role's session or an API key) whose scope holds `have`."""
    required = {str(p) for p in func.required_perms}
    any_of = {str(p) for p in func.any_perms}
    if kind == "staff":
        return not staff or not required <= have  # API keys and customer users are never staff
    if staff:
        return True  # provider staff have no customer scope
    return not required <= have or (bool(any_of) and not any_of & have)


def _api_url(op: ApiOperation) -> str:
    """The operation's path with every id missing: a caller past the check gets 404 and changes nothing."""
    values = {}
    for param in op.spec.get("parameters", []):
        if param.get("in") == "path":
            kind = param.get("schema", {}).get("type")
            values[param["name"]] = MISSING if kind == "integer" else "missing-sweep"
    return op.url(values)


def _api_call(client, op: ApiOperation, auth: dict[str, str]) -> tuple[int, dict]:
    # An empty body, not a valid one: the declaration is checked before the body is read, so a refused
    # caller gets 403 whatever it sends, and an allowed one gets past it (most often to 404 or 422).
    kwargs: dict[str, Any] = dict(auth)
    if op.method in ("POST", "PUT", "PATCH"):
        kwargs.update(data=json.dumps({}), content_type="application/json")
    response = getattr(client, op.method.lower())(_api_url(op), **kwargs)
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    try:
        return response.status_code, json.loads(raw or b"{}")
    except ValueError:
        return response.status_code, {}


def _api_sweep(client, auth: dict[str, str], *, staff: bool, have: set[str], label: str) -> tuple[int, list[str]]:
    covered, problems = 0, []
    for op, func in declared_api():
        if getattr(func, "kind", None) not in ("customer", "staff"):
            continue
        covered += 1
        refused = _api_refused(func.kind, func, staff=staff, have=have)
        status, body = _api_call(client, op, auth)
        need = f"{func.kind} {tuple(map(str, func.required_perms))} any of {tuple(map(str, func.any_perms))}"
        if refused and (status, body.get("code")) != (403, "permission_denied"):
            problems.append(f"{label}: {op.method} {op.path} needs {need}: {status} {body.get('code')}, expected 403")
        if not refused and (status in (401, 500) or (status == 403 and op.operation_id not in API_RULE_GATED)):
            problems.append(f"{label}: {op.method} {op.path} needs {need}: {status} {body.get('code')}")
    return covered, problems


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_customer_roles_on_every_api_operation(world, client, slug):
    client.force_login(world.acme.user(slug))
    have = {p.value for p in BUILTIN_ROLES[slug][2]}
    covered, problems = _api_sweep(client, {}, staff=False, have=have, label=slug)
    assert covered >= MIN_API_OPERATIONS - 10, f"only {covered} operations swept"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [r.value for r in StaffRole])
def test_staff_roles_on_every_api_operation(world, client, role):
    user = world.staff[role]
    client.force_login(user)
    covered, problems = _api_sweep(client, {}, staff=True, have={p.value for p in user.staff_perms}, label=role)
    assert covered >= MIN_API_OPERATIONS - 10, f"only {covered} operations swept"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("perm", CUSTOMER_PERM_LIST, ids=str)
def test_an_api_key_without_one_permission(world, client, perm):
    """A key holding every customer permission but `perm` is refused exactly the operations that need it,
    and (with the staff operations) nothing else."""
    have = {p.value for p in CUSTOMER_PERMS} - {perm.value}
    secret = create_api_key(world.acme.account, actor=world.acme.master, name=f"All but {perm}", perms=have).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    covered, problems = _api_sweep(client, auth, staff=False, have=have, label=perm)
    assert covered >= MIN_API_OPERATIONS - 10
    assert not problems, "\n".join(problems)
