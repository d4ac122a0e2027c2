"""Account operations act on the account named in the path, so the permission is checked *there*, the
same on the web and in the API; a key acts on its own account only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.models import Role
from kontor.access.services import create_user
from kontor.tenancy.models import Account, Membership
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db


def builtin(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


@pytest.fixture
def two_hats(world):
    """Administrator in Sales (where they work), only a Sender in Support desk."""
    return create_user(
        world.acme.customer,
        actor=world.acme.master,
        first_name="Two",
        last_name="Hats",
        email="two-hats@acme.test",
        memberships=[(world.acme.account, builtin("administrator")), (world.acme.other_account, builtin("sender"))],
        send_welcome=False,
    )


def test_session_needs_the_permission_in_the_target_account(world, client, two_hats):
    client.force_login(two_hats)
    assert client.post(reverse("tenancy:switch"), {"account": str(world.acme.account.pk)}).status_code == 302
    api, desk, sales = Api(client), world.acme.other_account, world.acme.account
    assert api.get(f"/accounts/{desk.pk}").status_code == 200  # they may see it...
    problem(api.patch(f"/accounts/{desk.pk}", {"name": "Mine"}), 403, "permission_denied")  # ...not change it
    problem(api.delete(f"/accounts/{desk.pk}"), 403, "permission_denied")
    problem(api.post(f"/accounts/{desk.pk}/restore"), 403, "permission_denied")
    sender = world.acme.users["sender"]
    problem(
        api.put(f"/users/{sender.pk}/memberships/{desk.pk}", {"role_id": builtin("sender").pk}),
        403,
        "permission_denied",
    )
    admin = world.acme.users["administrator"]
    problem(api.delete(f"/users/{admin.pk}/memberships/{desk.pk}"), 403, "permission_denied")
    assert Account.objects.get(pk=desk.pk).name == "Support desk" and desk.is_active
    assert not Membership.objects.filter(user=sender, account=desk).exists()
    assert Membership.objects.filter(user=admin, account=desk).exists()
    # The web answers the same.
    assert client.get(reverse("tenancy:account_edit", args=[desk.pk])).status_code == 403
    assert client.post(reverse("tenancy:account_delete", args=[desk.pk])).status_code == 403
    # In Sales, where they are Administrator, the same operations work.
    assert api.patch(f"/accounts/{sales.pk}", {"office_hours_only": True}).status_code == 200
    assert (
        api.put(f"/users/{sender.pk}/memberships/{sales.pk}", {"role_id": builtin("read_only").pk}).status_code == 200
    )


def test_a_key_acts_on_its_own_account_only(world, client, make_key):
    api = Api(client, make_key(world.acme))  # every permission, bound to Sales
    desk, sales = world.acme.other_account, world.acme.account
    for response in (
        api.get(f"/accounts/{desk.pk}"),
        api.patch(f"/accounts/{desk.pk}", {"name": "Mine"}),
        api.delete(f"/accounts/{desk.pk}"),
        api.post(f"/accounts/{desk.pk}/restore"),
        api.put(f"/users/{world.acme.users['sender'].pk}/memberships/{desk.pk}", {"role_id": builtin("sender").pk}),
        api.delete(f"/users/{world.acme.users['administrator'].pk}/memberships/{desk.pk}"),
    ):
        problem(response, 404, "not_found")
    assert Account.objects.get(pk=desk.pk).name == "Support desk"
    assert Membership.objects.filter(user=world.acme.users["administrator"], account=desk).exists()
    assert api.patch(f"/accounts/{sales.pk}", {"office_hours_only": True}).status_code == 200
    assert Account.objects.get(pk=sales.pk).office_hours_only


def test_a_master_session_reaches_every_account(world, client):
    client.force_login(world.acme.master)
    api, desk = Api(client), world.acme.other_account
    assert api.patch(f"/accounts/{desk.pk}", {"office_hours_only": True}).status_code == 200
    sender = world.acme.users["sender"]
    assert api.put(f"/users/{sender.pk}/memberships/{desk.pk}", {"role_id": builtin("sender").pk}).status_code == 200
