"""The permission matrix of every built-in role, from the one table in kontor/access/perms.py, checked
against the manuals' words, and then enforced on every web page that declares what it needs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.models import Role
from kontor.access.perms import BUILTIN_ROLES, CUSTOMER_PERMS, STAFF_ROLE_PERMS, Perm, StaffRole
from kontor.access.selectors import scope_for_user
from tests.isolation.walk import WebRoute, side_objects, web_kwarg_model, web_routes
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
