"""Issue 8 §4.1: an API key never grants, or acts with, more than its own permissions in its own account.

Every user-management operation of the API is tried with keys of every relevant permission subset, made
by a master user (who may do everything) and by an administrator of both accounts. None may reach a
master user (their email, enablement, master status, access), another account, or a user who can do
more than the key; nothing changes when refused. A master's session still may do all of it."""

from __future__ import annotations

import pytest

from kontor.access.models import Role, User
from kontor.access.perms import CUSTOMER_PERMS
from kontor.access.services import create_api_key, set_user_active
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Membership
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db

ALL = sorted(p.value for p in CUSTOMER_PERMS)
# The permissions that bear on users, alone and together, and a key holding everything.
SUBSETS = {
    "manage_users": ["manage_users"],
    "manage_users+view_users": ["manage_users", "view_users"],
    "manage_users+roles+keys": ["manage_users", "view_users", "manage_roles", "manage_api_keys"],
    "view_users": ["view_users"],
    "manage_roles": ["manage_roles"],
    "manage_api_keys": ["manage_api_keys"],
    "everything": ALL,
}
CREATORS = ["master", "administrator"]


def builtin(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


def state() -> tuple:
    users = tuple(User.objects.order_by("pk").values_list("pk", "email", "is_active", "is_master", "first_name"))
    memberships = tuple(Membership.objects.order_by("pk").values_list("pk", "user_id", "account_id", "role_id"))
    return users, memberships, AuditEntry.objects.count()


def keyed(world, client, creator: str, perms: list[str]) -> Api:
    user = world.acme.user(creator)
    return Api(client, create_api_key(world.acme.account, actor=user, name="Probe", perms=perms).secret)


def refused(response) -> None:  # type: ignore[no-untyped-def]
    problem(response, 403, "permission_denied")


@pytest.mark.parametrize("creator", CREATORS)
@pytest.mark.parametrize("subset", list(SUBSETS))
def test_no_key_reaches_a_master_user(world, client, second_master, creator, subset):
    api = keyed(world, client, creator, SUBSETS[subset])
    master = world.acme.master
    before = state()
    new = {"first_name": "Evil", "last_name": "Twin", "email": "evil@attacker.test"}
    refused(api.post("/users", {**new, "is_master": True}))
    for target in (master, second_master):
        refused(api.patch(f"/users/{target.pk}", {"email": "evil@attacker.test"}))
        refused(api.patch(f"/users/{target.pk}", {"first_name": "Owned"}))
        refused(api.patch(f"/users/{target.pk}", {"is_master": False}))
        refused(api.post(f"/users/{target.pk}/disable"))
        refused(api.put(f"/users/{target.pk}/memberships/{world.acme.account.pk}", {"role_id": builtin("sender").pk}))
    sender = world.acme.users["sender"]
    refused(api.patch(f"/users/{sender.pk}", {"is_master": True}))
    assert state() == before
    # Nor enable a master user a master disabled.
    set_user_active(second_master, False, actor=master)
    before = state()
    refused(api.post(f"/users/{second_master.pk}/enable"))
    assert state() == before


@pytest.mark.parametrize("creator", CREATORS)
@pytest.mark.parametrize("subset", list(SUBSETS))
def test_no_key_reaches_beyond_its_account(world, client, creator, subset):
    """The administrator works in both accounts: a Sales key changing them would change Support desk."""
    api = keyed(world, client, creator, SUBSETS[subset])
    admin = world.acme.users["administrator"]
    before = state()
    refused(api.patch(f"/users/{admin.pk}", {"email": "evil@attacker.test"}))
    refused(api.post(f"/users/{admin.pk}/disable"))
    other = world.acme.other_account.pk
    assert api.put(f"/users/{admin.pk}/memberships/{other}", {"role_id": builtin("read_only").pk}).status_code in (
        403,
        404,
    )
    assert api.delete(f"/users/{admin.pk}/memberships/{other}").status_code in (403, 404)
    body = {"first_name": "Far", "last_name": "Away", "email": "far@acme.test"}
    response = api.post("/users", {**body, "memberships": [{"account_id": other, "role_id": builtin("sender").pk}]})
    assert response.status_code in (403, 422)
    assert state() == before


@pytest.mark.parametrize("creator", CREATORS)
@pytest.mark.parametrize("subset", ["manage_users", "manage_users+view_users", "manage_users+roles+keys"])
def test_a_narrow_key_cannot_act_on_someone_who_can_do_more(world, client, creator, subset):
    """A key with 'Manage users' but not what a sender or administrator can do may not change them, demote
    them, take their access away, or change its own creator (whose email then opens their account)."""
    api = keyed(world, client, creator, SUBSETS[subset])
    sales = world.acme.account.pk
    before = state()
    for slug in ("sender", "administrator"):
        target = world.acme.users[slug]
        refused(api.patch(f"/users/{target.pk}", {"email": f"evil-{slug}@attacker.test"}))
        refused(api.post(f"/users/{target.pk}/disable"))
        refused(api.put(f"/users/{target.pk}/memberships/{sales}", {"role_id": builtin("read_only").pk}))
        refused(api.delete(f"/users/{target.pk}/memberships/{sales}"))
    creator_user = world.acme.user(creator)
    refused(api.patch(f"/users/{creator_user.pk}", {"email": "evil@attacker.test"}))
    assert state() == before


@pytest.mark.parametrize("creator", CREATORS)
def test_a_key_still_manages_users_within_itself(world, client, creator):
    """What stays allowed: users of its own account whose permissions the key holds."""
    api = keyed(world, client, creator, ALL)
    sales = world.acme.account.pk
    response = api.post(
        "/users",
        {
            "first_name": "Nils",
            "last_name": "New",
            "email": "nils@acme.test",
            "memberships": [{"account_id": sales, "role_id": builtin("sender").pk}],
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["is_master"] is False
    sender = world.acme.users["sender"]
    assert api.patch(f"/users/{sender.pk}", {"email": "sender2@acme.test"}).status_code == 200
    response = api.put(f"/users/{sender.pk}/memberships/{sales}", {"role_id": builtin("read_only").pk})
    assert response.status_code == 200
    assert api.post(f"/users/{sender.pk}/disable").status_code == 200
    assert api.post(f"/users/{sender.pk}/enable").status_code == 200
    assert api.delete(f"/users/{sender.pk}/memberships/{sales}").status_code == 204
    # A narrow key manages users no wider than itself.
    narrow = Role.objects.create(customer=world.acme.customer, name="Helper", perms=["manage_users"])
    api = keyed(world, client, creator, ["manage_users"])
    response = api.post(
        "/users",
        {
            "first_name": "Hal",
            "last_name": "Helper",
            "email": "hal@acme.test",
            "memberships": [{"account_id": sales, "role_id": narrow.pk}],
        },
    )
    assert response.status_code == 201, response.content
    hal = response.json()["id"]
    assert api.patch(f"/users/{hal}", {"first_name": "Hallie"}).status_code == 200


def test_a_masters_session_still_may(world, client, second_master):
    """With the password typed again (tests/api/test_master_reauth_api.py covers its absence)."""
    client.force_login(world.acme.master)
    api = Api(client)
    ok = {"current_password": world.password}
    response = api.post(
        "/users",
        {"first_name": "Third", "last_name": "Master", "email": "third@acme.test", "is_master": True, **ok},
    )
    assert response.status_code == 201 and response.json()["is_master"] is True
    assert api.patch(f"/users/{second_master.pk}", {"email": "max2@acme.test", **ok}).status_code == 200
    assert api.post(f"/users/{second_master.pk}/disable", ok).status_code == 200
    assert api.post(f"/users/{second_master.pk}/enable", ok).status_code == 200
    assert api.patch(f"/users/{second_master.pk}", {"is_master": False, **ok}).status_code == 200
    assert not User.objects.get(pk=second_master.pk).is_master


@pytest.mark.parametrize("creator", CREATORS)
@pytest.mark.parametrize("subset", ["manage_users+roles+keys", "everything"])
def test_a_key_cannot_change_a_role_used_in_another_account(world, client, creator, subset):
    """Editing a role changes what its members may do wherever they hold it: a Sales key may not reach
    Support desk that way."""
    role = Role.objects.create(customer=world.acme.customer, name="Desk", perms=["view_users"])
    Membership.objects.create(
        customer=world.acme.customer, account=world.acme.other_account, user=world.acme.users["sender"], role=role
    )
    api = keyed(world, client, creator, SUBSETS[subset])
    before = state()
    refused(api.patch(f"/roles/{role.pk}", {"perms": ["view_users", "manage_users"]}))
    refused(api.patch(f"/roles/{role.pk}", {"perms": ["manage_users"]}))
    assert state() == before
    role.refresh_from_db()
    assert role.perms == ["view_users"]
