"""Privilege escalation: nobody gets more than they hold, by any path. Each path is tried on the web
and through the API (session and key), must be refused (403, or 422 for a body naming what the caller
cannot reach), and must change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import Perm
from kontor.access.selectors import perms_in_account
from kontor.access.services import create_api_key, create_user, set_user_active
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, Membership
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db


def builtin(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


def member(world, email: str, role: Role, *accounts: Account) -> User:
    return create_user(
        world.acme.customer,
        actor=world.acme.master,
        first_name="Esc",
        last_name="Alator",
        email=email,
        memberships=[(a, role) for a in (accounts or (world.acme.account,))],
        send_welcome=False,
    )


def key_of(user: User, account: Account, *perms: str) -> str:
    return create_api_key(account, actor=user, name="Escalation", perms=list(perms)).secret


def role_state(role: Role) -> tuple:
    role.refresh_from_db()
    return (role.name, sorted(role.perms), AuditEntry.objects.filter(action="role.update").count())


# --- (1) a role editor adds to a role what they lack ---------------------------------------------


@pytest.fixture
def keeper(world) -> tuple[User, Role]:
    """A custom role holding only 'Manage roles', and a user who has it in Sales."""
    role = Role.objects.create(customer=world.acme.customer, name="Role keeper", perms=["manage_roles"])
    return member(world, "keeper@acme.test", role), role


def test_role_editor_cannot_add_what_they_lack_on_the_web(world, client, keeper):
    user, role = keeper
    before = role_state(role)
    client.force_login(user)
    edit = reverse("access:role_edit", args=[role.pk])
    assert client.get(edit).status_code == 200  # they may edit the role...
    response = client.post(edit, {"name": role.name, "perms": ["manage_roles", "manage_users"]})
    assert response.status_code == 403  # ...but not beyond themselves
    assert response.context["form"].errors
    assert role_state(role) == before
    assert Perm.MANAGE_USERS not in perms_in_account(user, world.acme.account)
    # Nor by making a new role to hand out later.
    roles = Role.objects.count()
    response = client.post(reverse("access:role_add"), {"name": "Wider", "perms": ["manage_users"]})
    assert response.status_code == 403 and Role.objects.count() == roles


def test_role_editor_cannot_add_what_they_lack_through_the_api(world, client, keeper):
    user, role = keeper
    before = role_state(role)
    client.force_login(user)
    problem(
        Api(client).patch(f"/roles/{role.pk}", {"perms": ["manage_roles", "manage_users"]}), 403, "permission_denied"
    )
    assert role_state(role) == before
    client.logout()
    api = Api(client, key_of(user, world.acme.account, "manage_roles"))
    problem(api.patch(f"/roles/{role.pk}", {"perms": ["manage_roles", "manage_users"]}), 403, "permission_denied")
    roles = Role.objects.count()
    problem(api.post("/roles", {"name": "Wider", "perms": ["manage_users"]}), 403, "permission_denied")
    assert role_state(role) == before and Role.objects.count() == roles


def test_a_narrow_key_of_a_master_cannot_define_wider_roles(world, client):
    """The key's own permissions cap what it may do, even though its creator may do everything."""
    api = Api(client, key_of(world.acme.master, world.acme.account, "manage_roles"))
    roles = Role.objects.count()
    problem(api.post("/roles", {"name": "Wider", "perms": ["manage_users"]}), 403, "permission_denied")
    assert Role.objects.count() == roles
    assert api.post("/roles", {"name": "Same", "perms": ["manage_roles"]}).status_code == 201


# --- (2) creating an account does not make its creator an administrator there ---------------------


@pytest.fixture
def maker(world) -> tuple[User, Role]:
    role = Role.objects.create(customer=world.acme.customer, name="Account maker", perms=["create_accounts"])
    return member(world, "maker@acme.test", role), role


def _creator_gains_nothing(world, user: User, role: Role, name: str) -> Account:
    account = Account.objects.get(customer=world.acme.customer, name=name)
    assert Membership.objects.get(account=account, user=user).role == role
    assert perms_in_account(user, account) == {Perm.CREATE_ACCOUNTS}
    return account


def test_account_creator_gains_nothing_on_the_web(world, client, maker):
    user, role = maker
    client.force_login(user)
    response = client.post(reverse("tenancy:account_add"), {"name": "Mine now", "custom_columns": ""})
    assert response.status_code == 302, response.content
    account = _creator_gains_nothing(world, user, role, "Mine now")
    # And so the new account's settings stay out of reach.
    assert client.get(reverse("tenancy:account_edit", args=[account.pk])).status_code == 403
    assert client.post(reverse("tenancy:account_delete", args=[account.pk])).status_code == 403
    assert Account.objects.filter(pk=account.pk, status="active").exists()


def test_account_creator_gains_nothing_through_the_api(world, client, maker):
    user, role = maker
    client.force_login(user)
    api = Api(client)
    response = api.post("/accounts", {"name": "Mine via API"})
    assert response.status_code == 201, response.content
    account = _creator_gains_nothing(world, user, role, "Mine via API")
    problem(api.patch(f"/accounts/{account.pk}", {"name": "Renamed"}), 403, "permission_denied")
    problem(api.delete(f"/accounts/{account.pk}"), 403, "permission_denied")
    assert Account.objects.get(pk=account.pk).name == "Mine via API"
    # A key of the same user: the same role, never more.
    client.logout()
    keyed = Api(client, key_of(user, world.acme.account, "create_accounts"))
    assert keyed.post("/accounts", {"name": "Mine via key"}).status_code == 201
    _creator_gains_nothing(world, user, role, "Mine via key")


# --- (3) 'Manage users' in one account is no key to a user of another ------------------------------


@pytest.fixture
def sales_admin(world) -> User:
    """Administrator of Sales only; world.acme.users["administrator"] is Administrator in both accounts."""
    return member(world, "sales-admin@acme.test", builtin("administrator"))


def user_state(user: User) -> tuple:
    user.refresh_from_db()
    return (user.first_name, user.last_name, user.email, user.is_active)


def test_one_accounts_admin_cannot_change_another_accounts_admin_on_the_web(world, client, sales_admin):
    target = world.acme.users["administrator"]
    before = user_state(target)
    client.force_login(sales_admin)
    edit = reverse("access:user_edit", args=[target.pk])
    data = {"first_name": "Hacked", "last_name": "X", "email": target.email, "time_zone": "UTC"}
    assert client.get(edit).status_code == 403
    assert client.post(edit, data).status_code == 403
    disable = reverse("access:user_disable", args=[target.pk])
    assert client.get(disable).status_code == 403
    assert client.post(disable).status_code == 403
    assert user_state(target) == before
    assert not AuditEntry.objects.filter(object_id=str(target.pk), action__in=["user.update", "user.disable"]).exists()
    # The detail page offers no edit for them either; a user of Sales only is theirs to change.
    detail = client.get(reverse("access:user_detail", args=[target.pk]))
    assert detail.status_code == 200 and edit.encode() not in detail.content
    sender = world.acme.users["sender"]
    assert client.post(reverse("access:user_disable", args=[sender.pk])).status_code == 302
    assert not User.objects.get(pk=sender.pk).is_active


def test_one_accounts_admin_cannot_change_another_accounts_admin_through_the_api(world, client, sales_admin):
    target = world.acme.users["administrator"]
    before = user_state(target)
    client.force_login(sales_admin)
    for api in (Api(client), Api(client, key_of(sales_admin, world.acme.account, "manage_users", "view_users"))):
        problem(api.patch(f"/users/{target.pk}", {"first_name": "Hacked"}), 403, "permission_denied")
        problem(api.post(f"/users/{target.pk}/disable"), 403, "permission_denied")
        # Nor take away their access to the other account, or change it.
        other = world.acme.other_account.pk
        assert api.delete(f"/users/{target.pk}/memberships/{other}").status_code in (403, 404)
        response = api.put(f"/users/{target.pk}/memberships/{other}", {"role_id": builtin("read_only").pk})
        assert response.status_code in (403, 404)
        assert user_state(target) == before
    assert Membership.objects.get(user=target, account=world.acme.other_account).role == builtin("administrator")


# --- (4) keys cannot mint more than they hold -----------------------------------------------------


def test_a_key_manager_key_cannot_mint_a_wider_key(world, client):
    api = Api(client, key_of(world.acme.master, world.acme.account, "manage_api_keys"))
    keys = ApiKey.objects.count()
    problem(api.post("/api-keys", {"name": "Wider", "perms": ["send_sms"]}), 403, "permission_denied")
    problem(
        api.post("/api-keys", {"name": "Wider", "perms": ["manage_api_keys", "manage_users"]}), 403, "permission_denied"
    )
    assert ApiKey.objects.count() == keys
    assert api.post("/api-keys", {"name": "Same", "perms": ["manage_api_keys"]}).status_code == 201


def test_a_user_manager_key_cannot_create_an_administrator(world, client):
    api = Api(client, key_of(world.acme.master, world.acme.account, "manage_users"))
    users, memberships = User.objects.count(), Membership.objects.count()
    body = {
        "first_name": "Power",
        "last_name": "Grab",
        "email": "power@acme.test",
        "memberships": [{"account_id": world.acme.account.pk, "role_id": builtin("administrator").pk}],
    }
    problem(api.post("/users", body), 403, "permission_denied")
    problem(api.post("/users", {**body, "is_master": True}), 403, "permission_denied")
    assert (User.objects.count(), Membership.objects.count()) == (users, memberships)
    # Nor hand the role to an existing user.
    sender = world.acme.users["sender"]
    problem(
        api.put(f"/users/{sender.pk}/memberships/{world.acme.account.pk}", {"role_id": builtin("administrator").pk}),
        403,
        "permission_denied",
    )
    assert Membership.objects.get(user=sender, account=world.acme.account).role == builtin("sender")


# --- (8) a disabled creator's key stops working ---------------------------------------------------


def test_a_disabled_creators_key_is_not_authenticated(world, client):
    admin = world.acme.users["administrator"]
    api = Api(client, key_of(admin, world.acme.account, "view_users", "manage_users"))
    assert api.get("/me").status_code == 200
    set_user_active(admin, False, actor=world.acme.master)
    problem(api.get("/me"), 401, "not_authenticated")
    problem(api.post(f"/users/{world.acme.users['sender'].pk}/disable"), 401, "not_authenticated")
    assert User.objects.get(pk=world.acme.users["sender"].pk).is_active
    set_user_active(admin, True, actor=world.acme.master)
    assert api.get("/me").status_code == 200  # enabled again, the key works again (it was not revoked)
