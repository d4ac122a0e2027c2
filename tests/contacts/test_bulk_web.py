"""Bulk changes from the phonebook page: tick rows or take all matching the filter, preview (the selection
in words, counts, changes, what is skipped and why), confirm; drift between preview and confirm shows a
fresh preview instead of applying; foreign ids are 404; only "manage contacts" sees and uses it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.contacts import services
from kontor.contacts.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled(world, book):
    for i in range(5):
        services.add_contact(book, actor=world.acme.master, phone=f"+4670123456{i}", values={"Name": f"Anna{i}"})
    services.add_contact(book, actor=world.acme.master, phone="+46709999999", values={"Name": "Bo"})
    return book


@pytest.fixture
def vip(world):
    return services.create_phonebook(world.acme.account, actor=world.acme.master, name="VIP")


def _bulk(book):
    return reverse("contacts:phonebook_bulk", args=[book.pk])


def _fingerprint(page) -> str:
    match = re.search(r'name="fingerprint" value="([0-9a-f]{64})"', page.content.decode())
    assert match, page.content.decode()
    return match.group(1)


def _ids(*contacts) -> list[str]:
    return [str(c.pk) for c in contacts]


def test_the_list_offers_selection_only_to_managers(world, client, filled):
    client.force_login(world.acme.master)
    page = client.get(reverse("contacts:phonebook_detail", args=[filled.pk]), {"q": "anna"})
    body = page.content.decode()
    assert body.count('form="contacts-bulk"') == 5
    assert "All 5 contacts matching this filter" in body
    assert 'name="filter-q" value="anna"' in body
    client.force_login(world.acme.users["read_only"])
    body = client.get(reverse("contacts:phonebook_detail", args=[filled.pk])).content.decode()
    assert "contacts-bulk" not in body
    assert client.post(_bulk(filled), {"action": "delete", "selection": "all"}).status_code == 403


def test_preview_then_confirm_deletes_the_ticked_contacts(world, client, filled):
    client.force_login(world.acme.master)
    two = list(Contact.objects.filter(phonebook=filled).order_by("phone")[:2])
    data = {"action": "delete", "selection": "ids", "ids": _ids(*two)}
    page = client.post(_bulk(filled), data)
    assert page.status_code == 200
    body = page.content.decode()
    assert "2 contacts will be deleted." in body and "2 contacts chosen one by one" in body
    assert "+46701234560" in body and "(deleted)" in body
    assert Contact.objects.filter(phonebook=filled).count() == 6  # a preview changes nothing
    done = client.post(_bulk(filled), {**data, "confirm": "1", "fingerprint": _fingerprint(page)}, follow=True)
    assert "2 contacts deleted." in done.content.decode()
    assert not Contact.objects.filter(pk__in=[c.pk for c in two]).exists()
    assert AuditEntry.objects.filter(action="contact.bulk").count() == 1


def test_all_matching_the_filter_with_skips_explained(world, client, filled, vip):
    services.add_contact(vip, actor=world.acme.master, phone="+46701234560")
    client.force_login(world.acme.master)
    data = {"action": "move", "target": str(vip.pk), "selection": "all", "filter-q": "anna"}
    page = client.post(_bulk(filled), data)
    body = page.content.decode()
    assert "Search: anna" in body
    assert "4 contacts will be moved to “VIP”." in body
    assert "1 will be skipped: +46701234560 is already in “VIP”." in body
    assert "+46709999999" not in body  # not matched by the filter
    done = client.post(_bulk(filled), {**data, "confirm": "1", "fingerprint": _fingerprint(page)}, follow=True)
    assert "4 contacts moved to “VIP”. 1 was skipped." in done.content.decode()
    assert Contact.objects.filter(phonebook=vip).count() == 5
    assert set(Contact.objects.filter(phonebook=filled).values_list("phone", flat=True)) == {
        "+46701234560",
        "+46709999999",
    }


def test_drift_shows_a_fresh_preview_and_applies_nothing(world, client, filled):
    client.force_login(world.acme.master)
    data = {"action": "delete", "selection": "all", "filter-q": "anna"}
    page = client.post(_bulk(filled), data)
    services.add_contact(filled, actor=world.acme.master, phone="+46701111111", values={"Name": "Anna new"})
    again = client.post(_bulk(filled), {**data, "confirm": "1", "fingerprint": _fingerprint(page)})
    assert again.status_code == 409
    body = again.content.decode()
    assert "The selection changed since the preview" in body and "6 contacts will be deleted." in body
    assert Contact.objects.filter(phonebook=filled).count() == 7
    assert _fingerprint(again) != _fingerprint(page)
    done = client.post(_bulk(filled), {**data, "confirm": "1", "fingerprint": _fingerprint(again)})
    assert done.status_code == 302
    assert list(Contact.objects.filter(phonebook=filled).values_list("phone", flat=True)) == ["+46709999999"]


def test_foreign_and_other_phonebook_ids_are_404(world, client, filled, vip):
    g = world.globex
    foreign = services.add_contact(
        services.create_phonebook(g.account, actor=g.master, name="Theirs"), actor=g.master, phone="+4520123456"
    )
    elsewhere = services.add_contact(vip, actor=world.acme.master, phone="+46702222222")
    client.force_login(world.acme.master)
    mine = Contact.objects.filter(phonebook=filled).first()
    for other in (foreign, elsewhere):
        answer = client.post(_bulk(filled), {"action": "delete", "selection": "ids", "ids": _ids(mine, other)})
        assert answer.status_code == 404
    assert Contact.objects.filter(pk__in=[foreign.pk, elsewhere.pk, mine.pk]).count() == 3
    g_book = services.create_phonebook(g.account, actor=g.master, name="Globex book")
    assert client.post(_bulk(g_book), {"action": "delete", "selection": "all"}).status_code == 404


def test_bad_choices_go_back_to_the_list_with_a_message(world, client, filled):
    client.force_login(world.acme.master)
    nothing = client.post(_bulk(filled), {"action": "delete", "selection": "ids"}, follow=True)
    assert "Select at least one contact." in nothing.content.decode()
    no_target = client.post(_bulk(filled), {"action": "copy", "selection": "all"}, follow=True)
    assert "Choose the phonebook to copy the contacts to." in no_target.content.decode()
    assert client.get(_bulk(filled)).status_code == 302
    assert Contact.objects.filter(phonebook=filled).count() == 6
