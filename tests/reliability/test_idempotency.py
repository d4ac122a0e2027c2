"""Idempotent retries (issue 3 §6): 1,000 keys, each sent three times at once by three processes, give
exactly 1,000 journal transactions, every sender gets the same answer, and the balances moved once.
Through the service layer, through `run_idempotent` (what every credit-moving POST wraps), and through
the HTTP endpoint. A key reused for another operation is refused, never replayed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db.models import Sum
from django.http import HttpResponse
from django.urls import resolve

from kontor.access.models import User
from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.core.idempotency import run_idempotent
from kontor.ledger import services
from kontor.ledger.models import JournalTransaction, Wallet
from kontor.ledger.posting import Leg, post, provider_wallet
from tests.reliability.bank import Bank, build_bank, fresh_connections

KEYS = 1000
SENDS = 3
GROUPS = 2  # 2 groups x 3 senders = 6 processes; the 3 senders of a group send the same keys in step
FUNDS = 10_000
TRANSFERS_PATH = "/api/v1/credits/transfers"


def _fund_system(bank: Bank) -> Wallet:
    system = Wallet.objects.get(pk=bank.system_wallet_id)
    master = User.objects.get(pk=bank.master_id)
    post("purchase", [Leg(provider_wallet(), -FUNDS), Leg(system, FUNDS)], actor=master, customer=master.customer)
    return system


def _plan(bank: Bank, k: int) -> tuple[int, int]:
    """(target user wallet id, amount) of key k: the same for every send."""
    return bank.wallet_ids[bank.user_ids[k % len(bank.user_ids)]], 1 + k % 3


def _sender(bank: Bank, group: int, sender: int, prefix: str, kind: str, result_dir: str, n_keys: int) -> None:
    fresh_connections()
    answers: dict[str, str] = {}
    errors: list[str] = []
    try:
        master = User.objects.select_related("customer").get(pk=bank.master_id)
        system = Wallet.objects.get(pk=bank.system_wallet_id)
        wallets = {w.pk: w for w in Wallet.objects.select_related("user__customer").filter(kind="user")}
        send = _SENDERS[kind](bank, master, system, wallets)
        for k in range(group, n_keys, GROUPS):
            key = f"{prefix}{k}"
            target, amount = _plan(bank, k)
            for _attempt in range(500):
                try:
                    answers[key] = send(key, target, amount)
                    break
                except Conflict as exc:  # the same key is in flight in a sibling: retry, as clients must
                    assert exc.code == ErrorCode.IDEMPOTENCY_IN_FLIGHT, exc.code
                    time.sleep(0.005)
            else:
                errors.append(f"{key}: still in flight after 500 tries")
    except Exception as exc:
        errors.append(f"{exc.__class__.__name__}: {exc}")
    Path(result_dir, f"{kind}-{group}-{sender}.json").write_text(json.dumps({"answers": answers, "errors": errors}))


def _via_service(bank, master, system, wallets) -> Callable[[str, int, int], str]:
    def send(key: str, target: int, amount: int) -> str:
        return str(services.transfer(system, wallets[target], amount, actor=master, idempotency_key=key).pk)

    return send


def _via_run_idempotent(bank, master, system, wallets) -> Callable[[str, int, int], str]:
    def send(key: str, target: int, amount: int) -> str:
        body = json.dumps({"from_wallet_id": system.pk, "to_wallet_id": target, "amount": amount}).encode()

        def work() -> HttpResponse:
            journal = services.transfer(system, wallets[target], amount, actor=master, idempotency_key=key)
            return HttpResponse(json.dumps({"journal_id": str(journal.pk)}), status=201)

        response = run_idempotent(
            customer_id=bank.customer_id, key=key, method="POST", path=TRANSFERS_PATH, body=body, work=work
        )
        assert response.status_code == 201, response.content
        return json.loads(response.content)["journal_id"]

    return send


def _via_http(bank, master, system, wallets) -> Callable[[str, int, int], str]:
    from django.test import Client

    client = Client()
    client.force_login(master)

    def send(key: str, target: int, amount: int) -> str:
        response = client.post(
            TRANSFERS_PATH,
            data={"from_wallet_id": system.pk, "to_wallet_id": target, "amount": amount},
            content_type="application/json",
            headers={"Idempotency-Key": key},
        )
        if response.status_code == 409 and response.json().get("code") == ErrorCode.IDEMPOTENCY_IN_FLIGHT:
            raise Conflict("in flight", code=ErrorCode.IDEMPOTENCY_IN_FLIGHT)
        assert response.status_code == 201, response.content
        return str(response.json()["journal_id"])

    return send


_SENDERS = {"service": _via_service, "run_idempotent": _via_run_idempotent, "http": _via_http}


def _hammer(procs, bank: Bank, tmp_path: Path, kind: str, prefix: str, n_keys: int) -> None:
    system = _fund_system(bank)
    before = system.balance + 0
    senders = [
        procs(_sender, bank, g, s, prefix, kind, str(tmp_path), n_keys) for g in range(GROUPS) for s in range(SENDS)
    ]
    for proc in senders:
        proc.join(300)
        assert proc.exitcode == 0
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob(f"{kind}-*.json"))]
    assert len(results) == GROUPS * SENDS
    assert [e for r in results for e in r["errors"]] == []
    answers: dict[str, set[str]] = {}
    for result in results:
        for key, jid in result["answers"].items():
            answers.setdefault(key, set()).add(jid)
    assert len(answers) == n_keys
    assert all(len(jids) == 1 for jids in answers.values()), "every sender of a key got the same journal"
    journals = JournalTransaction.objects.filter(idempotency_key__startswith=prefix)
    assert journals.count() == n_keys
    assert {str(j) for j in journals.values_list("id", flat=True)} == {next(iter(v)) for v in answers.values()}
    moved = sum(_plan(bank, k)[1] for k in range(n_keys))
    system.refresh_from_db()
    assert system.balance == before - moved
    assert Wallet.objects.filter(kind="user").aggregate(t=Sum("balance"))["t"] == 20 * 500 + moved


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["service", "run_idempotent"])
def test_thousand_keys_sent_three_times_at_once_give_a_thousand_journals(procs, tmp_path, kind):
    bank = build_bank(20)
    _hammer(procs, bank, tmp_path, kind, f"{kind[:3]}-", KEYS)


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_http_transfers_with_idempotency_keys_sent_three_times_at_once(procs, tmp_path):
    resolve(TRANSFERS_PATH)  # the endpoint under test must exist; a missing route fails here
    bank = build_bank(20)
    # 300 keys (900 requests) over the full HTTP stack; the 1,000-key proof runs on the layers below.
    _hammer(procs, bank, tmp_path, "http", "http-", 300)


# --- sequential: both databases ------------------------------------------------------------------


@pytest.fixture
def bank(db) -> Bank:
    return build_bank(4)


def test_retried_keys_replay_the_first_journal(bank):
    system = _fund_system(bank)
    master = User.objects.get(pk=bank.master_id)
    wallets = {w.pk: w for w in Wallet.objects.filter(kind="user")}
    first = {}
    for _send in range(SENDS):
        for k in range(200):
            target, amount = _plan(bank, k)
            journal = services.transfer(system, wallets[target], amount, actor=master, idempotency_key=f"seq-{k}")
            assert first.setdefault(k, journal.pk) == journal.pk
    assert JournalTransaction.objects.filter(idempotency_key__startswith="seq-").count() == 200
    system.refresh_from_db()
    assert system.balance == FUNDS - sum(_plan(bank, k)[1] for k in range(200))


def test_a_key_reused_with_another_amount_is_refused(bank):
    system = _fund_system(bank)
    master = User.objects.get(pk=bank.master_id)
    target = Wallet.objects.filter(kind="user").first()
    services.transfer(system, target, 5, actor=master, idempotency_key="same")
    with pytest.raises(Invalid) as caught:
        services.transfer(system, target, 6, actor=master, idempotency_key="same")
    assert caught.value.code == ErrorCode.IDEMPOTENCY_MISMATCH
    with pytest.raises(Invalid) as caught:
        services.consume(target.user, target.user.memberships.first().account, 5, idempotency_key="same")
    assert caught.value.code == ErrorCode.IDEMPOTENCY_MISMATCH
    system.refresh_from_db()
    assert system.balance == FUNDS - 5
    assert JournalTransaction.objects.filter(idempotency_key="same").count() == 1


def test_a_key_reused_with_another_amount_and_the_same_reason_is_refused(bank):
    system = _fund_system(bank)
    master = User.objects.get(pk=bank.master_id)
    target = Wallet.objects.filter(kind="user").first()
    services.transfer(system, target, 5, actor=master, reason="payroll", idempotency_key="same")
    with pytest.raises(Invalid):
        services.transfer(system, target, 6, actor=master, reason="payroll", idempotency_key="same")


def test_run_idempotent_refuses_a_key_reused_with_another_body(bank):
    calls = []

    def work() -> HttpResponse:
        calls.append(1)
        return HttpResponse("{}", status=201)

    def send(body: bytes) -> HttpResponse:
        return run_idempotent(
            customer_id=bank.customer_id, key="k1", method="POST", path=TRANSFERS_PATH, body=body, work=work
        )

    assert send(b'{"amount": 1}').status_code == 201
    replay = send(b'{ "amount" : 1 }')  # the same JSON, spelled differently
    assert replay["Idempotent-Replayed"] == "true"
    with pytest.raises(Invalid) as caught:
        send(b'{"amount": 2}')
    assert caught.value.code == ErrorCode.IDEMPOTENCY_MISMATCH
    assert len(calls) == 1


# --- a kill after the commit point: the retry replays, never re-executes (issue 8 §1.1) ----------


class _Killed(BaseException):
    """Stands for kill -9: not an Exception, so no handler of the request turns it into an answer."""


def _die() -> None:
    raise _Killed()


def _dying(fn: Callable[..., object]) -> Callable[..., object]:
    """`fn`, after which the process "dies" as soon as the effect is committed: at the commit of the
    request's transaction, or at once if `fn` committed on its own (the zombie of issue 8)."""

    def wrapper(*args: object, **kwargs: object) -> object:
        result = fn(*args, **kwargs)
        from django.db import transaction

        transaction.on_commit(_die)
        return result

    return wrapper


@pytest.fixture
def sender_api(client, world):
    from kontor.access.services import create_api_key
    from kontor.ledger.posting import pool_wallet
    from kontor.messaging.models import RateCardEntry
    from tests.api.conftest import Api
    from tests.messaging.conftest import fund

    # A transactional test may follow one that flushed what the migrations seed.
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    fund(pool_wallet(world.acme.account), 100)
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="T", perms=["send_sms"])
    return Api(client, issued.secret)


def _killed_then_retried(api, monkeypatch, target: object, name: str, path: str, body: dict) -> tuple:
    from kontor.messaging.models import Message

    api.headers["Idempotency-Key"] = f"kill-{name}"
    monkeypatch.setattr(target, name, _dying(getattr(target, name)))
    with pytest.raises(_Killed):
        refused = api.post(path, body)
        pytest.fail(f"the request was answered instead: {refused.status_code} {refused.content[:300]!r}")
    monkeypatch.undo()
    messages = Message.objects.count()
    again = api.post(path, body)
    assert again.status_code == 201, again.content
    assert again["Idempotent-Replayed"] == "true", "the retry after the kill re-executed instead of replaying"
    assert Message.objects.count() == messages
    return again, messages


@pytest.mark.django_db(transaction=True)
def test_a_batch_killed_after_its_commit_is_replayed_not_sent_again(sender_api, world, monkeypatch):
    from kontor.ledger.posting import pool_wallet
    from kontor.messaging.services import messages as messaging

    items = [{"to": f"+4670123456{i}", "text": f"n{i}"} for i in range(2)]
    again, messages = _killed_then_retried(
        sender_api, monkeypatch, messaging, "send_batch", "/messages/batch", {"messages": items}
    )
    assert messages == 2 and again.json()["count"] == 2
    assert pool_wallet(world.acme.account).balance == 98


@pytest.mark.django_db(transaction=True)
def test_a_campaign_killed_after_its_commit_is_replayed_not_sent_again(sender_api, world, monkeypatch):
    from kontor.ledger.posting import pool_wallet
    from kontor.messaging.models import Campaign
    from kontor.messaging.services import campaigns

    body = {"name": "Kill", "text": "Hello", "numbers": ["+46701234561", "+46701234562", "+46701234563"]}
    again, messages = _killed_then_retried(
        sender_api, monkeypatch, campaigns, "send_campaign", "/messages/campaigns", body
    )
    assert messages == 3 and Campaign.objects.count() == 1
    assert again.json()["id"] == Campaign.objects.get().pk
    assert pool_wallet(world.acme.account).balance == 97


@pytest.mark.django_db(transaction=True)
def test_a_single_send_killed_after_its_commit_is_replayed(sender_api, world, monkeypatch):
    from kontor.messaging.services import messages as messaging

    body = {"to": "+46701234567", "text": "Once"}
    _, messages = _killed_then_retried(sender_api, monkeypatch, messaging, "send_message", "/messages", body)
    assert messages == 1


@pytest.mark.django_db(transaction=True)
def test_a_transfer_killed_after_its_commit_is_replayed(client, world, monkeypatch):
    from kontor.ledger import api as ledger_api
    from kontor.ledger.posting import pool_wallet, system_wallet
    from tests.messaging.conftest import fund

    system = fund(system_wallet(world.acme.customer), 50)
    target = pool_wallet(world.acme.account)
    client.force_login(world.acme.master)
    path = "/api/v1/credits/transfers"
    body = {"from_wallet_id": system.pk, "to_wallet_id": target.pk, "amount": 7}
    headers = {"Idempotency-Key": "kill-transfer"}
    monkeypatch.setattr(ledger_api.services, "transfer", _dying(ledger_api.services.transfer))
    with pytest.raises(_Killed):
        client.post(path, body, content_type="application/json", headers=headers)
    monkeypatch.undo()
    again = client.post(path, body, content_type="application/json", headers=headers)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert JournalTransaction.objects.filter(idempotency_key="kill-transfer").count() == 1
    system.refresh_from_db()
    assert system.balance == 43


@pytest.mark.django_db(transaction=True)
def test_a_crash_before_the_commit_leaves_no_claim_so_the_retry_does_the_work(sender_api, world, monkeypatch):
    """Killed before the commit point: the claim rolls back with the work, no zombie blocks the retry."""
    from kontor.core.models import IdempotencyRecord
    from kontor.messaging.models import Message
    from kontor.messaging.services import messages as messaging

    original = messaging.send_batch

    def crashing(*args: object, **kwargs: object) -> object:
        original(*args, **kwargs)
        raise _Killed()

    sender_api.headers["Idempotency-Key"] = "crash-before-commit"
    monkeypatch.setattr(messaging, "send_batch", crashing)
    items = [{"to": "+46701234561", "text": "x"}]
    with pytest.raises(_Killed):
        sender_api.post("/messages/batch", {"messages": items})
    monkeypatch.undo()
    assert not Message.objects.exists()
    assert not IdempotencyRecord.objects.filter(key="crash-before-commit").exists()
    first = sender_api.post("/messages/batch", {"messages": items})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    assert Message.objects.count() == 1


def test_a_refusal_is_stored_with_the_claim_but_the_works_writes_roll_back(bank):
    from kontor.core.models import IdempotencyRecord

    master = User.objects.get(pk=bank.master_id)
    calls = []

    def refused() -> HttpResponse:
        calls.append(1)
        IdempotencyRecord.objects.create(customer_id=bank.customer_id, key="side-effect", request_hash="x")
        raise Invalid.field("amount", "Enter at least 1 credit.")

    def send() -> HttpResponse:
        return run_idempotent(
            customer_id=master.customer_id, key="refused", method="POST", path=TRANSFERS_PATH, body=b"{}", work=refused
        )

    first = send()
    assert first.status_code == 422 and "Idempotent-Replayed" not in first
    again = send()
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert json.loads(again.content) == json.loads(first.content)
    assert calls == [1]
    assert not IdempotencyRecord.objects.filter(key="side-effect").exists()


def test_a_server_error_answer_rolls_back_the_work_and_the_claim(bank):
    from kontor.core.models import IdempotencyRecord

    def broken() -> HttpResponse:
        IdempotencyRecord.objects.create(customer_id=bank.customer_id, key="half-done", request_hash="x")
        return HttpResponse("{}", status=500)

    response = run_idempotent(
        customer_id=bank.customer_id, key="five-hundred", method="POST", path=TRANSFERS_PATH, body=b"{}", work=broken
    )
    assert response.status_code == 500
    assert not IdempotencyRecord.objects.filter(key__in=["half-done", "five-hundred"]).exists()


# --- an invoice purchase has no outside effect: claim, credits, invoice and answer are one commit ---

BILLING = {"company": "Acme AB", "contact_name": "Mia Master", "email": "billing@acme.test"}


@pytest.fixture
def prices() -> None:
    from kontor.billing.defaults import ensure_default_prices

    ensure_default_prices()  # a transactional test may follow one that flushed what the migrations seed


@pytest.mark.django_db(transaction=True)
def test_an_invoice_purchase_killed_after_its_commit_is_replayed(client, world, monkeypatch, prices):
    from kontor.billing import api as billing_api
    from kontor.billing.models import Invoice
    from kontor.ledger.posting import system_wallet

    client.force_login(world.acme.master)
    path = "/api/v1/credits/purchases"
    body = {"quantity": 10, "payment_method": "invoice", "billing_details": BILLING}
    headers = {"Idempotency-Key": "kill-purchase"}
    monkeypatch.setattr(billing_api, "purchase", _dying(billing_api.purchase))
    with pytest.raises(_Killed):
        client.post(path, body, content_type="application/json", headers=headers)
    monkeypatch.undo()
    again = client.post(path, body, content_type="application/json", headers=headers)
    assert again.status_code == 201, again.content
    assert again["Idempotent-Replayed"] == "true", "the retry after the kill bought again instead of replaying"
    assert JournalTransaction.objects.filter(idempotency_key="kill-purchase").count() == 1
    assert Invoice.objects.count() == 1
    assert system_wallet(world.acme.customer).balance == 10


@pytest.mark.django_db(transaction=True)
def test_an_invoice_purchase_crashing_before_its_commit_leaves_no_claim(client, world, monkeypatch, prices):
    """The in-flight record of issue 8's crash test (F3): an invoice purchase cut before its commit left
    a claim that answered 409 to every retry. Now nothing of it survives and the retry buys."""
    from kontor.billing import invoices
    from kontor.core.models import IdempotencyRecord
    from kontor.ledger.posting import system_wallet

    client.force_login(world.acme.master)
    path = "/api/v1/credits/purchases"
    body = {"quantity": 10, "payment_method": "invoice", "billing_details": BILLING}
    headers = {"Idempotency-Key": "crash-purchase"}
    original = invoices.issue_invoice

    def crashing(*args: object, **kwargs: object) -> object:
        original(*args, **kwargs)
        raise _Killed()

    monkeypatch.setattr(invoices, "issue_invoice", crashing)
    with pytest.raises(_Killed):
        answered = client.post(path, body, content_type="application/json", headers=headers)
        pytest.fail(f"the request was answered instead: {answered.status_code} {answered.content[:300]!r}")
    monkeypatch.undo()
    assert not IdempotencyRecord.objects.exists()
    assert not JournalTransaction.objects.filter(idempotency_key="crash-purchase").exists()
    first = client.post(path, body, content_type="application/json", headers=headers)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert system_wallet(world.acme.customer).balance == 10
