"""Phone normalisation, contact values by column type, opt-outs per account, the account data probe."""

from __future__ import annotations

import pytest

from kontor.audit.models import AuditEntry
from kontor.contacts import selectors, services
from kontor.contacts.models import Contact, OptOut, Phonebook
from kontor.core.errors import Invalid
from kontor.tenancy.registry import account_data
from kontor.tenancy.services import delete_account

pytestmark = pytest.mark.django_db


def test_swedish_customer_national_number_is_read_as_swedish(world, book):
    contact = services.add_contact(book, actor=world.acme.master, phone="070-123 45 67")
    assert contact.phone == "+46701234567"


def test_british_customer_national_number_is_read_as_british(world):
    g = world.globex
    gbook = services.create_phonebook(g.account, actor=g.master, name="UK")
    contact = services.add_contact(gbook, actor=g.master, phone="07911 123456")
    assert contact.phone == "+447911123456"
    # The same digits are not a valid Swedish number: the region really comes from the customer.
    with pytest.raises(Invalid):
        services.add_contact(
            services.create_phonebook(world.acme.account, actor=world.acme.master, name="X"),
            actor=world.acme.master,
            phone="07911 123456",
        )
    # 07700 900xxx is Ofcom's range reserved for drama: a possible but never a valid (SMS-able) number.
    with pytest.raises(Invalid) as exc:
        services.add_contact(gbook, actor=g.master, phone="07700 900123")
    assert "not a valid phone number" in exc.value.message


def test_values_are_checked_by_column_type_and_stored_canonically(world, book):
    contact = services.add_contact(
        book,
        actor=world.acme.master,
        phone="+46701234567",
        values={"name": "Anna", "Birthday": "1990-02-28", "Score": "1 000.50", "Work phone": "08-123 456 78"},
    )
    ids = {c.name: str(c.pk) for c in services.account_columns(world.acme.account)}
    assert contact.values == {
        ids["Name"]: "Anna",
        ids["Birthday"]: "1990-02-28",
        ids["Score"]: "1000.50",
        ids["Work phone"]: "+46812345678",
    }
    assert AuditEntry.objects.filter(action="contact.create", object_id=str(contact.pk)).count() == 1


def test_bad_values_change_nothing_and_name_every_field(world, book):
    with pytest.raises(Invalid) as exc:
        services.add_contact(
            book,
            actor=world.acme.master,
            phone="12",
            values={"Birthday": "28/02/1990", "Score": "lots", "Email": "not-an-email", "Shoe size": "42"},
        )
    fields = exc.value.fields
    assert {"phone", "Birthday", "Score", "Email", "values"} <= set(fields)
    assert "Unknown column “Shoe size”" in fields["values"][0]
    assert not Contact.objects.exists()


def test_duplicate_phone_in_a_phonebook_is_refused(world, book):
    services.add_contact(book, actor=world.acme.master, phone="+46701234567")
    with pytest.raises(Invalid) as exc:
        services.add_contact(book, actor=world.acme.master, phone="0701234567")
    assert exc.value.code == "duplicate"
    assert Contact.objects.count() == 1


def test_update_merges_values_and_blank_clears(world, book):
    m = world.acme.master
    contact = services.add_contact(book, actor=m, phone="+46701234567", values={"Name": "Anna", "Surname": "Berg"})
    services.update_contact(contact, actor=m, values={"Surname": ""})
    contact.refresh_from_db()
    assert list(contact.values.values()) == ["Anna"]
    before = AuditEntry.objects.count()
    services.update_contact(contact, actor=m, values={"Name": "Anna"})  # no change, no audit row
    assert AuditEntry.objects.count() == before


def test_phonebook_names_unique_per_account_case_insensitively(world, book):
    a = world.acme
    with pytest.raises(Invalid):
        services.create_phonebook(a.account, actor=a.master, name="customers")
    # Another account (and another customer) may use the name.
    services.create_phonebook(a.other_account, actor=a.master, name="Customers")
    services.create_phonebook(world.globex.account, actor=world.globex.master, name="Customers")
    assert Phonebook.objects.filter(name__iexact="customers").count() == 3


def test_opt_out_is_per_account(world, book):
    a = world.acme
    services.opt_out(a.account, "070-123 45 67", source="stop_keyword")
    assert services.is_opted_out(a.account, "+46701234567")
    assert services.is_opted_out(a.account, "0701234567")
    assert not services.is_opted_out(a.other_account, "+46701234567")
    assert not services.is_opted_out(world.globex.account, "+46701234567")
    assert services.opted_out(a.account, ["+46701234567", "+46701234568"]) == {"+46701234567"}
    assert services.opted_out(a.other_account, ["+46701234567"]) == set()
    # Idempotent, and opting in is audited.
    services.opt_out(a.account, "+46701234567", source="manual", actor=a.master)
    assert OptOut.objects.filter(account=a.account).count() == 1
    assert services.opt_in(a.account, "+46701234567", actor=a.master) is True
    assert not services.is_opted_out(a.account, "+46701234567")
    assert AuditEntry.objects.filter(action="opt_out.delete", account_id=a.account.pk).count() == 1
    assert services.opt_in(a.account, "+46701234567", actor=a.master) is False


def test_bad_opt_out_source_and_number_are_refused(world):
    with pytest.raises(Invalid):
        services.opt_out(world.acme.account, "+46701234567", source="whim")
    with pytest.raises(Invalid):
        services.opt_out(world.acme.account, "hello", source="manual")
    assert not OptOut.objects.exists()


def test_reachable_contacts_leave_out_opted_out_numbers(world, book):
    a = world.acme
    for phone in ("+46701234567", "+46701234568"):
        services.add_contact(book, actor=a.master, phone=phone)
    services.opt_out(a.account, "+46701234568", source="stop_keyword")
    services.opt_out(a.other_account, "+46701234567", source="stop_keyword")
    assert [c.phone for c in selectors.reachable_contacts(book)] == ["+46701234567"]


def test_an_account_holding_contacts_is_archived_not_deleted(world, book):
    a = world.acme
    services.add_contact(book, actor=a.master, phone="+46701234567")
    assert ("contacts", 1) in account_data(a.account)
    outcome = delete_account(a.account, actor=a.master)
    assert not outcome.deleted
    a.account.refresh_from_db()
    assert a.account.status == "archived"
    with pytest.raises(Exception) as exc:
        services.add_contact(book, actor=a.master, phone="+46701234568")
    assert getattr(exc.value, "code", "") == "account_archived"


def test_deleting_a_phonebook_deletes_its_contacts_and_keeps_opt_outs(world, book):
    a = world.acme
    services.add_contact(book, actor=a.master, phone="+46701234567")
    services.opt_out(a.account, "+46701234567", source="manual")
    assert services.delete_phonebook(book, actor=a.master) == 1
    assert not Contact.objects.exists()
    assert OptOut.objects.count() == 1
