"""Templates with {Column} placeholders: an unknown column is an error before sending."""

from __future__ import annotations

import pytest

from kontor.contacts import services
from kontor.contacts.templating import check_template, contact_values_by_name, render, template_columns
from kontor.core.errors import Invalid

pytestmark = pytest.mark.django_db


def test_placeholders_are_found_once_each_and_double_braces_are_literal():
    text = "Hi {Name} {Surname}! {{not a column}} {name} again, {{{Name}}}"
    assert template_columns(text) == ["Name", "Surname"]
    assert render(text, {"Name": "Anna", "Surname": "Berg"}) == "Hi Anna Berg! {not a column} Anna again, {Anna}"


def test_unknown_column_is_an_error_naming_the_accounts_columns(world):
    with pytest.raises(Invalid) as exc:
        check_template(world.acme.account, "Hi {Nickname}, your {Name}")
    assert exc.value.fields["text"] == ["Unknown column {Nickname}: this account's columns are Name, Surname."]
    # Support desk has no columns at all.
    with pytest.raises(Invalid) as exc:
        check_template(world.acme.other_account, "Hi {Name}")
    assert "this account has no custom columns" in exc.value.message


def test_known_columns_pass_and_are_returned(world):
    used = check_template(world.acme.account, "Hi {surname}, {{x}}")
    assert [c.name for c in used] == ["Surname"]


@pytest.mark.parametrize("text", ["Hi {Name", "Hi {}", "Hi { }", "{Name} and {"])
def test_broken_braces_are_errors(world, text):
    with pytest.raises(Invalid):
        check_template(world.acme.account, text)


def test_render_refuses_a_name_it_has_no_value_for():
    with pytest.raises(Invalid):
        render("Hi {Name}", {})


def test_contact_values_by_name_fills_every_column(world, book):
    contact = services.add_contact(book, actor=world.acme.master, phone="+46701234567", values={"Name": "Anna"})
    columns = services.account_columns(world.acme.account)
    values = contact_values_by_name(contact, columns)
    assert values["Name"] == "Anna" and values["Surname"] == ""
    assert render("Hej {Name} {Surname}.", values) == "Hej Anna ."
