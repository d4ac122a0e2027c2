"""The billing API: quotes and invoices, scoped to the caller's customer."""

from __future__ import annotations

import pytest

from kontor.access.services import create_api_key
from tests.billing.conftest import buy

BASE = "/api/v1/billing"


@pytest.fixture
def api(client, world):
    client.force_login(world.acme.master)
    return client


def test_quote(api):
    body = api.get(f"{BASE}/quote", {"quantity": 1000}).json()
    assert body["currency"] == "SEK" and body["tier_min_quantity"] == 1000
    assert (body["net_minor"], body["vat_minor"], body["gross_minor"]) == (39_000, 9_750, 48_750)
    assert body["gross"] == "487.50 SEK" and body["unit_price"] == "0.39 SEK" and body["vat_rate"] == "25%"


@pytest.mark.parametrize("quantity", ["0", "-3", "10000001", "abc", ""])
def test_quote_bad_quantity(api, quantity):
    response = api.get(f"{BASE}/quote", {"quantity": quantity})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "quantity" in response.json()["errors"]


def test_invoices_are_scoped(api, world):
    mine, theirs = buy(world.acme), buy(world.globex)
    body = api.get(f"{BASE}/invoices").json()
    assert [i["number"] for i in body["items"]] == [mine.number] and body["count"] == 1
    one = api.get(f"{BASE}/invoices/{mine.pk}").json()
    assert one["gross"] == "487.50 SEK" and one["lines"][0]["quantity"] == 1000
    assert api.get(f"{BASE}/invoices/{theirs.pk}").status_code == 404
    assert api.get(f"{BASE}/invoices/{theirs.pk}/pdf").status_code == 404
    response = api.get(f"{BASE}/invoices/{mine.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert api.get(f"{BASE}/invoices", {"status": "due"}).json()["count"] == 0


def test_api_key_needs_view_credits(client, world):
    mine = buy(world.acme)
    headers = {"Authorization": f"Bearer {world.acme.key_secret}"}  # no view_credits
    assert client.get(f"{BASE}/quote", {"quantity": 5}, headers=headers).status_code == 403
    assert client.get(f"{BASE}/invoices/{mine.pk}", headers=headers).status_code == 403
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Billing", perms=["view_credits"])
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get(f"{BASE}/invoices/{mine.pk}", headers=headers).json()["number"] == mine.number


def test_staff_cannot_use_customer_billing_api(client, world):
    client.force_login(world.staff["billing"])
    assert client.get(f"{BASE}/quote", {"quantity": 5}).status_code == 403
