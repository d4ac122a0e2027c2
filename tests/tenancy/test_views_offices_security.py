"""Offices & teams page and the IP allowlist (security) page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Customer, Office, Team

pytestmark = pytest.mark.django_db


# --- offices and teams ---------------------------------------------------------------------------


def test_offices_page_lists_offices_with_counts_and_teams(client, world):
    client.force_login(world.acme.users["administrator"])
    res = client.get(reverse("tenancy:offices"))
    assert res.status_code == 200
    body = res.content.decode()
    assert "Acme HQ" in body and "Acme Branch" in body and "Acme Team" in body
    assert "Globex" not in body
    offices = {o.name: o for o in res.context["offices"].data}
    # master + 6 role users have HQ as primary; the office credit manager has Branch as additional.
    assert offices["Acme HQ"].primary_count == 7
    assert offices["Acme Branch"].additional_count == 1


@pytest.mark.parametrize(
    "name,args",
    [
        ("offices", []),
        ("office_add", []),
        ("office_edit", ["office"]),
        ("office_delete", ["office"]),
        ("team_add", []),
        ("team_edit", ["team"]),
        ("team_delete", ["team"]),
    ],
)
def test_office_pages_render_for_administrator(client, world, name, args):
    client.force_login(world.acme.users["administrator"])
    url = reverse(f"tenancy:{name}", args=[getattr(world.acme, a).pk for a in args])
    res = client.get(url)
    assert res.status_code == 200
    if args:
        assert getattr(world.acme, args[0]).name in res.content.decode()


@pytest.mark.parametrize(
    "name,args",
    [
        ("offices", []),
        ("office_add", []),
        ("office_edit", ["office"]),
        ("office_delete", ["office"]),
        ("team_add", []),
        ("team_edit", ["team"]),
        ("team_delete", ["team"]),
    ],
)
def test_office_pages_forbidden_without_manage_offices(client, world, name, args):
    client.force_login(world.acme.users["sender"])
    url = reverse(f"tenancy:{name}", args=[getattr(world.acme, a).pk for a in args])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Hacked"}).status_code == 403
    assert not Office.objects.filter(name="Hacked").exists() and not Team.objects.filter(name="Hacked").exists()


@pytest.mark.parametrize("name", ["office_edit", "office_delete"])
def test_foreign_office_is_404(client, world, name):
    client.force_login(world.acme.master)
    url = reverse(f"tenancy:{name}", args=[world.globex.office.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "Hijacked"}).status_code == 404
    assert Office.objects.filter(pk=world.globex.office.pk, name="Globex HQ").exists()


@pytest.mark.parametrize("name", ["team_edit", "team_delete"])
def test_foreign_team_is_404(client, world, name):
    client.force_login(world.acme.master)
    url = reverse(f"tenancy:{name}", args=[world.globex.team.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "Hijacked"}).status_code == 404
    assert Team.objects.filter(pk=world.globex.team.pk, name="Globex Team").exists()


def test_add_edit_and_delete_office(client, world):
    client.force_login(world.acme.master)
    res = client.post(reverse("tenancy:office_add"), {"name": "Gothenburg", "address": "Avenyn 1"})
    assert res.status_code == 302
    office = Office.objects.get(customer=world.acme.customer, name="Gothenburg")
    assert AuditEntry.objects.filter(action="office.create", object_id=str(office.pk)).exists()
    res = client.post(reverse("tenancy:office_edit", args=[office.pk]), {"name": "Göteborg", "address": ""})
    assert res.status_code == 302
    office.refresh_from_db()
    assert office.name == "Göteborg"
    assert client.get(reverse("tenancy:office_delete", args=[office.pk])).status_code == 200
    res = client.post(reverse("tenancy:office_delete", args=[office.pk]))
    assert res.status_code == 302
    assert not Office.objects.filter(pk=office.pk).exists()
    assert AuditEntry.objects.filter(action="office.delete", object_id=str(office.pk)).exists()


def test_duplicate_office_name_inline_error(client, world):
    client.force_login(world.acme.master)
    before = Office.objects.count()
    res = client.post(reverse("tenancy:office_add"), {"name": "acme hq"})
    assert res.status_code == 200
    assert "already exists" in res.content.decode()
    assert Office.objects.count() == before


def test_delete_office_in_use_shows_conflict_and_keeps_it(client, world):
    client.force_login(world.acme.master)
    res = client.post(reverse("tenancy:office_delete", args=[world.acme.office.pk]), follow=True)
    assert res.status_code == 200
    assert "primary office" in res.content.decode()
    assert Office.objects.filter(pk=world.acme.office.pk).exists()


def test_add_edit_delete_team(client, world):
    client.force_login(world.acme.master)
    res = client.post(reverse("tenancy:team_add"), {"name": "Night shift", "office": world.acme.branch.pk})
    assert res.status_code == 302
    team = Team.objects.get(customer=world.acme.customer, name="Night shift")
    assert team.office == world.acme.branch
    res = client.post(reverse("tenancy:team_edit", args=[team.pk]), {"name": "Night shift", "office": ""})
    team.refresh_from_db()
    assert team.office is None
    res = client.post(reverse("tenancy:team_delete", args=[team.pk]))
    assert res.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    assert AuditEntry.objects.filter(action="team.delete", object_id=str(team.pk)).exists()


def test_team_with_foreign_office_refused(client, world):
    client.force_login(world.acme.master)
    res = client.post(reverse("tenancy:team_add"), {"name": "Spies", "office": world.globex.office.pk})
    assert res.status_code == 200
    assert "Select a valid choice" in res.content.decode()
    assert not Team.objects.filter(name="Spies").exists()


# --- security ------------------------------------------------------------------------------------

SECURITY = "tenancy:security"


def allowlist(world) -> list[str]:
    return Customer.objects.get(pk=world.acme.customer.pk).ip_allowlist


def test_security_page_shows_current_address(client, world):
    client.force_login(world.acme.users["administrator"])
    res = client.get(reverse(SECURITY), REMOTE_ADDR="203.0.113.9")
    assert res.status_code == 200
    body = res.content.decode()
    assert "Your current address" in body and "203.0.113.9" in body
    assert "I understand I will be locked out" not in body


@pytest.mark.parametrize("slug", ["sender", "read_only", "technician", "support"])
def test_security_forbidden_without_manage_security(client, world, slug):
    client.force_login(world.acme.users[slug])
    assert client.get(reverse(SECURITY)).status_code == 403
    assert client.post(reverse(SECURITY), {"entries": "10.0.0.0/8"}).status_code == 403
    assert allowlist(world) == []


def test_save_allowlist_including_own_address(client, world):
    client.force_login(world.acme.master)
    entries = "203.0.113.0/24  # office\n\n2001:db8::/32\n198.51.100.7"
    res = client.post(reverse(SECURITY), {"entries": entries}, REMOTE_ADDR="203.0.113.9")
    assert res.status_code == 302
    assert allowlist(world) == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
    assert AuditEntry.objects.filter(action="customer.ip_allowlist", customer=world.acme.customer).exists()
    # Still allowed in from the listed subnet.
    assert client.get(reverse(SECURITY), REMOTE_ADDR="203.0.113.9").status_code == 200


def test_allowlist_lockout_needs_confirmation(client, world):
    client.force_login(world.acme.master)
    res = client.post(reverse(SECURITY), {"entries": "10.0.0.0/8"}, REMOTE_ADDR="203.0.113.9")
    assert res.status_code == 200
    body = res.content.decode()
    assert "203.0.113.9" in body and "is not in the list" in body
    assert "I understand I will be locked out" in body
    assert allowlist(world) == []
    assert not AuditEntry.objects.filter(action="customer.ip_allowlist").exists()
    res = client.post(reverse(SECURITY), {"entries": "10.0.0.0/8", "confirm_lockout": "on"}, REMOTE_ADDR="203.0.113.9")
    assert res.status_code == 302
    assert allowlist(world) == ["10.0.0.0/8"]
    # The next request from outside the list is refused.
    assert client.get(reverse(SECURITY), REMOTE_ADDR="203.0.113.9").status_code == 403


@pytest.mark.parametrize(
    "entries,message",
    [
        ("203.0.113.0/24\n10.0.0.1/8", "Entry 2:"),
        ("not-an-ip", "Entry 1:"),
        ("203.0.113.0/24\n\n2001:db8::/33x", "Entry 3:"),
        ("300.1.2.3", "Entry 1:"),
    ],
)
def test_invalid_allowlist_entries_inline_and_nothing_changes(client, world, entries, message):
    customer = world.acme.customer
    customer.ip_allowlist = ["203.0.113.0/24"]
    customer.save()
    client.force_login(world.acme.master)
    res = client.post(reverse(SECURITY), {"entries": entries, "confirm_lockout": "on"}, REMOTE_ADDR="203.0.113.9")
    assert res.status_code == 200
    body = res.content.decode()
    assert message in body
    assert 'id="id_entries_error"' in body
    assert allowlist(world) == ["203.0.113.0/24"]
    assert not AuditEntry.objects.filter(action="customer.ip_allowlist").exists()
