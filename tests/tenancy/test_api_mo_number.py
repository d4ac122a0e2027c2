"""The MO number through the accounts API, as on the web Add/Edit account form: `mo_number_id` names one
of the customer's activated numbers; anything else is a 422 naming the field, and a refusal (a number
shared with an account the caller may not manage) leaves no account behind and no rename applied."""

from __future__ import annotations

import pytest

from kontor.access.services import create_api_key
from kontor.audit.models import AuditEntry
from kontor.numbers import services as number_services
from kontor.numbers.models import AccountNumber
from kontor.tenancy.models import Account
from tests.api.conftest import ALL_PERMS, Api, problem
from tests.numbers import conftest as numbers_conftest

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums
MISSING = 987_654_321


def linked(account: Account):
    link = AccountNumber.objects.filter(account=account).select_related("number").first()
    return link.number if link else None


def counts():
    return (
        Account.objects.count(),
        AccountNumber.objects.count(),
        AuditEntry.objects.filter(action__in=["account.create", "account.update", "account.mo_number"]).count(),
    )


@pytest.fixture
def master_api(client, world):
    client.force_login(world.acme.master)
    return Api(client)


def test_create_with_an_mo_number_links_it_and_says_so(master_api, world, nums):
    res = master_api.post("/accounts", {"name": "Marketing", "mo_number_id": nums.short.pk})
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["mo_number"] == {"id": nums.short.pk, "number": "72000"}
    account = Account.objects.get(pk=body["id"], customer=world.acme.customer)
    assert linked(account) == nums.short
    entry = AuditEntry.objects.get(action="account.mo_number", object_id=str(account.pk))
    assert entry.actor == world.acme.master and entry.after == {"mo_number": "72000"}


def test_create_without_one_uses_the_default_number(master_api, world, nums):
    for body in ({"name": "Plain"}, {"name": "Plainer", "mo_number_id": None}):
        res = master_api.post("/accounts", body)
        assert res.status_code == 201, res.content
        assert res.json()["mo_number"] is None
        assert linked(Account.objects.get(pk=res.json()["id"])) is None


def test_create_refuses_numbers_that_are_not_the_customers(master_api, world, nums):
    before = counts()
    # Globex's number, one in the inventory nobody holds, and one that does not exist: the same answer.
    for pk in (nums.dedicated.pk, nums.spare.pk, MISSING):
        body = problem(master_api.post("/accounts", {"name": "Marketing", "mo_number_id": pk}), 422, "validation_error")
        assert list(body["errors"]) == ["mo_number_id"], body
    assert counts() == before
    assert not Account.objects.filter(name="Marketing").exists()


@pytest.mark.parametrize("bad", ["72000", "abc", True, 0, -1, 1.5, 2**64, [1]])
def test_create_refuses_malformed_ids(master_api, world, nums, bad):
    before = counts()
    body = problem(master_api.post("/accounts", {"name": "Marketing", "mo_number_id": bad}), 422, "validation_error")
    assert any(name.endswith("mo_number_id") for name in body["errors"]), body
    assert counts() == before


def test_a_refused_number_creates_no_account(client, world, nums):
    acme = world.acme
    # Ops uses the short code; the administrator is not a member of Ops, so may not share its number.
    ops = Account.objects.create(customer=acme.customer, name="Ops")
    number_services.set_account_number(ops, nums.short, actor=acme.master)
    client.force_login(acme.users["administrator"])
    before = counts()
    problem(
        Api(client).post("/accounts", {"name": "Marketing", "mo_number_id": nums.short.pk}), 403, "permission_denied"
    )
    assert counts() == before and not Account.objects.filter(name="Marketing").exists()
    assert list(AccountNumber.objects.filter(number=nums.short).values_list("account__name", flat=True)) == ["Ops"]


def test_an_api_key_can_choose_the_number(client, world, nums):
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Numbers", perms=ALL_PERMS)
    keyed = Api(client, issued.secret)
    res = keyed.post("/accounts", {"name": "Keyed", "mo_number_id": nums.one_way.pk})
    assert res.status_code == 201, res.content
    assert linked(Account.objects.get(pk=res.json()["id"])) == nums.one_way


def test_update_changes_keeps_and_clears_the_number(master_api, world, nums):
    sales = world.acme.account
    path = f"/accounts/{sales.pk}"
    audited = AuditEntry.objects.filter(action="account.mo_number", object_id=str(sales.pk))
    # Absent: the number stays.
    res = master_api.patch(path, {"name": "Sales team"})
    assert res.status_code == 200 and res.json()["mo_number"]["id"] == nums.shared.pk
    assert linked(sales) == nums.shared
    # The same number again is no change and no audit row.
    before = audited.count()
    assert master_api.patch(path, {"mo_number_id": nums.shared.pk}).status_code == 200
    assert audited.count() == before
    res = master_api.patch(path, {"mo_number_id": nums.short.pk})
    assert res.status_code == 200 and res.json()["mo_number"] == {"id": nums.short.pk, "number": "72000"}
    assert linked(sales) == nums.short and audited.count() == before + 1
    res = master_api.patch(path, {"mo_number_id": None})
    assert res.status_code == 200 and res.json()["mo_number"] is None
    assert linked(sales) is None


def test_update_refusals_change_nothing(client, master_api, world, nums):
    acme = world.acme
    sales = acme.account
    path = f"/accounts/{sales.pk}"
    before = counts()
    for pk in (nums.dedicated.pk, nums.spare.pk, MISSING):
        body = problem(master_api.patch(path, {"name": "Renamed", "mo_number_id": pk}), 422, "validation_error")
        assert list(body["errors"]) == ["mo_number_id"]
    problem(master_api.patch(path, {"mo_number_id": "x"}), 422, "validation_error")
    assert counts() == before
    sales.refresh_from_db()
    assert sales.name == "Sales" and linked(sales) == nums.shared
    # Refused by the number service after the rename: the rename is rolled back too.
    ops = Account.objects.create(customer=acme.customer, name="Ops")
    number_services.set_account_number(ops, nums.short, actor=acme.master)
    client.force_login(acme.users["administrator"])
    before = counts()
    problem(Api(client).patch(path, {"name": "Renamed", "mo_number_id": nums.short.pk}), 403, "permission_denied")
    assert counts() == before
    sales.refresh_from_db()
    assert sales.name == "Sales" and linked(sales) == nums.shared


def test_another_customers_account_is_404_whatever_the_number(master_api, world, nums):
    path = f"/accounts/{world.globex.account.pk}"
    problem(master_api.patch(path, {"mo_number_id": nums.short.pk}), 404, "not_found")
    assert linked(world.globex.account) == nums.dedicated
