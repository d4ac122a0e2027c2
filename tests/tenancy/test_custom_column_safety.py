"""Custom columns never lose contact data silently (issue 8 §3): removing a column that holds values needs
an explicit confirmation that names how many contacts hold them; the values stay restorable for 30 days
(re-adding a column of the same name brings them back) and are purged after; a type change over values
that do not convert is refused with the count and examples unless the user confirms clearing them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from kontor.contacts import services as contacts
from kontor.contacts.models import Contact
from kontor.contacts.templating import contact_values_by_name
from kontor.core.errors import Conflict, ErrorCode
from kontor.tenancy import columns as column_rules
from kontor.tenancy.models import CustomColumn
from kontor.tenancy.services import ColumnSpec, update_account

pytestmark = pytest.mark.django_db

NAME, SURNAME = ColumnSpec("Name"), ColumnSpec("Surname")


@pytest.fixture
def book(world):
    acme = world.acme
    book = contacts.create_phonebook(acme.account, actor=acme.master, name="Customers")
    contacts.add_contact(book, actor=acme.master, phone="+46701000001", values={"Name": "Anna", "Surname": "Berg"})
    contacts.add_contact(book, actor=acme.master, phone="+46701000002", values={"Name": "42", "Surname": "Dahl"})
    contacts.add_contact(book, actor=acme.master, phone="+46701000003", values={"Name": "Carl"})
    return book


def active(account) -> list[str]:
    return [c.name for c in CustomColumn.objects.filter(account=account).order_by("position")]


def values_of(account, phone: str) -> dict[str, str]:
    columns = list(CustomColumn.objects.filter(account=account).order_by("position"))
    return contact_values_by_name(Contact.objects.get(account=account, phone=phone), columns)


# --- removal -------------------------------------------------------------------------------------


def test_removing_a_column_with_values_is_refused_with_the_count(world, book):
    acme = world.acme
    with pytest.raises(Conflict) as refused:
        update_account(acme.account, actor=acme.master, custom_columns=[NAME])
    assert refused.value.code == ErrorCode.COLUMN_DATA_AT_RISK
    assert refused.value.status == 409
    assert "Surname" in refused.value.message and "2 contacts" in refused.value.message
    assert active(acme.account) == ["Name", "Surname"]
    assert values_of(acme.account, "+46701000001")["Surname"] == "Berg"


def test_a_confirmed_removal_keeps_the_values_and_re_adding_brings_them_back(world, book):
    acme = world.acme
    update_account(acme.account, actor=acme.master, custom_columns=[NAME], confirm_column_changes=True)
    assert active(acme.account) == ["Name"]
    assert "Surname" not in values_of(acme.account, "+46701000001")
    # Re-adding the column of the same name (any case) restores every value.
    update_account(acme.account, actor=acme.master, custom_columns=[NAME, ColumnSpec("surname")])
    assert active(acme.account) == ["Name", "surname"]
    assert values_of(acme.account, "+46701000001")["surname"] == "Berg"
    assert values_of(acme.account, "+46701000002")["surname"] == "Dahl"


def test_removing_an_empty_column_needs_no_confirmation(world, book):
    acme = world.acme
    update_account(acme.account, actor=acme.master, custom_columns=[NAME, SURNAME, ColumnSpec("Spare")])
    update_account(acme.account, actor=acme.master, custom_columns=[NAME, SURNAME])
    assert active(acme.account) == ["Name", "Surname"]


def test_values_are_purged_after_30_days(world, book):
    acme = world.acme
    update_account(acme.account, actor=acme.master, custom_columns=[NAME], confirm_column_changes=True)
    removed = CustomColumn.all_objects.get(account=acme.account, name="Surname")
    assert removed.removed_at is not None
    # Not yet: 29 days later nothing goes.
    assert column_rules.purge_removed_columns(now=removed.removed_at + dt.timedelta(days=29)) == 0
    assert column_rules.purge_removed_columns(now=removed.removed_at + dt.timedelta(days=30, seconds=1)) == 1
    assert not CustomColumn.all_objects.filter(pk=removed.pk).exists()
    assert all(str(removed.pk) not in c.values for c in Contact.objects.filter(account=acme.account))
    assert "berg" not in Contact.objects.get(account=acme.account, phone="+46701000001").search
    update_account(acme.account, actor=acme.master, custom_columns=[NAME, SURNAME])
    assert values_of(acme.account, "+46701000001")["Surname"] == ""


def test_the_purge_command(world, book):
    from django.core.management import call_command

    acme = world.acme
    update_account(acme.account, actor=acme.master, custom_columns=[NAME], confirm_column_changes=True)
    CustomColumn.all_objects.filter(account=acme.account, name="Surname").update(
        removed_at=timezone.now() - dt.timedelta(days=31)
    )
    call_command("purge_removed_columns")
    assert not CustomColumn.all_objects.filter(account=acme.account, name="Surname").exists()


# --- type changes --------------------------------------------------------------------------------


def test_a_type_change_over_values_that_do_not_convert_is_refused_with_examples(world, book):
    acme = world.acme
    with pytest.raises(Conflict) as refused:
        update_account(acme.account, actor=acme.master, custom_columns=[ColumnSpec("Name", "number"), SURNAME])
    message = refused.value.message
    assert refused.value.code == ErrorCode.COLUMN_DATA_AT_RISK
    assert "2 contacts" in message and "Anna" in message and "Carl" in message
    assert CustomColumn.objects.get(account=acme.account, name="Name").type == "text"


def test_a_confirmed_type_change_clears_what_does_not_convert(world, book):
    acme = world.acme
    update_account(
        acme.account,
        actor=acme.master,
        custom_columns=[ColumnSpec("Name", "number"), SURNAME],
        confirm_column_changes=True,
    )
    assert CustomColumn.objects.get(account=acme.account, name="Name").type == "number"
    assert values_of(acme.account, "+46701000002")["Name"] == "42"
    assert values_of(acme.account, "+46701000001")["Name"] == ""
    assert values_of(acme.account, "+46701000001")["Surname"] == "Berg"


def test_a_type_change_that_converts_everything_needs_no_confirmation(world, book):
    acme = world.acme
    contacts.update_contact(
        Contact.objects.get(account=acme.account, phone="+46701000001"), actor=acme.master, values={"Name": "7"}
    )
    contacts.update_contact(
        Contact.objects.get(account=acme.account, phone="+46701000003"), actor=acme.master, values={"Name": " 8 "}
    )
    update_account(acme.account, actor=acme.master, custom_columns=[ColumnSpec("Name", "number"), SURNAME])
    assert CustomColumn.objects.get(account=acme.account, name="Name").type == "number"
    assert values_of(acme.account, "+46701000003")["Name"] == "8"


# --- the page and the API ------------------------------------------------------------------------


def _form(account, columns, **extra):
    data = {"name": account.name, "cost_center": "", "mo_number": ""}
    for i, (name, kind) in enumerate(columns, start=1):
        data[f"col_{i}_name"], data[f"col_{i}_type"] = name, kind
    return {**data, **extra}


def test_edit_page_asks_for_confirmation(client, world, book):
    acme = world.acme
    client.force_login(acme.master)
    url = reverse("tenancy:account_edit", args=[acme.account.pk])
    response = client.post(url, _form(acme.account, [("Name", "text")]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "2 contacts" in html and 'name="confirm_column_changes"' in html
    assert active(acme.account) == ["Name", "Surname"]
    confirmed = client.post(url, _form(acme.account, [("Name", "text")], confirm_column_changes="on"))
    assert confirmed.status_code == 302
    assert active(acme.account) == ["Name"]


def test_api_answers_409_with_the_count_unless_confirmed(client, world, book):
    acme = world.acme
    client.force_login(acme.master)
    url = f"/api/v1/accounts/{acme.account.pk}"
    body = {"custom_columns": [{"name": "Name", "type": "text"}]}
    refused = client.patch(url, body, content_type="application/json")
    assert refused.status_code == 409
    assert refused["Content-Type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "column_data_at_risk"
    assert problem["columns"] == [{"name": "Surname", "change": "remove", "contacts": 2, "examples": []}]
    assert active(acme.account) == ["Name", "Surname"]
    ok = client.patch(url, {**body, "confirm_column_changes": True}, content_type="application/json")
    assert ok.status_code == 200, ok.content
    assert [c["name"] for c in ok.json()["custom_columns"]] == ["Name"]


def test_search_finds_hidden_values_only_once_they_are_back(world, book):
    from kontor.access.selectors import scope_for_user
    from kontor.contacts.selectors import contacts as search

    acme = world.acme
    scope = scope_for_user(acme.master, acme.account)

    def found(q: str) -> list[str]:
        cols = list(CustomColumn.objects.filter(account=acme.account))
        return [c.phone for c in search(scope, book, cols, q)]

    assert found("berg") == ["+46701000001"]
    update_account(acme.account, actor=acme.master, custom_columns=[NAME], confirm_column_changes=True)
    assert found("berg") == []
    # Editing a contact while the column is hidden neither shows nor loses the hidden value.
    contacts.update_contact(
        Contact.objects.get(account=acme.account, phone="+46701000001"), actor=acme.master, values={"Name": "Annie"}
    )
    assert found("berg") == [] and found("annie") == ["+46701000001"]
    update_account(acme.account, actor=acme.master, custom_columns=[NAME, SURNAME])
    assert found("berg") == ["+46701000001"]
    assert values_of(acme.account, "+46701000001") == {"Name": "Annie", "Surname": "Berg"}
