"""The MO number of an account that is not the one you are working in (issue 8 §3): the detail page shows
the real number, Edit preselects it, and clearing it really clears it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.numbers import services as number_services
from kontor.numbers.models import AccountNumber
from kontor.tenancy.models import Account
from tests.numbers import conftest as numbers_conftest

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums


def linked(account: Account):
    link = AccountNumber.objects.filter(account=account).select_related("number").first()
    return link.number if link else None


@pytest.fixture
def ops(world, nums):
    """Acme's account "Warehouse" uses the short code 72000; the master works in Sales (first by name)."""
    ops = Account.objects.create(customer=world.acme.customer, name="Warehouse")
    number_services.set_account_number(ops, nums.short, actor=world.acme.master)
    return ops


@pytest.mark.parametrize("which", ["current", "other"])
def test_detail_page_shows_the_accounts_number(client, world, nums, ops, which):
    acme = world.acme
    account = acme.account if which == "current" else ops
    client.force_login(acme.master)
    html = client.get(reverse("tenancy:account_detail", args=[account.pk])).content.decode()
    expected = nums.shared if which == "current" else nums.short
    assert expected.value in html
    assert "provider's default number" not in html


def test_detail_page_of_an_account_without_a_number_says_default(client, world, nums):
    plain = Account.objects.create(customer=world.acme.customer, name="Plain")
    client.force_login(world.acme.master)
    html = client.get(reverse("tenancy:account_detail", args=[plain.pk])).content.decode()
    assert "provider's default number" in html and nums.short.value not in html


def test_edit_preselects_the_number_of_another_account(client, world, nums, ops):
    client.force_login(world.acme.master)
    response = client.get(reverse("tenancy:account_edit", args=[ops.pk]))
    assert response.status_code == 200
    assert response.context["form"]["mo_number"].value() == nums.short.pk
    assert f'<option value="{nums.short.pk}" selected>' in response.content.decode()


def test_clearing_the_number_of_another_account_clears_it(client, world, nums, ops):
    client.force_login(world.acme.master)
    response = client.post(
        reverse("tenancy:account_edit", args=[ops.pk]), {"name": "Warehouse", "cost_center": "", "mo_number": ""}
    )
    assert response.status_code == 302
    assert linked(ops) is None
    html = client.get(reverse("tenancy:account_detail", args=[ops.pk])).content.decode()
    assert "provider's default number" in html


def test_saving_other_fields_of_another_account_keeps_its_number(client, world, nums, ops):
    client.force_login(world.acme.master)
    response = client.post(
        reverse("tenancy:account_edit", args=[ops.pk]),
        {"name": "Operations", "cost_center": "", "mo_number": nums.short.pk},
    )
    assert response.status_code == 302
    assert linked(ops) == nums.short
