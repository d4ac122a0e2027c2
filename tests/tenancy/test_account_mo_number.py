"""The MO number on Add/Edit account (manual 000: "Select the MO number"): only the customer's own
assigned numbers are offered; a choice links the number in the same transaction as the account, and a
refusal shows at the field and leaves no account behind."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.numbers import services as number_services
from kontor.numbers.models import AccountNumber
from kontor.tenancy.models import Account
from tests.numbers import conftest as numbers_conftest

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums
ADD = "tenancy:account_add"


def post(name="Marketing", mo_number=""):
    return {"name": name, "cost_center": "", "mo_number": mo_number}


def linked(account: Account):
    link = AccountNumber.objects.filter(account=account).select_related("number").first()
    return link.number if link else None


def test_choosing_a_number_links_it_to_the_new_account(client, world, nums):
    admin = world.acme.users["administrator"]
    client.force_login(admin)
    res = client.post(reverse(ADD), post(mo_number=nums.short.pk))
    account = Account.objects.get(customer=world.acme.customer, name="Marketing")
    assert res.status_code == 302 and linked(account) == nums.short
    entry = AuditEntry.objects.get(action="account.mo_number", object_id=str(account.pk))
    assert entry.actor == admin and entry.after == {"mo_number": nums.short.value}
    # Without a choice the account uses the default number: no link.
    assert client.post(reverse(ADD), post(name="Plain")).status_code == 302
    assert linked(Account.objects.get(customer=world.acme.customer, name="Plain")) is None


def test_only_the_customers_assigned_numbers_are_offered(client, world, nums):
    client.force_login(world.acme.users["administrator"])
    page = client.get(reverse(ADD)).content.decode()
    for mine in (nums.shared, nums.short, nums.one_way):
        assert f'value="{mine.pk}"' in page and mine.value in page
    assert nums.dedicated.value not in page  # Globex's
    assert nums.spare.value not in page  # in the inventory, nobody's
    assert "Default number (cannot receive messages or replies)" in page
    accounts, links = Account.objects.count(), AccountNumber.objects.count()
    for foreign in (nums.dedicated, nums.spare):
        res = client.post(reverse(ADD), post(mo_number=foreign.pk))
        assert res.status_code == 200 and 'id="id_mo_number_error"' in res.content.decode()
    assert (Account.objects.count(), AccountNumber.objects.count()) == (accounts, links)
    assert not AuditEntry.objects.filter(action="account.create").exists()


def test_a_refused_number_shows_inline_and_creates_no_account(client, world, nums):
    acme = world.acme
    # Ops uses the short code; the administrator is not a member of Ops, so may not share its number.
    ops = Account.objects.create(customer=acme.customer, name="Ops")
    number_services.set_account_number(ops, nums.short, actor=acme.master)
    client.force_login(acme.users["administrator"])
    before = Account.objects.count()
    res = client.post(reverse(ADD), post(mo_number=nums.short.pk))
    assert res.status_code == 200
    body = res.content.decode()
    assert 'id="id_mo_number_error"' in body and "Ops" in body
    assert Account.objects.count() == before
    assert not Account.objects.filter(name="Marketing").exists()
    assert not AuditEntry.objects.filter(
        action__in=["account.create", "account.mo_number"], actor=acme.users["administrator"]
    ).exists()
    assert list(AccountNumber.objects.filter(number=nums.short).values_list("account__name", flat=True)) == ["Ops"]
    # A master user may share it.
    client.force_login(acme.master)
    assert client.post(reverse(ADD), post(mo_number=nums.short.pk)).status_code == 302
    assert linked(Account.objects.get(customer=acme.customer, name="Marketing")) == nums.short


def test_edit_shows_changes_and_keeps_the_mo_number(client, world, nums):
    acme = world.acme
    client.force_login(acme.master)
    url = reverse("tenancy:account_edit", args=[acme.account.pk])
    page = client.get(url).content.decode()
    assert f'<option value="{nums.shared.pk}" selected>' in page
    assert nums.dedicated.value not in page
    # Saving other fields keeps the number, with no new audit row for it.
    audited = AuditEntry.objects.filter(action="account.mo_number", object_id=str(acme.account.pk))
    count = audited.count()
    assert client.post(url, post(name="Sales", mo_number=nums.shared.pk)).status_code == 302
    assert linked(acme.account) == nums.shared and audited.count() == count
    assert client.post(url, post(name="Sales", mo_number=nums.short.pk)).status_code == 302
    assert linked(acme.account) == nums.short
    # Another customer's number is refused at the field; nothing changes.
    res = client.post(url, post(name="Renamed", mo_number=nums.dedicated.pk))
    assert res.status_code == 200 and 'id="id_mo_number_error"' in res.content.decode()
    acme.account.refresh_from_db()
    assert acme.account.name == "Sales" and linked(acme.account) == nums.short
    # Back to the default number.
    assert client.post(url, post(name="Sales")).status_code == 302
    assert linked(acme.account) is None


def test_a_refused_number_on_edit_rolls_back_the_rename(client, world, nums):
    acme = world.acme
    ops = Account.objects.create(customer=acme.customer, name="Ops")
    number_services.set_account_number(ops, nums.short, actor=acme.master)
    client.force_login(acme.users["administrator"])
    url = reverse("tenancy:account_edit", args=[acme.account.pk])
    res = client.post(url, post(name="Renamed", mo_number=nums.short.pk))
    assert res.status_code == 200 and 'id="id_mo_number_error"' in res.content.decode()
    acme.account.refresh_from_db()
    assert acme.account.name == "Sales" and linked(acme.account) == nums.shared
