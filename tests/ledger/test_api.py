"""The credits API: balances, log, quote, purchases, transfers (single, batch), thresholds, idempotency."""

from __future__ import annotations

import csv
import io

import pytest

from kontor.access.services import create_api_key
from kontor.billing.models import Invoice
from kontor.billing.pricing import quote
from kontor.core.models import IdempotencyRecord
from kontor.ledger.models import JournalTransaction, Wallet
from kontor.ledger.posting import system_wallet, user_wallet
from tests.api.conftest import Api, problem
from tests.ledger.test_views import acme, fund  # noqa: F401  (the fixture)

CARD = {"number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
BILLING = {"company": "Acme AB", "contact_name": "Mia Master", "email": "billing@acme.test"}


@pytest.fixture
def master_api(acme, client):  # noqa: F811
    """An API key of the Sales account made by the master user (so it acts as the master user)."""
    issued = create_api_key(acme.account, actor=acme.master, name="Credits", perms=["view_credits", "send_sms"])
    return Api(client, issued.secret)


@pytest.fixture
def sender_api(acme, client):  # noqa: F811
    """The sender's browser session, speaking to the API."""
    client.force_login(acme.users["sender"])
    return Api(client)


def test_list_and_get_wallets(master_api, acme):  # noqa: F811
    fund(system_wallet(acme.customer), 70)
    body = master_api.get("/credits/wallets").json()
    by_name = {w["name"]: w for w in body["items"]}
    assert by_name["System (unallocated) credits"]["balance"] == 70
    assert "Olle Outsider" in by_name and "Support Acme" not in by_name
    assert body["count"] == len(body["items"])
    system = by_name["System (unallocated) credits"]
    assert set(system["actions"]) >= {"purchase", "transfer_from", "log", "threshold"}
    assert master_api.get(f"/credits/wallets/{system['id']}").json()["balance"] == 70


def test_regular_user_sees_only_themselves_and_team(sender_api, acme):  # noqa: F811
    names = {w["name"] for w in sender_api.get("/credits/wallets").json()["items"]}
    assert "Sender Acme" in names and "System (unallocated) credits" not in names and "Olle Outsider" not in names
    problem(sender_api.get(f"/credits/wallets/{system_wallet(acme.customer).pk}"), 404, "not_found")


def test_foreign_wallet_is_404(master_api, world, acme):  # noqa: F811
    foreign = fund(system_wallet(world.globex.customer), 5)
    for path in ("", "/log", "/log.csv"):
        problem(master_api.get(f"/credits/wallets/{foreign.pk}{path}"), 404, "not_found")
    problem(master_api.put(f"/credits/wallets/{foreign.pk}/threshold", {"threshold": 1}), 404, "not_found")
    mine = system_wallet(acme.customer)
    body = problem(
        master_api.post("/credits/transfers", {"from_wallet_id": foreign.pk, "to_wallet_id": mine.pk, "amount": 1}),
        422,
        "validation_error",
    )
    assert body["errors"] == {"from_wallet_id": ["No such wallet."]}
    assert Wallet.objects.get(pk=foreign.pk).balance == 5


def test_a_key_without_credit_permissions_is_403(acme, client):  # noqa: F811
    issued = create_api_key(acme.account, actor=acme.master, name="Users only", perms=["view_users"])
    api = Api(client, issued.secret)
    system = system_wallet(acme.customer)
    problem(api.get("/credits/wallets"), 403, "permission_denied")
    problem(api.get(f"/credits/wallets/{system.pk}/log"), 403, "permission_denied")
    problem(api.get("/credits/quote", {"quantity": 10}), 403, "permission_denied")
    body = {"quantity": 10, "payment_method": "invoice", "billing_details": BILLING}
    problem(api.post("/credits/purchases", body), 403, "permission_denied")
    assert not JournalTransaction.objects.exists()


def test_log_with_running_balance_and_csv(master_api, acme):  # noqa: F811
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    system = fund(system_wallet(acme.customer), 100)
    for amount in (10, 20, 30):
        r = master_api.post(
            "/credits/transfers",
            {"from_wallet_id": system.pk, "to_wallet_id": user_wallet(sender).pk, "amount": amount},
        )
        assert r.status_code == 201, r.content
    master_api.post(
        "/credits/transfers",
        {"from_wallet_id": user_wallet(sender).pk, "to_wallet_id": user_wallet(ocm).pk, "amount": 5},
    )
    log = master_api.get(f"/credits/wallets/{user_wallet(sender).pk}/log", {"limit": 2, "offset": 1}).json()
    assert log["count"] == 4
    assert [(e["delta"], e["balance"]) for e in log["items"]] == [(30, 60), (20, 30)]
    assert log["items"][0]["counterparty"] == "System (unallocated) credits" and log["items"][0]["kind"] == "allocation"
    response = master_api.get(f"/credits/wallets/{user_wallet(sender).pk}/log.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert [r[9] for r in rows[1:]] == ["10", "30", "60", "55"]


def test_quote(master_api, acme):  # noqa: F811
    body = master_api.get("/credits/quote", {"quantity": 1000}).json()
    q = quote(acme.customer, 1000)
    assert (body["gross_minor"], body["currency"], body["gross"]) == (q.gross_minor, q.currency, q.gross)
    problem(master_api.get("/credits/quote", {"quantity": 0}), 422, "validation_error")


def test_purchase_with_the_test_card(master_api, acme, client):  # noqa: F811
    body = {"quantity": 1000, "payment_method": "test_card", "billing_details": BILLING, "card": CARD}
    response = master_api.post("/credits/purchases", body)
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["balance"] == 1000 and out["invoice_number"]
    assert system_wallet(acme.customer).balance == 1000
    invoice = Invoice.objects.get(number=out["invoice_number"])
    assert invoice.journal_id is not None and str(invoice.journal_id) == out["journal_id"]
    client.force_login(acme.master)
    pdf = client.get(out["invoice_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_declined_purchase_is_402_and_applies_nothing(master_api, acme):  # noqa: F811
    card = {**CARD, "number": "4000000000000002"}
    body = {"quantity": 10, "payment_method": "test_card", "billing_details": BILLING, "card": card}
    problem(master_api.post("/credits/purchases", body), 402, "payment_declined")
    bad = problem(
        master_api.post("/credits/purchases", {**body, "card": {**CARD, "cvc": "x"}}), 422, "validation_error"
    )
    assert "card.cvc" in bad["errors"]
    assert system_wallet(acme.customer).balance == 0
    assert not JournalTransaction.objects.exists() and not Invoice.objects.exists()


def test_purchase_for_a_user_on_invoice_and_refusals(sender_api, acme):  # noqa: F811
    sender = acme.users["sender"]
    body = {"quantity": 25, "for_user_id": sender.pk, "payment_method": "invoice", "billing_details": BILLING}
    response = sender_api.post("/credits/purchases", body)
    assert response.status_code == 201, response.content
    assert user_wallet(sender).balance == 25
    problem(sender_api.post("/credits/purchases", {**body, "for_user_id": None}), 403, "permission_denied")
    problem(sender_api.post("/credits/purchases", {**body, "for_user_id": acme.outsider.pk}), 403, "permission_denied")
    assert problem(sender_api.post("/credits/purchases", {**body, "for_user_id": 987654}), 422, "validation_error")[
        "errors"
    ] == {"for_user_id": ["No such user."]}
    assert JournalTransaction.objects.filter(kind="purchase").count() == 1


def test_transfers_follow_the_rules(sender_api, acme):  # noqa: F811
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine, theirs = fund(user_wallet(sender), 12), fund(user_wallet(ocm), 30)
    ok = sender_api.post("/credits/transfers", {"from_wallet_id": mine.pk, "to_wallet_id": theirs.pk, "amount": 2})
    assert ok.status_code == 201 and ok.json()["from_balance"] == 10 and ok.json()["to_balance"] == 32
    never_from = {"from_wallet_id": theirs.pk, "to_wallet_id": mine.pk, "amount": 1}
    problem(sender_api.post("/credits/transfers", never_from), 403, "permission_denied")
    too_much = {"from_wallet_id": mine.pk, "to_wallet_id": theirs.pk, "amount": 40}
    body = problem(sender_api.post("/credits/transfers", too_much), 409, "insufficient_credits")
    assert "insufficient credits: 10 available, 40 needed" in body["detail"]
    assert (Wallet.objects.get(pk=mine.pk).balance, Wallet.objects.get(pk=theirs.pk).balance) == (10, 32)


def test_idempotent_transfer(master_api, acme):  # noqa: F811
    system = fund(system_wallet(acme.customer), 100)
    body = {"from_wallet_id": system.pk, "to_wallet_id": user_wallet(acme.outsider).pk, "amount": 10}
    master_api.headers["Idempotency-Key"] = "retry-me-1"
    first = master_api.post("/credits/transfers", body)
    second = master_api.post("/credits/transfers", body)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert JournalTransaction.objects.filter(kind="allocation").count() == 1
    assert system_wallet(acme.customer).balance == 90
    problem(master_api.post("/credits/transfers", {**body, "amount": 11}), 422, "idempotency_key_reused")
    assert system_wallet(acme.customer).balance == 90
    assert IdempotencyRecord.objects.filter(customer_id=acme.customer.pk, key="retry-me-1").count() == 1


def test_idempotent_purchase_buys_once(master_api, acme):  # noqa: F811
    body = {"quantity": 10, "payment_method": "invoice", "billing_details": BILLING}
    master_api.headers["Idempotency-Key"] = "buy-once"
    first, second = master_api.post("/credits/purchases", body), master_api.post("/credits/purchases", body)
    assert first.json() == second.json() and first.status_code == 201
    assert Invoice.objects.count() == 1 and system_wallet(acme.customer).balance == 10


def test_batch_is_all_or_nothing(master_api, acme):  # noqa: F811
    system = fund(system_wallet(acme.customer), 100)
    good = {"from_wallet_id": system.pk, "to_wallet_id": user_wallet(acme.users["sender"]).pk, "amount": 10}
    cannot_send = {**good, "to_wallet_id": user_wallet(acme.users["support"]).pk}
    body = problem(
        master_api.post("/credits/transfers/batch", {"transfers": [good, cannot_send, good]}), 422, "validation_error"
    )
    assert list(body["errors"]) == ["transfers.1"]
    missing = problem(
        master_api.post("/credits/transfers/batch", {"transfers": [good, {**good, "to_wallet_id": 987654}]}),
        422,
        "validation_error",
    )
    assert list(missing["errors"]) == ["transfers.1"]
    assert system_wallet(acme.customer).balance == 100 and not JournalTransaction.objects.filter(kind="transfer")
    ok = master_api.post("/credits/transfers/batch", {"transfers": [good, good, good]})
    assert ok.status_code == 201 and ok.json()["count"] == 3
    assert system_wallet(acme.customer).balance == 70 and user_wallet(acme.users["sender"]).balance == 30
    problem(master_api.post("/credits/transfers/batch", {"transfers": [good] * 1001}), 422, "validation_error")


def test_threshold(sender_api, acme):  # noqa: F811
    mine = user_wallet(acme.users["sender"])
    response = sender_api.put(f"/credits/wallets/{mine.pk}/threshold", {"threshold": 7})
    assert response.status_code == 200 and response.json()["low_balance_threshold"] == 7
    theirs = user_wallet(acme.users["office_credit_manager"])
    problem(sender_api.put(f"/credits/wallets/{theirs.pk}/threshold", {"threshold": 7}), 403, "permission_denied")
    problem(sender_api.put(f"/credits/wallets/{mine.pk}/threshold", {"threshold": -1}), 422, "validation_error")
    assert Wallet.objects.get(pk=theirs.pk).low_balance_threshold is None
    assert Wallet.objects.get(pk=mine.pk).low_balance_threshold == 7
