"""Reading credits is not moving them: 'View SMS credits' alone buys and transfers nothing."""

from __future__ import annotations

import pytest

from kontor.access.services import create_api_key
from kontor.billing.defaults import ensure_default_prices
from kontor.billing.models import Invoice
from kontor.billing.purchase import purchase
from kontor.core.errors import Forbidden
from kontor.ledger import rules
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import system_wallet, user_wallet


@pytest.fixture
def individual(world):
    ensure_default_prices()
    world.acme.customer.credit_mode = "individual"
    world.acme.customer.save()
    return world.acme


def test_a_view_only_key_cannot_buy_or_transfer(client, individual):
    secret = create_api_key(individual.account, actor=individual.master, name="Reader", perms=["view_credits"]).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    body = {
        "quantity": 5,
        "for_user_id": None,
        "payment_method": "invoice",
        "billing_details": {"company": "Acme AB"},
        "card": None,
    }
    response = client.post("/api/v1/credits/purchases", body, content_type="application/json", **auth)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    system = system_wallet(individual.customer)
    response = client.post(
        "/api/v1/credits/transfers",
        {"from_wallet_id": system.pk, "to_wallet_id": user_wallet(individual.users["sender"]).pk, "amount": 1},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 403
    assert not JournalTransaction.objects.exists() and not Invoice.objects.exists()
    # Reading still works.
    assert client.get("/api/v1/credits/wallets", **auth).status_code == 200


def test_a_read_only_user_cannot_buy_for_a_team_member(individual):
    with pytest.raises(Forbidden, match="Send SMS"):
        rules.check_purchase_for_user(individual.users["read_only"], individual.users["sender"])


def test_client_keys_cannot_use_the_reserved_namespace(client, individual):
    secret = create_api_key(
        individual.account, actor=individual.master, name="Writer", perms=["view_credits", "send_sms"]
    ).secret
    response = client.post(
        "/api/v1/credits/transfers",
        {
            "from_wallet_id": system_wallet(individual.customer).pk,
            "to_wallet_id": user_wallet(individual.users["sender"]).pk,
            "amount": 1,
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_IDEMPOTENCY_KEY="sys:refund:1",
    )
    assert response.status_code == 422 and "reserved" in response.content.decode()


def test_invoices_are_seen_by_their_buyer_masters_and_auditors_only(client, individual):
    sender, ocm = individual.users["sender"], individual.users["office_credit_manager"]
    purchase(
        individual.customer,
        actor=sender,
        quantity=10,
        for_user=sender,
        payment_method="invoice",
        billing_details={"company": "Acme AB"},
    )
    mine = Invoice.objects.get()
    client.force_login(sender)
    assert client.get(f"/billing/invoices/{mine.pk}/pdf/").status_code == 200
    client.force_login(ocm)  # same team, has view_credits, did not buy it
    assert client.get(f"/billing/invoices/{mine.pk}/pdf/").status_code == 404
    assert mine.number not in client.get("/billing/invoices/").content.decode()
    client.force_login(individual.master)
    assert mine.number in client.get("/billing/invoices/").content.decode()
