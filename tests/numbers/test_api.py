"""Numbers API: customer operations scoped (foreign ids 404, body ids 422), permissions, staff-only
operations (403 for customers and keys), duplicates refused with a stable code."""

from __future__ import annotations

import pytest

from kontor.access.models import Role
from kontor.access.services import create_api_key
from kontor.numbers import services
from kontor.numbers.models import Keyword, KeywordOrder, Number, UnmatchedOwner
from kontor.tenancy.models import Membership
from tests.api.conftest import Api, problem
from tests.numbers.conftest import DEDICATED, SHARED, SHORT, SPARE

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech(client, world, nums):
    client.force_login(world.acme.users["technician"])
    return Api(client)


@pytest.fixture
def staff_api(client, world, nums):
    client.force_login(world.staff["tam"])
    return Api(client)


def test_list_numbers(tech, world, nums):
    services.claim_keyword(world.acme.account, "ACME", actor=world.acme.master)
    services.claim_keyword(world.acme.other_account, "DESK", actor=world.acme.master)
    body = tech.get("/numbers").json()
    assert body["sender"] == SHARED and body["can_receive"] is True
    by_value = {n["value"]: n for n in body["items"]}
    assert set(by_value) == {SHARED, SHORT, "+46701110009"}  # not Globex's, not the inventory's spare
    shared = by_value[SHARED]
    assert shared["is_current"] and [a["name"] for a in shared["accounts"]] == ["Sales", "Support desk"]
    assert shared["unmatched_account"]["name"] == "Sales"
    assert [k["word"] for k in shared["keywords"]] == ["ACME"]  # only the calling account's


def test_claim_duplicate_and_release(tech, world, nums):
    response = tech.post("/numbers/keywords", {"word": "promo"})
    assert response.status_code == 201 and response.json()["word"] == "PROMO"
    body = problem(tech.post("/numbers/keywords", {"word": "Promo"}), 422, "duplicate")
    assert body["errors"] == {"word": [f"The keyword PROMO is already taken on {SHARED}."]}
    problem(tech.post("/numbers/keywords", {"word": "two words"}), 422, "validation_error")
    kw = Keyword.objects.get()
    theirs = services.claim_keyword(world.globex.account, "THEIRS", actor=world.globex.master)
    problem(tech.delete(f"/numbers/keywords/{theirs.pk}"), 404, "not_found")
    assert tech.delete(f"/numbers/keywords/{kw.pk}").status_code == 204
    assert list(Keyword.objects.values_list("word", flat=True)) == ["THEIRS"]


def test_unmatched_owner(tech, world, nums):
    a = world.acme
    # Moving the unmatched messages concerns both accounts: the technician works in both here.
    Membership.objects.create(
        customer=a.customer,
        account=a.other_account,
        user=a.users["technician"],
        role=Role.objects.get(customer=None, slug="technician"),
    )
    url = f"/numbers/{nums.shared.pk}/unmatched-owner"
    response = tech.put(url, {"account_id": a.other_account.pk})
    assert response.status_code == 200 and response.json()["account"]["name"] == "Support desk"
    problem(tech.put(f"/numbers/{nums.dedicated.pk}/unmatched-owner", {"account_id": a.account.pk}), 404, "not_found")
    problem(tech.put(f"/numbers/{nums.spare.pk}/unmatched-owner", {"account_id": a.account.pk}), 404, "not_found")
    body = problem(tech.put(url, {"account_id": world.globex.account.pk}), 422, "validation_error")
    assert "account_id" in body["errors"]
    services.set_account_number(a.account, nums.short, actor=a.master)
    body = problem(tech.put(url, {"account_id": a.account.pk}), 422, "validation_error")
    assert "does not use" in body["errors"]["account_id"][0]
    assert UnmatchedOwner.objects.get(number=nums.shared).account == a.other_account


def test_mo_number(tech, world, nums):
    response = tech.put("/numbers/mo-number", {"number_id": None})
    assert response.json() == {"number": None, "sender": "Kontor", "can_receive": False}
    problem(tech.put("/numbers/mo-number", {"number_id": nums.dedicated.pk}), 422, "validation_error")
    assert tech.put("/numbers/mo-number", {"number_id": nums.short.pk}).json()["number"] == SHORT


def test_keyword_orders(tech, world, nums, client):
    a = world.acme
    services.set_account_number(a.account, nums.short, actor=a.master)
    response = tech.post("/numbers/keyword-orders", {"word": "win"})
    assert response.status_code == 201 and response.json()["status"] == "pending"
    order_id = response.json()["id"]
    problem(
        tech.post("/numbers/keyword-orders", {"word": "x", "number_id": nums.dedicated.pk}), 422, "validation_error"
    )
    assert tech.get("/numbers/keyword-orders").json()["count"] == 1
    problem(tech.post(f"/numbers/keyword-orders/{order_id}/approve"), 403, "permission_denied")
    client.force_login(world.staff["tam"])
    staff_api = Api(client)
    approved = staff_api.post(f"/numbers/keyword-orders/{order_id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert Keyword.objects.get().word == "WIN"
    problem(staff_api.post(f"/numbers/keyword-orders/{order_id}/approve"), 409, "conflict")
    problem(staff_api.post("/numbers/keyword-orders/987654321/reject", {"reason": "x"}), 404, "not_found")


def test_customer_permissions(client, world, nums):
    for slug in ("support", "read_only", "sender"):
        client.force_login(world.acme.users[slug])
        api = Api(client)
        problem(api.get("/numbers"), 403, "permission_denied")
        problem(api.post("/numbers/keywords", {"word": "X"}), 403, "permission_denied")
    # The world's Integration key lacks both permissions; a key with technical_settings works.
    problem(Api(client, world.acme.key_secret).get("/numbers"), 403, "permission_denied")
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Tech", perms=["technical_settings"])
    assert Api(client, issued.secret).get("/numbers").status_code == 200
    assert not Keyword.objects.exists()


def test_staff_inventory_and_assignment(staff_api, world, nums):
    g = world.globex
    body = staff_api.get("/numbers/inventory", {"status": "available"}).json()
    assert [n["value"] for n in body["items"]] == [SPARE]
    body = staff_api.get("/numbers/inventory", {"subscriber_id": g.customer.subscriber_id}).json()
    assert [n["value"] for n in body["items"]] == [DEDICATED]
    created = staff_api.post("/numbers/inventory", {"value": "71717", "kind": "short_code", "country": "SE"})
    assert created.status_code == 201
    problem(
        staff_api.post("/numbers/inventory", {"value": "71717", "kind": "short_code", "country": "SE"}),
        422,
        "duplicate",
    )
    url = f"/numbers/inventory/{nums.spare.pk}/assign"
    body = problem(staff_api.post(url, {"subscriber_id": "S999999"}), 422, "validation_error")
    assert "subscriber_id" in body["errors"]
    assigned = staff_api.post(url, {"subscriber_id": g.customer.subscriber_id}).json()
    assert assigned["subscriber_id"] == g.customer.subscriber_id and assigned["status"] == "assigned"
    # Another customer's number is not taken over.
    problem(staff_api.post(url, {"subscriber_id": world.acme.customer.pk}), 422, "validation_error")
    problem(staff_api.post("/numbers/inventory/987654321/assign", {"subscriber_id": "1"}), 404, "not_found")
    problem(staff_api.post(f"/numbers/inventory/{nums.shared.pk}/unassign", {}), 409, "conflict")
    done = staff_api.post(f"/numbers/inventory/{nums.shared.pk}/unassign", {"force": True}).json()
    assert done["status"] == "available" and done["subscriber_id"] is None
    problem(staff_api.post(f"/numbers/inventory/{nums.shared.pk}/unassign", {}), 422, "validation_error")


def test_staff_operations_refuse_customers_and_keys(client, world, nums):
    client.force_login(world.acme.master)
    master = Api(client)
    key = Api(client, world.acme.key_secret)
    for api in (master, key):
        problem(api.get("/numbers/inventory"), 403, "permission_denied")
        problem(
            api.post(f"/numbers/inventory/{nums.spare.pk}/assign", {"subscriber_id": "1"}), 403, "permission_denied"
        )
    client.force_login(world.staff["billing"])
    problem(Api(client).get("/numbers/inventory"), 403, "permission_denied")
    assert Number.objects.get(pk=nums.spare.pk).customer is None
    assert not KeywordOrder.objects.exists()
