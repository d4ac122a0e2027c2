"""Roles, permissions and API keys through the API."""

from __future__ import annotations

from kontor.access.models import ApiKey, Role
from kontor.access.perms import CUSTOMER_PERMS
from tests.api.conftest import Api, audit_count, problem


def test_permissions_list(world, acme):
    body = acme.get("/permissions").json()
    assert {p["value"] for p in body} == {p.value for p in CUSTOMER_PERMS}
    assert {"value": "send_sms", "label": "Send SMS"} in body


def test_roles_list_builtins_first_then_own(world, acme):
    Role.objects.create(customer=world.globex.customer, name="Globex auditors", perms=["view_audit"])
    acme.post("/roles", {"name": "Auditors", "perms": ["view_audit"]})
    body = acme.get("/roles", {"limit": 200}).json()
    names = [r["name"] for r in body["items"]]
    assert names[-1] == "Auditors" and "Globex auditors" not in names
    assert all(r["builtin"] for r in body["items"][:-1])


def test_role_lifecycle(world, acme):
    response = acme.post("/roles", {"name": "Auditors", "perms": ["view_audit", "view_users"], "description": "Read"})
    assert response.status_code == 201
    pk = response.json()["id"]
    assert audit_count("role.create", pk) == 1
    body = acme.patch(f"/roles/{pk}", {"perms": ["view_audit"]}).json()
    assert body["perms"] == ["view_audit"] and body["name"] == "Auditors" and body["description"] == "Read"
    assert audit_count("role.update", pk) == 1
    assert acme.delete(f"/roles/{pk}").status_code == 204
    assert audit_count("role.delete", pk) == 1


def test_role_bad_input_and_refusals(world, acme):
    count = Role.objects.count()
    for payload, field in [
        ({"name": "X", "perms": []}, "perms"),
        ({"name": "X", "perms": ["fly"]}, "perms"),
        ({"name": "X", "perms": ["staff.onboard_customers"]}, "perms"),
        ({"name": "Sender", "perms": ["send_sms"]}, "name"),
        ({"name": "", "perms": ["send_sms"]}, "name"),
        ({"perms": ["send_sms"]}, "name"),
    ]:
        response = acme.post("/roles", payload)
        assert response.status_code == 422 and field in response.json()["errors"], (payload, response.content)
    assert Role.objects.count() == count
    builtin = Role.objects.get(customer=None, slug="sender")
    problem(acme.patch(f"/roles/{builtin.pk}", {"name": "Mine"}), 403, "permission_denied")
    problem(acme.delete(f"/roles/{builtin.pk}"), 403, "permission_denied")
    theirs = Role.objects.create(customer=world.globex.customer, name="Theirs", perms=["send_sms"])
    problem(acme.get(f"/roles/{theirs.pk}"), 404, "not_found")
    problem(acme.patch(f"/roles/{theirs.pk}", {"name": "Ours"}), 404, "not_found")
    problem(acme.delete(f"/roles/{theirs.pk}"), 404, "not_found")
    assert Role.objects.get(pk=theirs.pk).name == "Theirs"
    # In use: refused.
    pk = acme.post("/roles", {"name": "Used", "perms": ["send_sms"]}).json()["id"]
    used = acme.put(f"/users/{world.acme.users['sender'].pk}/memberships/{world.acme.account.pk}", {"role_id": pk})
    assert used.status_code == 200, used.content
    problem(acme.delete(f"/roles/{pk}"), 409, "conflict")


def test_roles_need_their_permissions(world, client, make_key):
    problem(Api(client, make_key(world.acme, "send_sms")).get("/roles"), 403, "permission_denied")
    api = Api(client, make_key(world.acme, "view_users"))
    assert api.get("/roles").status_code == 200
    problem(api.post("/roles", {"name": "X", "perms": ["send_sms"]}), 403, "permission_denied")


def test_api_key_lifecycle(world, acme, client):
    response = acme.post("/api-keys", {"name": "CI", "perms": ["view_users"]})
    assert response.status_code == 201
    body = response.json()
    secret, pk = body["secret"], body["id"]
    assert secret.startswith("kon_") and body["active"] and body["created_by"] == "master@acme.test"
    assert audit_count("api_key.create", pk) == 1
    stored = ApiKey.objects.get(pk=pk)
    assert secret not in (stored.key_hash, stored.prefix)
    listed = acme.get("/api-keys").json()["items"]
    assert pk in [k["id"] for k in listed] and all("secret" not in k for k in listed)
    new_key = Api(client, secret)
    assert new_key.get("/users").status_code == 200
    assert acme.delete(f"/api-keys/{pk}").status_code == 204
    assert audit_count("api_key.revoke", pk) == 1
    problem(new_key.get("/users"), 401, "not_authenticated")


def test_api_keys_are_per_account(world, client, make_key):
    """A key of one account neither lists nor revokes the keys of the customer's other account."""
    other = make_key(world.acme, "manage_api_keys", account=world.acme.other_account)
    sales = Api(client, make_key(world.acme, "manage_api_keys"))
    sales_ids = {k["id"] for k in sales.get("/api-keys").json()["items"]}
    assert world.acme.key.pk in sales_ids
    other_api = Api(client, other)
    other_ids = {k["id"] for k in other_api.get("/api-keys").json()["items"]}
    assert not (sales_ids & other_ids)
    problem(other_api.delete(f"/api-keys/{world.acme.key.pk}"), 404, "not_found")
    problem(sales.delete(f"/api-keys/{world.globex.key.pk}"), 404, "not_found")
    assert ApiKey.objects.get(pk=world.acme.key.pk).is_active
    # Nor does it read what happened inside the other account.
    audit_other = Api(client, make_key(world.acme, "view_audit", account=world.acme.other_account))
    accounts = {e["account_id"] for e in audit_other.get("/audit", {"limit": 200}).json()["items"]}
    assert world.acme.account.pk not in accounts


def test_api_key_bad_input_and_overreach(world, client, make_key):
    api = Api(client, make_key(world.acme, "manage_api_keys"))
    count = ApiKey.objects.count()
    for payload, field in [
        ({"name": "", "perms": ["send_sms"]}, "name"),
        ({"name": "X", "perms": []}, "perms"),
        ({"name": "X", "perms": ["root"]}, "perms"),
        ({"name": "X"}, "perms"),
    ]:
        response = api.post("/api-keys", payload)
        assert response.status_code == 422 and field in response.json()["errors"], (payload, response.content)
    # A technician may manage keys but not hand out user management.
    client.force_login(world.acme.users["technician"])
    problem(Api(client).post("/api-keys", {"name": "X", "perms": ["manage_users"]}), 403, "permission_denied")
    assert ApiKey.objects.count() == count
