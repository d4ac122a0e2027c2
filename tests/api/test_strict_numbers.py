"""Integers and booleans in API bodies are strict (issue 8 §4): `"amount": true` was taken as 1 (and
1.0 or "1" as 1). Every such field refuses another JSON type with a 422 naming the field, and nothing
is written."""

from __future__ import annotations

import pytest

from kontor.access.services import create_api_key
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import system_wallet, user_wallet
from tests.api.conftest import Api, problem
from tests.ledger.test_views import acme, fund  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def master_api(acme, client):  # noqa: F811
    issued = create_api_key(acme.account, actor=acme.master, name="Strict", perms=["view_credits", "send_sms"])
    return Api(client, issued.secret)


@pytest.mark.parametrize("amount", [True, False, 1.5, "1", [1], {"n": 1}, 1e20])
def test_a_transfer_amount_must_be_an_integer(master_api, acme, amount):  # noqa: F811
    system = fund(system_wallet(acme.customer), 10)
    before = JournalTransaction.objects.count()
    target = user_wallet(acme.users["sender"]).pk
    body = problem(
        master_api.post("/credits/transfers", {"from_wallet_id": system.pk, "to_wallet_id": target, "amount": amount}),
        422,
        "validation_error",
    )
    assert "amount" in body["errors"]
    assert JournalTransaction.objects.count() == before


@pytest.mark.parametrize("amount", [3, 3.0])  # JSON Schema counts 3.0 as an integer
def test_an_integer_amount_still_moves_credits(master_api, acme, amount):  # noqa: F811
    system = fund(system_wallet(acme.customer), 10)
    target = user_wallet(acme.users["sender"])
    response = master_api.post(
        "/credits/transfers", {"from_wallet_id": system.pk, "to_wallet_id": target.pk, "amount": amount}
    )
    assert response.status_code == 201, response.content
    assert response.json()["to_balance"] == 3


def test_batch_items_and_ids_are_strict_too(master_api, acme):  # noqa: F811
    system = fund(system_wallet(acme.customer), 10)
    before = JournalTransaction.objects.count()
    target = user_wallet(acme.users["sender"]).pk
    item = {"from_wallet_id": system.pk, "to_wallet_id": target, "amount": 1}
    body = problem(
        master_api.post("/credits/transfers/batch", {"transfers": [item, {**item, "to_wallet_id": target + 0.5}]}),
        422,
        "validation_error",
    )
    assert "transfers.1.to_wallet_id" in body["errors"]
    body = problem(
        master_api.post("/credits/purchases", {"quantity": True, "payment_method": "invoice", "billing_details": {}}),
        422,
        "validation_error",
    )
    assert "quantity" in body["errors"]
    assert JournalTransaction.objects.count() == before


def test_booleans_and_id_lists_are_strict(world, client, make_key):
    api = Api(client, make_key(world.acme))
    problem(api.post("/accounts", {"name": "Strict", "office_hours_only": 1}), 422, "validation_error")
    body = problem(
        api.post("/users", {"first_name": "A", "last_name": "B", "email": "a@b.test", "additional_office_ids": [True]}),
        422,
        "validation_error",
    )
    assert "additional_office_ids" in body["errors"]
    body = problem(
        api.post("/users", {"first_name": "A", "last_name": "B", "email": "a@b.test", "is_master": "yes"}),
        422,
        "validation_error",
    )
    assert "is_master" in body["errors"]
