"""Account pages: list, add, detail, edit, delete/archive, restore and the account switcher."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.middleware import SESSION_ACCOUNT
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Account, CostCenter, CustomColumn, Membership

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def account_post(name="Marketing", cost_center="", office_hours=False, columns=()):
    data = {"name": name, "cost_center": cost_center}
    if office_hours:
        data["office_hours_only"] = "on"
    for i, (col_name, col_type) in enumerate(columns, start=1):
        data[f"col_{i}_name"] = col_name
        data[f"col_{i}_type"] = col_type
    return data


# --- list ----------------------------------------------------------------------------------------


def test_accounts_list_for_master_shows_all_and_add_action(client, world):
    login(client, world.acme.master)
    res = client.get(reverse("tenancy:accounts"))
    assert res.status_code == 200
    body = res.content.decode()
    assert "Sales" in body and "Support desk" in body
    assert reverse("tenancy:account_add") in body
    assert "Globex" not in body


def test_accounts_list_for_sender_shows_only_membership_and_no_add(client, world):
    login(client, world.acme.users["sender"])
    res = client.get(reverse("tenancy:accounts"))
    assert res.status_code == 200
    body = res.content.decode()
    assert "Sales" in body
    assert "Support desk" not in body
    assert reverse("tenancy:account_add") not in body


def test_accounts_list_warns_about_shared_cost_center(client, world):
    other = world.acme.other_account
    Account.objects.filter(pk=other.pk).update(cost_center=world.cost_center)
    login(client, world.acme.master)
    body = client.get(reverse("tenancy:accounts")).content.decode()
    assert body.count('class="badge warn"') == 2


def test_accounts_list_has_no_shared_badge_when_cost_centers_differ(client, world):
    login(client, world.acme.master)
    body = client.get(reverse("tenancy:accounts")).content.decode()
    # Globex uses the same cost center, but another customer's accounts do not count.
    assert 'class="badge warn"' not in body


def test_accounts_list_status_filter_shows_archived_for_master(client, world):
    Account.objects.filter(pk=world.acme.other_account.pk).update(status=Account.Status.ARCHIVED)
    login(client, world.acme.master)
    url = reverse("tenancy:accounts")
    body = client.get(url).content.decode()
    assert f'href="/accounts/{world.acme.other_account.pk}/"' in body
    body = client.get(url, {"status": "archived"}).content.decode()
    assert f'href="/accounts/{world.acme.other_account.pk}/"' in body
    assert f'href="/accounts/{world.acme.account.pk}/"' not in body
    assert "Archived" in body


# --- add -----------------------------------------------------------------------------------------


def test_add_account_page_renders_with_manual_notes(client, world):
    login(client, world.acme.users["administrator"])
    res = client.get(reverse("tenancy:account_add"))
    assert res.status_code == 200
    body = res.content.decode()
    assert "cannot receive SMS messages or replies" in body
    assert "10:00 to 17:00 on weekdays" in body
    assert 'name="col_10_name"' in body


@pytest.mark.parametrize("slug", ["sender", "read_only", "support", "technician"])
def test_add_account_forbidden_without_create_accounts(client, world, slug):
    login(client, world.acme.users[slug])
    before = Account.objects.count()
    assert client.get(reverse("tenancy:account_add")).status_code == 403
    res = client.post(reverse("tenancy:account_add"), account_post())
    assert res.status_code == 403
    assert Account.objects.count() == before


def test_add_account_with_columns_and_office_hours(client, world):
    admin = world.acme.users["administrator"]
    login(client, admin)
    res = client.post(
        reverse("tenancy:account_add"),
        account_post(
            name="Marketing",
            cost_center=world.cost_center.pk,
            office_hours=True,
            columns=[("Name", "text"), ("Birthday", "date"), ("", "text"), ("Account no", "number")],
        ),
    )
    account = Account.objects.get(customer=world.acme.customer, name="Marketing")
    assert res.status_code == 302
    assert res["Location"] == reverse("tenancy:account_detail", args=[account.pk])
    assert account.office_hours_only
    assert account.cost_center == world.cost_center
    cols = list(CustomColumn.objects.filter(account=account).values_list("position", "name", "type"))
    assert cols == [(1, "Name", "text"), (2, "Birthday", "date"), (3, "Account no", "number")]
    # The creator (not a master user) can work in the new account as administrator.
    assert Membership.objects.get(account=account, user=admin).role.slug == "administrator"
    entry = AuditEntry.objects.get(action="account.create", object_id=str(account.pk))
    assert entry.actor == admin and entry.customer_id == world.acme.customer.pk
    assert entry.after["office_hours_only"] is True
    # Sales uses the same cost center: the user is warned they are not billed separately.
    follow = client.get(res["Location"])
    assert "not billed separately" in follow.content.decode()


def test_add_account_shared_cost_center_warning_message(client, world):
    login(client, world.acme.master)
    res = client.post(
        reverse("tenancy:account_add"), account_post(name="Ops", cost_center=world.cost_center.pk), follow=True
    )
    assert "also used by Sales" in res.content.decode()


def test_add_account_duplicate_name_shows_inline_error(client, world):
    login(client, world.acme.master)
    before = Account.objects.count()
    audits = AuditEntry.objects.count()
    res = client.post(reverse("tenancy:account_add"), account_post(name="sales", columns=[("X", "text")]))
    assert res.status_code == 200
    assert "already exists" in res.content.decode()
    assert "id_name_error" in res.content.decode()
    assert Account.objects.count() == before
    assert AuditEntry.objects.count() == audits
    assert not CustomColumn.objects.filter(name="X").exists()


def test_add_account_bad_columns_show_errors_and_create_nothing(client, world):
    login(client, world.acme.master)
    before = Account.objects.count()
    res = client.post(
        reverse("tenancy:account_add"),
        account_post(name="New", columns=[("Name", "text"), ("name", "text"), ("Z", "bogus")]),
    )
    assert res.status_code == 200
    body = res.content.decode()
    assert "Select a valid choice" in body
    assert Account.objects.count() == before
    res = client.post(
        reverse("tenancy:account_add"), account_post(name="New", columns=[("Name", "text"), ("name", "text")])
    )
    assert "used twice" in res.content.decode()
    assert Account.objects.count() == before


def test_add_account_foreign_cost_center_refused(client, world):
    private = CostCenter.objects.create(code="GLX", name="Globex only", customer=world.globex.customer)
    login(client, world.acme.master)
    before = Account.objects.count()
    res = client.post(reverse("tenancy:account_add"), account_post(name="New", cost_center=private.pk))
    assert res.status_code == 200
    assert "Select a valid choice" in res.content.decode()
    assert Account.objects.count() == before


def test_add_account_empty_name_refused(client, world):
    login(client, world.acme.master)
    before = Account.objects.count()
    res = client.post(reverse("tenancy:account_add"), account_post(name="   "))
    assert res.status_code == 200
    assert Account.objects.count() == before


# --- detail --------------------------------------------------------------------------------------


def test_account_detail_shows_columns_and_members(client, world):
    login(client, world.acme.users["read_only"])  # view_users: sees who works here
    res = client.get(reverse("tenancy:account_detail", args=[world.acme.account.pk]))
    assert res.status_code == 200
    body = res.content.decode()
    assert "Surname" in body
    assert "sender@acme.test" in body and "read_only@acme.test" in body
    assert reverse("tenancy:account_edit", args=[world.acme.account.pk]) not in body


def test_account_detail_shows_actions_for_manager(client, world):
    login(client, world.acme.users["administrator"])
    body = client.get(reverse("tenancy:account_detail", args=[world.acme.account.pk])).content.decode()
    assert reverse("tenancy:account_edit", args=[world.acme.account.pk]) in body
    assert reverse("tenancy:account_delete", args=[world.acme.account.pk]) in body


def test_account_detail_of_account_without_membership_is_404(client, world):
    login(client, world.acme.users["sender"])
    res = client.get(reverse("tenancy:account_detail", args=[world.acme.other_account.pk]))
    assert res.status_code == 404


@pytest.mark.parametrize("name", ["account_detail", "account_edit", "account_delete"])
def test_foreign_account_is_404_on_get(client, world, name):
    login(client, world.acme.master)
    assert client.get(reverse(f"tenancy:{name}", args=[world.globex.account.pk])).status_code == 404
    assert client.get(reverse(f"tenancy:{name}", args=[999999])).status_code == 404


@pytest.mark.parametrize("name", ["account_edit", "account_delete", "account_restore"])
def test_foreign_account_is_404_on_post_and_nothing_changes(client, world, name):
    target = world.globex.account
    Account.objects.filter(pk=target.pk).update(status=Account.Status.ARCHIVED)
    login(client, world.acme.master)
    res = client.post(reverse(f"tenancy:{name}", args=[target.pk]), account_post(name="Hijacked"))
    assert res.status_code == 404
    target.refresh_from_db()
    assert target.name == "Sales" and target.status == Account.Status.ARCHIVED
    assert not AuditEntry.objects.filter(object_type="account", object_id=str(target.pk)).exists()


# --- edit ----------------------------------------------------------------------------------------


def test_edit_account_prefilled_and_saves(client, world):
    account = world.acme.account
    login(client, world.acme.users["administrator"])
    res = client.get(reverse("tenancy:account_edit", args=[account.pk]))
    assert res.status_code == 200
    assert 'value="Surname"' in res.content.decode()
    res = client.post(
        reverse("tenancy:account_edit", args=[account.pk]),
        account_post(name="Sales EU", office_hours=True, columns=[("Surname", "text"), ("City", "text")]),
    )
    assert res.status_code == 302
    account.refresh_from_db()
    assert account.name == "Sales EU" and account.office_hours_only and account.cost_center is None
    assert list(CustomColumn.objects.filter(account=account).values_list("name", flat=True)) == [
        "Surname",
        "City",
    ]
    assert AuditEntry.objects.filter(action="account.update", object_id=str(account.pk)).count() == 1


def test_edit_account_forbidden_for_sender(client, world):
    login(client, world.acme.users["sender"])
    url = reverse("tenancy:account_edit", args=[world.acme.account.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, account_post(name="X")).status_code == 403
    world.acme.account.refresh_from_db()
    assert world.acme.account.name == "Sales"


def test_edit_archived_account_shows_conflict(client, world):
    other = world.acme.other_account
    Account.objects.filter(pk=other.pk).update(status=Account.Status.ARCHIVED)
    login(client, world.acme.master)
    url = reverse("tenancy:account_edit", args=[other.pk])
    assert "archived" in client.get(url).content.decode()
    res = client.post(url, account_post(name="Renamed"))
    assert res.status_code == 200
    assert "restore it before changing it" in res.content.decode()
    other.refresh_from_db()
    assert other.name == "Support desk"


# --- delete / restore ----------------------------------------------------------------------------


def test_delete_empty_account_deletes(client, world):
    other = world.acme.other_account
    login(client, world.acme.users["administrator"])
    url = reverse("tenancy:account_delete", args=[other.pk])
    res = client.get(url)
    assert res.status_code == 200
    assert "deleted permanently" in res.content.decode()
    res = client.post(url, follow=True)
    assert res.status_code == 200
    assert "was deleted" in res.content.decode()
    assert not Account.objects.filter(pk=other.pk).exists()
    assert AuditEntry.objects.filter(action="account.delete", object_id=str(other.pk)).exists()


def test_delete_account_with_api_key_archives_and_explains(client, world):
    sales = world.acme.account
    login(client, world.acme.master)
    url = reverse("tenancy:account_delete", args=[sales.pk])
    body = client.get(url).content.decode()
    assert "will be archived" in body and "1 API keys" in body
    res = client.post(url, follow=True)
    body = res.content.decode()
    assert "archived instead of deleted" in body and "1 API keys" in body
    sales.refresh_from_db()
    assert sales.status == Account.Status.ARCHIVED
    assert AuditEntry.objects.filter(action="account.archive", object_id=str(sales.pk)).exists()


def test_restore_archived_account(client, world):
    sales = world.acme.account
    login(client, world.acme.master)
    client.post(reverse("tenancy:account_delete", args=[sales.pk]))
    detail = client.get(reverse("tenancy:account_detail", args=[sales.pk])).content.decode()
    assert reverse("tenancy:account_restore", args=[sales.pk]) in detail
    assert client.get(reverse("tenancy:account_restore", args=[sales.pk])).status_code == 405
    res = client.post(reverse("tenancy:account_restore", args=[sales.pk]))
    assert res.status_code == 302
    sales.refresh_from_db()
    assert sales.is_active
    assert AuditEntry.objects.filter(action="account.restore", object_id=str(sales.pk)).exists()


def test_delete_forbidden_for_read_only(client, world):
    login(client, world.acme.users["read_only"])
    url = reverse("tenancy:account_delete", args=[world.acme.account.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert Account.objects.filter(pk=world.acme.account.pk, status="active").exists()


def test_manage_in_current_account_does_not_reach_an_account_where_role_is_lower(client, world):
    from kontor.access.roles import builtin_role

    admin = world.acme.users["administrator"]
    Membership.objects.filter(account=world.acme.other_account, user=admin).update(role=builtin_role("read_only"))
    login(client, admin)  # current account: Sales, where they are administrator
    url = reverse("tenancy:account_delete", args=[world.acme.other_account.pk])
    assert client.post(url).status_code == 403
    assert Account.objects.filter(pk=world.acme.other_account.pk).exists()


# --- switch --------------------------------------------------------------------------------------


def test_switch_to_own_account_changes_scope(client, world):
    admin = world.acme.users["administrator"]
    login(client, admin)
    home = client.get(reverse("web:home")).content.decode()
    assert "<h1>Sales</h1>" in home
    res = client.post(reverse("tenancy:switch"), {"account": world.acme.other_account.pk})
    assert res.status_code == 302 and res["Location"] == reverse("web:home")
    assert client.session[SESSION_ACCOUNT] == world.acme.other_account.pk
    home = client.get(reverse("web:home")).content.decode()
    assert "<h1>Support desk</h1>" in home


@pytest.mark.parametrize("value", ["foreign", "other_without_membership", "garbage", ""])
def test_switch_to_account_not_ours_is_404(client, world, value):
    sender = world.acme.users["sender"]
    login(client, sender)
    client.get(reverse("web:home"))
    wanted = {
        "foreign": world.globex.account.pk,
        "other_without_membership": world.acme.other_account.pk,
        "garbage": "x' OR 1=1",
        "": "",
    }[value]
    res = client.post(reverse("tenancy:switch"), {"account": wanted})
    assert res.status_code == 404
    assert client.session[SESSION_ACCOUNT] == world.acme.account.pk


def test_switch_get_is_405(client, world):
    login(client, world.acme.master)
    assert client.get(reverse("tenancy:switch")).status_code == 405
