"""The customer's audit log page, its CSV export and the entry detail."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.tenancy.services import save_office

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(world):
    acme, globex = world.acme, world.globex
    save_office(acme.customer, None, actor=acme.master, name="Acme North")
    save_office(acme.customer, None, actor=acme.users["administrator"], name="Acme South")
    save_office(globex.customer, None, actor=globex.master, name="Globex Secret Lab")
    return world


def csv_rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("slug", ["master", "administrator", "read_only"])
def test_audit_log_renders_for_viewers(client, entries, slug):
    client.force_login(entries.acme.user(slug))
    res = client.get(reverse("audit:log"))
    assert res.status_code == 200
    body = res.content.decode()
    assert "Acme North" in body and "Acme South" in body
    assert "Globex Secret Lab" not in body
    assert reverse("audit:export") in body


@pytest.mark.parametrize("slug", ["sender", "support", "technician", "office_credit_manager"])
def test_audit_pages_forbidden_without_view_audit(client, entries, slug):
    client.force_login(entries.acme.users[slug])
    entry = AuditEntry.objects.filter(customer=entries.acme.customer).first()
    assert client.get(reverse("audit:log")).status_code == 403
    assert client.get(reverse("audit:export")).status_code == 403
    assert client.get(reverse("audit:detail", args=[entry.pk])).status_code == 403


def test_audit_log_only_own_customer_rows(client, entries):
    client.force_login(entries.acme.master)
    res = client.get(reverse("audit:log"))
    shown = {e.pk for e in res.context["table"].data}
    assert shown == set(AuditEntry.objects.filter(customer=entries.acme.customer).values_list("pk", flat=True))
    # Filter choices do not leak the other customer's actions either.
    actions = dict(res.context["filter"].form.fields["action"].choices)
    assert "office.create" in actions and "api_key.create" in actions


def test_audit_filters(client, entries):
    client.force_login(entries.acme.master)
    url = reverse("audit:log")
    res = client.get(url, {"action": "office.create", "actor": "administrator@"})
    rows = list(res.context["table"].data)
    assert [r.object_repr for r in rows] == ["Acme South"]
    res = client.get(url, {"q": "north"})
    assert [r.object_repr for r in res.context["table"].data] == ["Acme North"]
    res = client.get(url, {"object_type": "apikey"})
    assert {r.action for r in res.context["table"].data} == {"api_key.create"}
    res = client.get(url, {"date_from": "2000-01-01", "date_to": "2000-01-02"})
    assert list(res.context["table"].data) == []
    # Bad filter input answers with the form error, never a 500.
    res = client.get(url, {"date_from": "yesterday-ish", "action": "no.such.action"})
    assert res.status_code == 200


def test_csv_export_contains_filtered_rows_only(client, entries):
    client.force_login(entries.acme.master)
    res = client.get(reverse("audit:export"), {"action": "office.create"})
    assert res.status_code == 200
    assert res["Content-Type"].startswith("text/csv")
    rows = csv_rows(res)
    assert sorted(r["object"] for r in rows) == ["Acme North", "Acme South"]
    assert {r["action"] for r in rows} == {"office.create"}
    assert all("Globex" not in r["object"] for r in rows)
    everything = csv_rows(client.get(reverse("audit:export")))
    assert len(everything) == AuditEntry.objects.filter(customer=entries.acme.customer).count()
    assert not any("Globex" in r["object"] for r in everything)


def test_audit_detail_shows_changes(client, entries):
    entry = AuditEntry.objects.get(object_repr="Acme North")
    client.force_login(entries.acme.users["read_only"])
    res = client.get(reverse("audit:detail", args=[entry.pk]))
    assert res.status_code == 200
    body = res.content.decode()
    assert "office.create" in body and "<ins>Acme North</ins>" in body


def test_audit_detail_of_foreign_entry_is_404(client, entries):
    foreign = AuditEntry.objects.get(object_repr="Globex Secret Lab")
    client.force_login(entries.acme.master)
    assert client.get(reverse("audit:detail", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("audit:detail", args=[10**9])).status_code == 404


# --- accounts keep their history apart ----------------------------------------------------------


@pytest.fixture
def desk_entries(entries):
    """Changes inside each of Acme's accounts: an API key made in Sales and one in Support desk."""
    from kontor.access.services import create_api_key

    acme = entries.acme
    create_api_key(acme.account, actor=acme.master, name="Sales robot", perms=["send_sms"])
    create_api_key(acme.other_account, actor=acme.master, name="Desk robot", perms=["send_sms"])
    return entries


def _desk(world) -> AuditEntry:
    return AuditEntry.objects.get(action="api_key.create", object_repr__startswith="Desk robot")


def test_a_member_of_one_account_sees_only_its_history_and_the_customers(client, desk_entries):
    acme = desk_entries.acme
    client.force_login(acme.users["read_only"])  # a member of Sales only
    res = client.get(reverse("audit:log"), {"per_page": 200})
    shown = {e.pk for e in res.context["table"].data}
    visible = AuditEntry.objects.filter(customer=acme.customer).exclude(account_id=acme.other_account.pk)
    assert shown == set(visible.values_list("pk", flat=True))
    assert _desk(desk_entries).pk not in shown
    assert "Sales robot" in res.content.decode() and "Desk robot" not in res.content.decode()
    assert "Acme North" in res.content.decode()  # customer-wide changes stay visible
    rows = csv_rows(client.get(reverse("audit:export")))
    assert len(rows) == visible.count()
    assert not any(r["object"].startswith("Desk robot") for r in rows)
    assert client.get(reverse("audit:detail", args=[_desk(desk_entries).pk])).status_code == 404
    home = client.get(reverse("web:home"))
    assert all(e.account_id != acme.other_account.pk for e in home.context["recent"])


def test_a_member_of_both_accounts_and_the_master_see_both(client, desk_entries):
    acme = desk_entries.acme
    desk = _desk(desk_entries)
    for user in (acme.users["administrator"], acme.master):
        client.force_login(user)
        res = client.get(reverse("audit:log"), {"per_page": 200})
        assert desk.pk in {e.pk for e in res.context["table"].data}
        assert client.get(reverse("audit:detail", args=[desk.pk])).status_code == 200


def test_the_api_audit_log_follows_the_same_rule(client, desk_entries):
    from tests.api.conftest import Api

    acme = desk_entries.acme
    desk = _desk(desk_entries)
    client.force_login(acme.users["read_only"])
    api = Api(client)
    items = api.get("/audit", {"limit": 200}).json()["items"]
    assert items and all(e["account_id"] in (None, acme.account.pk) for e in items)
    assert api.get(f"/audit/{desk.pk}").status_code == 404
    client.force_login(acme.master)
    assert api.get(f"/audit/{desk.pk}").status_code == 200
    client.logout()
    keyed = Api(client, acme.key_secret)  # a key of Sales, made by the master user
    items = keyed.get("/audit", {"limit": 200}).json()["items"]
    assert items and all(e["account_id"] in (None, acme.account.pk) for e in items)
    assert keyed.get(f"/audit/{desk.pk}").status_code == 404
