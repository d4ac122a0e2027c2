"""Issue 8 §4.5: a disabled user's API key kept working for up to 2 s, even in the process that disabled
it, because the key's scope is memoised (kontor/core/hotcache.py). Every change that takes something away
from a key's creator now forgets the memoised key scopes of this process when it commits."""

from __future__ import annotations

import pytest

from kontor.access.models import Role
from kontor.access.services import (
    create_api_key,
    create_user,
    remove_membership,
    save_role,
    set_membership,
    set_user_active,
    update_user,
)
from kontor.core import hotcache
from kontor.tenancy.models import Membership
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _memo_on(settings):
    settings.KONTOR_HOT_CACHE_SECONDS = 600  # far longer than any test: only forgetting can help
    hotcache.clear()
    yield
    hotcache.clear()


def builtin(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


def _disable(world, user) -> None:  # type: ignore[no-untyped-def]
    set_user_active(user, False, actor=world.acme.master)


def _remove_access(world, user) -> None:  # type: ignore[no-untyped-def]
    remove_membership(Membership.objects.get(user=user, account=world.acme.account), actor=world.acme.master)


def _demote(world, user) -> None:  # type: ignore[no-untyped-def]
    set_membership(world.acme.account, user, builtin("read_only"), actor=world.acme.master)


def _narrow_role(world, user) -> None:  # type: ignore[no-untyped-def]
    role = Membership.objects.get(user=user, account=world.acme.account).role
    save_role(world.acme.customer, role, actor=world.acme.master, name=role.name, perms=["view_users"])


def _unmaster(world, user) -> None:  # type: ignore[no-untyped-def]
    update_user(user, actor=world.acme.master, is_master=False)


CHANGES = {
    "disable": _disable,
    "remove access": _remove_access,
    "demote": _demote,
    "narrow the role": _narrow_role,
    "remove master rights": _unmaster,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_taking_away_stops_the_key_at_once(world, client, change, django_capture_on_commit_callbacks):
    customer = world.acme.customer
    if change == "remove master rights":
        user = create_user(
            customer, actor=world.acme.master, first_name="M", last_name="Two", email="m2@acme.test", is_master=True
        )
    else:
        role = Role.objects.create(customer=customer, name="Keeper", perms=["view_users", "manage_users"])
        user = create_user_with(world, role)
    # 'Manage users' alone: it lets the key list users, and every change below takes it away.
    api = Api(client, create_api_key(world.acme.account, actor=user, name="Cached", perms=["manage_users"]).secret)
    assert api.get("/users").status_code == 200  # the key's scope is memoised now
    with django_capture_on_commit_callbacks(execute=True):
        CHANGES[change](world, user)
    assert api.get("/users").status_code in (401, 403)


def create_user_with(world, role: Role):  # type: ignore[no-untyped-def]
    return create_user(
        world.acme.customer,
        actor=world.acme.master,
        first_name="Kai",
        last_name="Keeper",
        email="kai@acme.test",
        memberships=[(world.acme.account, role)],
        send_welcome=False,
    )
