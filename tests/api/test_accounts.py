"""Accounts and cost centers through the API."""

from __future__ import annotations

import pytest

from kontor.tenancy import registry
from kontor.tenancy.models import Account, CostCenter, CustomColumn
from tests.api.conftest import Api, audit_count, problem


def names(body):
    return [item["name"] for item in body["items"]]


def test_list_is_the_customers_own(world, client):
    client.force_login(world.acme.master)  # a master user sees every account of the customer
    acme = Api(client)
    body = acme.get("/accounts").json()
    assert names(body) == ["Sales", "Support desk"]
    assert body["count"] == 2
    sales = body["items"][0]
    assert sales["cost_center"]["code"] == "CC-GEN"
    assert [c["name"] for c in sales["custom_columns"]] == ["Name", "Surname"]
    assert body["items"][1]["custom_columns"] == []
    assert names(acme.get("/accounts", {"q": "desk"}).json()) == ["Support desk"]
    assert names(acme.get("/accounts", {"status": "archived"}).json()) == []
    problem(acme.get("/accounts", {"status": "gone"}), 422, "validation_error")


def test_a_key_lists_only_its_own_account(world, acme):
    body = acme.get("/accounts").json()
    assert names(body) == ["Sales"] and body["count"] == 1
    assert names(acme.get("/accounts", {"q": "desk"}).json()) == []


def test_members_without_account_rights_see_only_their_accounts(world, client, make_key):
    assert names(Api(client, make_key(world.acme, "view_users")).get("/accounts").json()) == ["Sales"]
    client.force_login(world.acme.users["sender"])
    assert names(Api(client).get("/accounts").json()) == ["Sales"]
    other = world.acme.other_account.pk
    problem(Api(client).get(f"/accounts/{other}"), 404, "not_found")


def test_create_with_columns_and_shared_cost_center_warning(world, acme):
    response = acme.post(
        "/accounts",
        {
            "name": "Marketing",
            "cost_center_id": world.cost_center.pk,
            "office_hours_only": True,
            "custom_columns": [{"name": "Name"}, {"name": "Birthday", "type": "date"}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    account = Account.objects.get(pk=body["id"], customer=world.acme.customer)
    assert account.office_hours_only
    assert [(c["name"], c["type"]) for c in body["custom_columns"]] == [("Name", "text"), ("Birthday", "date")]
    assert body["warnings"] and "Sales" in body["warnings"][0]
    assert audit_count("account.create", account.pk) == 1


def test_create_without_cost_center_has_no_warning(world, acme):
    body = acme.post("/accounts", {"name": "Quiet"}).json()
    assert body["warnings"] == [] and body["cost_center"] is None


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({}, "name"),
        ({"name": "Sales"}, "name"),  # taken (case-insensitive)
        ({"name": "X", "custom_columns": [{"name": "Phone"}]}, "custom_columns"),
        ({"name": "X", "custom_columns": [{"name": "A"}, {"name": "a"}]}, "custom_columns"),
        ({"name": "X", "custom_columns": [{"name": f"C{i}"} for i in range(11)]}, "custom_columns"),
        ({"name": "X", "custom_columns": [{"name": "A", "type": "blob"}]}, "custom_columns.0.type"),
        ({"name": "X", "cost_center_id": 999999}, "cost_center_id"),
        ({"name": "X", "unknown": 1}, "unknown"),
        ({"name": "X\x00"}, "name"),
    ],
)
def test_create_bad_input_is_422_and_changes_nothing(world, acme, payload, field):
    before = (Account.objects.count(), CustomColumn.objects.count(), audit_count("account.create"))
    body = problem(acme.post("/accounts", payload), 422, body_code(payload))
    assert field in body["errors"], body
    assert (Account.objects.count(), CustomColumn.objects.count(), audit_count("account.create")) == before


def body_code(payload):
    return "duplicate" if payload.get("name") == "Sales" else "validation_error"


def test_foreign_cost_center_is_a_field_error(world, acme):
    theirs = CostCenter.objects.create(code="GLX", name="Globex only", customer=world.globex.customer)
    body = problem(acme.post("/accounts", {"name": "X", "cost_center_id": theirs.pk}), 422, "validation_error")
    assert body["errors"] == {"cost_center_id": ["No such cost center."]}
    codes = [c["code"] for c in acme.get("/cost-centers").json()["items"]]
    assert codes == ["CC-GEN"]
    mine = CostCenter.objects.create(code="ACM", name="Acme only", customer=world.acme.customer)
    assert [c["code"] for c in acme.get("/cost-centers").json()["items"]] == ["ACM", "CC-GEN"]
    assert acme.post("/accounts", {"name": "X", "cost_center_id": mine.pk}).status_code == 201


def test_other_customers_accounts_are_404(world, acme):
    theirs = world.globex.account.pk
    problem(acme.get(f"/accounts/{theirs}"), 404, "not_found")
    problem(acme.patch(f"/accounts/{theirs}", {"name": "Mine now"}), 404, "not_found")
    problem(acme.delete(f"/accounts/{theirs}"), 404, "not_found")
    problem(acme.post(f"/accounts/{theirs}/restore"), 404, "not_found")
    problem(acme.get("/accounts/987654321"), 404, "not_found")
    assert Account.objects.get(pk=theirs).name == "Sales"


def test_patch_changes_only_given_fields(world, acme):
    pk = world.acme.account.pk
    body = acme.patch(f"/accounts/{pk}", {"office_hours_only": True}).json()
    assert body["office_hours_only"] is True and body["name"] == "Sales"
    assert body["cost_center"]["code"] == "CC-GEN"
    assert audit_count("account.update", pk) == 1
    body = acme.patch(f"/accounts/{pk}", {"cost_center_id": None, "name": "Sales EU"}).json()
    assert body["cost_center"] is None and body["name"] == "Sales EU"
    body = acme.patch(f"/accounts/{pk}", {"custom_columns": [{"name": "Surname"}]}).json()
    assert [c["name"] for c in body["custom_columns"]] == ["Surname"]
    # A column that survives keeps its row.
    assert CustomColumn.objects.get(account_id=pk).pk == world.acme.columns[1].pk


def test_patch_bad_input_changes_nothing(world, acme):
    pk = world.acme.account.pk
    for payload, field in [
        ({"name": None}, "name"),
        ({"name": "Support desk"}, "name"),
        ({"office_hours_only": "perhaps"}, "office_hours_only"),
        ({"cost_center_id": 424242}, "cost_center_id"),
    ]:
        body = acme.patch(f"/accounts/{pk}", payload).json()
        assert body["status"] == 422 and field in body["errors"], (payload, body)
    account = Account.objects.get(pk=pk)
    assert (account.name, account.office_hours_only, account.cost_center_id) == ("Sales", False, world.cost_center.pk)
    assert audit_count("account.update") == 0


def test_delete_empty_account_is_204(world, client):
    client.force_login(world.acme.master)  # a key could act only on its own account
    acme = Api(client)
    pk = acme.post("/accounts", {"name": "Temp"}).json()["id"]
    response = acme.delete(f"/accounts/{pk}")
    assert response.status_code == 204 and response.content == b""
    assert not Account.objects.filter(pk=pk).exists()
    assert audit_count("account.delete", pk) == 1


def test_delete_account_holding_data_archives_it(world, client, monkeypatch):
    client.force_login(world.acme.master)  # a key could act only on its own account
    acme = Api(client)
    pk = world.acme.other_account.pk
    monkeypatch.setattr(registry, "_probes", [lambda a: ("contacts", 3 if a.pk == pk else 0)])
    response = acme.delete(f"/accounts/{pk}")
    assert response.status_code == 200
    assert response.json() == {"archived": True, "held": [{"what": "contacts", "count": 3}]}
    assert Account.objects.get(pk=pk).status == "archived"
    assert audit_count("account.archive", pk) == 1
    problem(acme.patch(f"/accounts/{pk}", {"name": "Y"}), 409, "account_archived")
    body = acme.post(f"/accounts/{pk}/restore").json()
    assert body["status"] == "active"
    assert audit_count("account.restore", pk) == 1


def test_account_writes_need_their_permissions(world, client, make_key):
    api = Api(client, make_key(world.acme, "view_users", "create_accounts"))
    pk = world.acme.account.pk
    problem(api.patch(f"/accounts/{pk}", {"name": "Z"}), 403, "permission_denied")
    problem(api.delete(f"/accounts/{pk}"), 403, "permission_denied")
    assert api.post("/accounts", {"name": "Allowed"}).status_code == 201
    api = Api(client, make_key(world.acme, "manage_accounts"))
    problem(api.post("/accounts", {"name": "Nope"}), 403, "permission_denied")


def test_creator_becomes_member_of_new_account(world, client):
    admin = world.acme.users["administrator"]
    client.force_login(admin)
    pk = Api(client).post("/accounts", {"name": "Admin's"}).json()["id"]
    assert admin.memberships.filter(account_id=pk, role__slug="administrator").exists()
