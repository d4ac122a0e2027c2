"""Pinned query counts for the list pages and list operations: with thirty extra rows of everything a
list shows, a page costs a fixed number of queries. A query per row (N+1) breaks these bounds at once.
Bounds sit a little above what was measured, so an extra query or two is fine; one per row is not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import CUSTOMER_PERMS
from kontor.access.services import create_api_key
from kontor.audit.services import record
from kontor.tenancy.models import Account, CustomColumn, Membership, Office, Team
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db

EXTRA = 30
ALL = sorted(p.value for p in CUSTOMER_PERMS)


def grow(world, n: int = EXTRA) -> None:
    """`n` more of each listed thing for Acme: accounts with columns, users with memberships in two
    accounts, offices with teams, custom roles, API keys of Sales, and audit entries."""
    a = world.acme
    admin = Role.objects.get(customer=None, slug="administrator")
    sender = Role.objects.get(customer=None, slug="sender")
    for i in range(n):
        account = Account.objects.create(customer=a.customer, name=f"Extra {i:02d}", cost_center=world.cost_center)
        for position, name in enumerate(["Name", "Code"], start=1):
            CustomColumn.objects.create(customer=a.customer, account=account, position=position, name=name)
        office = Office.objects.create(customer=a.customer, name=f"Office {i:02d}")
        team = Team.objects.create(customer=a.customer, name=f"Team {i:02d}", office=office)
        user = User.objects.create_user(
            email=f"extra{i:02d}@acme.test",
            first_name="Extra",
            last_name=f"{i:02d}",
            customer=a.customer,
            primary_office=office,
            team=team,
        )
        user.additional_offices.add(a.branch)
        Membership.objects.create(customer=a.customer, account=a.account, user=user, role=sender)
        Membership.objects.create(customer=a.customer, account=account, user=user, role=admin)
        # Masters reach every account; the administrator works in these too, as one would.
        Membership.objects.create(customer=a.customer, account=account, user=a.users["administrator"], role=admin)
        Role.objects.create(customer=a.customer, name=f"Custom {i:02d}", perms=["send_sms", "view_users"])
        ApiKey.objects.create(
            customer=a.customer,
            account=a.account,
            name=f"Key {i:02d}",
            prefix=f"x{a.customer.pk}{i:03d}",
            key_hash="0" * 64,
            perms=["send_sms"],
            created_by=user,
        )
        record("office.create", office, actor=a.master, customer=a.customer, after={"name": office.name})
        record("account.update", account, actor=user, customer=a.customer, account_id=account.pk, after={"i": i})


# name -> most queries the page may take (as the master user, after grow()).
PAGES = {
    "access:users": 17,  # measured 14
    "tenancy:accounts": 10,  # 7
    "audit:log": 12,  # 9
    "access:roles": 10,  # 7
    "access:api_keys": 10,  # 7
    "tenancy:offices": 12,  # 9
}
# path -> most queries, by key and by session (measured: key 10/12/8, session 8/11/7).
API = {
    "/accounts": 13,
    "/users": 15,
    "/audit": 11,
}


@pytest.fixture
def grown(world):
    grow(world)
    return world


def sign_in(client, world, user: User) -> None:
    """Sign in and work in Sales, where the API keys (and most members) are."""
    client.force_login(user)
    assert client.post(reverse("tenancy:switch"), {"account": str(world.acme.account.pk)}).status_code == 302


@pytest.mark.parametrize(("name", "bound"), PAGES.items())
def test_list_page_query_count_is_pinned(grown, client, django_assert_max_num_queries, name, bound):
    sign_in(client, grown, grown.acme.master)
    with django_assert_max_num_queries(bound):
        response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["access:users", "tenancy:accounts", "audit:log"])
def test_list_pages_as_a_member_of_many_accounts(grown, client, django_assert_max_num_queries, name):
    """The administrator works in 32 accounts: their pages must not cost a query per account either."""
    sign_in(client, grown, grown.acme.users["administrator"])
    with django_assert_max_num_queries(PAGES[name] + 2):
        response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "bound"), API.items())
def test_api_list_query_count_is_pinned_for_a_key(grown, client, django_assert_max_num_queries, path, bound):
    secret = create_api_key(grown.acme.account, actor=grown.acme.master, name="Counting", perms=ALL).secret
    api = Api(client, secret)
    with django_assert_max_num_queries(bound):
        response = api.get(path, {"limit": 200})
    assert response.status_code == 200


@pytest.mark.parametrize(("path", "bound"), API.items())
def test_api_list_query_count_is_pinned_for_a_session(grown, client, django_assert_max_num_queries, path, bound):
    sign_in(client, grown, grown.acme.master)
    with django_assert_max_num_queries(bound):
        response = Api(client).get(path, {"limit": 200})
    assert response.status_code == 200
    assert response.json()["count"] > EXTRA  # the rows are really there, so an N+1 would show


def test_the_lists_do_show_the_extra_rows(grown, client):
    """Guards the bounds above: the pages list the grown rows (a page of them at least)."""
    sign_in(client, grown, grown.acme.master)
    assert b"Extra 00" in client.get(reverse("tenancy:accounts")).content
    assert b"extra00@acme.test" in client.get(reverse("access:users"), {"q": "extra00"}).content
    assert b"Office 00" in client.get(reverse("tenancy:offices")).content
    assert b"Custom 00" in client.get(reverse("access:roles")).content
    assert client.get(reverse("access:api_keys")).content.count(b"Key ") >= 20
    body = Api(client).get("/accounts", {"limit": 200}).json()
    extra = next(a for a in body["items"] if a["name"] == "Extra 00")
    assert [c["name"] for c in extra["custom_columns"]] == ["Name", "Code"]


def test_user_add_costs_no_role_query_per_account(world, client, django_assert_max_num_queries):
    """The add-user form offers a role per account: roles and the actor's memberships are read once;
    each account's choice list is one query when rendered (a form field's own), nothing more."""
    client.force_login(world.acme.users["administrator"])
    with django_assert_max_num_queries(40) as few:
        assert client.get(reverse("access:user_add")).status_code == 200
    base = len(few.captured_queries)
    grow(world, 10)  # ten more accounts the administrator works in
    with django_assert_max_num_queries(base + 10 + 2):
        response = client.get(reverse("access:user_add"))
    assert response.status_code == 200
    assert b"Role in Extra 09" in response.content
