"""The IP allowlist and the audit log through the API."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Customer
from tests.api.conftest import Api, audit_count, problem


def test_allowlist_read_and_write(world, acme):
    assert acme.get("/security/ip-allowlist").json() == {"entries": [], "your_address": "127.0.0.1"}
    body = acme.put("/security/ip-allowlist", {"entries": ["127.0.0.0/8", "2001:db8::/32 # office"]}).json()
    assert body["entries"] == ["127.0.0.0/8", "2001:db8::/32"]
    assert Customer.objects.get(pk=world.acme.customer.pk).ip_allowlist == ["127.0.0.0/8", "2001:db8::/32"]
    assert audit_count("customer.ip_allowlist") == 1


def test_allowlist_refuses_to_lock_the_caller_out(world, acme):
    body = problem(
        acme.put("/security/ip-allowlist", {"entries": ["10.0.0.0/8"]}), 409, "allowlist_excludes_current_address"
    )
    assert "entries" in body["errors"]
    assert Customer.objects.get(pk=world.acme.customer.pk).ip_allowlist == []
    assert audit_count("customer.ip_allowlist") == 0
    response = acme.put("/security/ip-allowlist", {"entries": ["10.0.0.0/8"], "confirm_lockout": True})
    assert response.status_code == 200
    assert audit_count("customer.ip_allowlist") == 1
    problem(acme.get("/me"), 403, "ip_not_allowed")


def test_allowlist_bad_entries_change_nothing(world, acme):
    for entries in (["10.0.0.1/8"], ["999.1.1.1"], ["nonsense"]):
        body = problem(acme.put("/security/ip-allowlist", {"entries": entries}), 422, "validation_error")
        assert "entries" in body["errors"]
    problem(acme.put("/security/ip-allowlist", {"entries": "10.0.0.0/8"}), 422, "validation_error")
    assert Customer.objects.get(pk=world.acme.customer.pk).ip_allowlist == []


def test_allowlist_needs_manage_security(world, client, make_key):
    api = Api(client, make_key(world.acme, "view_users", "view_audit"))
    problem(api.get("/security/ip-allowlist"), 403, "permission_denied")
    problem(api.put("/security/ip-allowlist", {"entries": []}), 403, "permission_denied")


def test_audit_log_is_own_and_newest_first(world, acme):
    acme.post("/offices", {"name": "First"})
    acme.post("/offices", {"name": "Second"})
    body = acme.get("/audit", {"object_type": "office"}).json()
    assert [e["object_repr"] for e in body["items"]] == ["Second", "First"]
    entry = body["items"][0]
    assert entry["action"] == "office.create" and entry["source"] == "api"
    assert entry["actor"] == "master@acme.test" and entry["ip"] == "127.0.0.1"
    assert entry["after"] == {"name": "Second", "address": ""}
    assert acme.get(f"/audit/{entry['id']}").json() == entry
    globex_entry = AuditEntry.objects.filter(customer=world.globex.customer).first()
    problem(acme.get(f"/audit/{globex_entry.pk}"), 404, "not_found")
    all_ids = {e["id"] for e in acme.get("/audit", {"limit": 200}).json()["items"]}
    assert globex_entry.pk not in all_ids


def test_audit_filters(world, acme):
    acme.post("/offices", {"name": "Filtered"})
    assert {e["action"] for e in acme.get("/audit", {"action": "office"}).json()["items"]} == {"office.create"}
    assert acme.get("/audit", {"action": "office.delete"}).json()["count"] == 0
    assert acme.get("/audit", {"actor": "MASTER@acme"}).json()["count"] >= 1
    assert acme.get("/audit", {"actor": "nobody"}).json()["count"] == 0
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert acme.get("/audit", {"since": future}).json()["count"] == 0
    assert acme.get("/audit", {"until": future}).json()["count"] >= 1
    problem(acme.get("/audit", {"since": "yesterday"}), 422, "validation_error")


def test_audit_needs_view_audit(world, client, make_key):
    problem(Api(client, make_key(world.acme, "view_users")).get("/audit"), 403, "permission_denied")
    client.force_login(world.acme.users["read_only"])
    assert Api(client).get("/audit").status_code == 200
