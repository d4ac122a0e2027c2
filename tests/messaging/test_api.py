"""The messages API: send (idempotent), batch, search (Support: mobile only), details, CSV export."""

from __future__ import annotations

import pytest

from kontor.access.services import create_api_key
from kontor.core.models import IdempotencyRecord
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.models import Message
from tests.api.conftest import Api, problem
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db


def key_api(client, cw, perms, user=None):
    issued = create_api_key(cw.account, actor=user or cw.master, name="T", perms=perms)
    return Api(client, issued.secret)


@pytest.fixture
def api(client, world, pool):
    return key_api(client, world.acme, ["send_sms", "search_transactions", "troubleshoot_transactions"])


def test_send_and_get(api, world, run_commits):
    with run_commits():
        response = api.post("/messages", {"to": "0701234567", "text": "Hi there"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["to_number"] == "+46701234567" and body["credits"] == 1 and body["encoding"] == "gsm7"
    assert body["user_id"] == world.acme.master.pk
    detail = api.get(f"/messages/{body['id']}").json()
    assert detail["status"] == "delivered" and detail["connector"] == "simulator"
    assert [e["status"] for e in detail["events"]] == ["queued", "submitted", "accepted", "delivered"]
    assert verify() == []


def test_send_errors(api, world):
    body = problem(api.post("/messages", {"to": "nope", "text": "x"}), 422, "validation_error")
    assert "to" in body["errors"]
    problem(api.post("/messages", {"to": "+46701234567", "text": ""}), 422, "validation_error")
    problem(api.post("/messages", {"to": "+46701234567", "text": "x", "bogus": 1}), 422, "validation_error")
    problem(
        api.post("/messages", {"to": "+46701234567", "text": "x", "on_behalf_of_id": world.globex.master.pk}),
        422,
        "validation_error",
    )
    pool = pool_wallet(world.acme.account)
    body = problem(api.post("/messages", {"to": "+46701234567", "text": "ж" * 500}), 422, "validation_error")
    assert "segments" in body["errors"]["text"][0]
    assert not Message.objects.exists() and pool.balance == 100


def test_insufficient_credits_is_409(client, world):
    api = key_api(client, world.acme, ["send_sms"])
    body = problem(api.post("/messages", {"to": "+46701234567", "text": "x"}), 409, "insufficient_credits")
    assert "0 available, 1 needed" in body["detail"]
    assert not Message.objects.exists()


def test_office_hours_refusal_has_next_allowed(api, world, monkeypatch):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    account = world.acme.account
    account.office_hours_only = True
    account.save()
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC))  # Sunday
    body = problem(api.post("/messages", {"to": "+46701234567", "text": "x"}), 409, "conflict")
    assert dt.datetime.fromisoformat(body["next_allowed"]) == dt.datetime(
        2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")
    )
    response = api.post("/messages", {"to": "+46701234567", "text": "x", "office_hours": "schedule"})
    assert response.status_code == 201 and response.json()["status"] == "scheduled"


def test_idempotency(api, world):
    headers = {"Idempotency-Key": "abc-123"}
    api.headers.update(headers)
    first = api.post("/messages", {"to": "+46701234567", "text": "Once"})
    again = api.post("/messages", {"to": "+46701234567", "text": "Once"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    problem(api.post("/messages", {"to": "+46701234567", "text": "Other"}), 422, "idempotency_key_reused")
    assert Message.objects.count() == 1 and pool_wallet(world.acme.account).balance == 99
    assert IdempotencyRecord.objects.filter(key="abc-123").count() == 1


def test_batch(api, world, run_commits):
    items = [{"to": "+46701234567", "text": f"n{i}"} for i in range(3)]
    bad = problem(
        api.post("/messages/batch", {"messages": [*items, {"to": "x", "text": "y"}]}), 422, "validation_error"
    )
    assert "messages.3.to" in bad["errors"]
    assert not Message.objects.exists()
    with run_commits():
        response = api.post("/messages/batch", {"messages": items})
    assert response.status_code == 201
    assert response.json()["count"] == 3 and response.json()["credits"] == 3
    assert JournalTransaction.objects.filter(kind="reservation", reference__startswith="batch:").count() == 1
    assert set(Message.objects.values_list("status", flat=True)) == {"delivered"}
    assert verify() == []
    problem(api.post("/messages/batch", {"messages": [items[0]] * 1001}), 422, "validation_error")


def test_search_scoped_and_filtered(api, client, world, run_commits):
    fund(pool_wallet(world.globex.account), 5)
    from kontor.messaging.services.messages import send_message

    with run_commits():
        send_message(world.acme.account, actor=world.acme.master, to="+46701234567", text="Mine")
        send_message(world.acme.account, actor=world.acme.master, to="+46709999999", text="Fail #fail")
        foreign = send_message(world.globex.account, actor=world.globex.master, to="+46701234567", text="Theirs")
    texts = [m["text"] for m in api.get("/messages").json()["items"]]
    assert sorted(texts) == ["Fail #fail", "Mine"]
    assert [m["text"] for m in api.get("/messages", {"mobile": "070-123 45 67"}).json()["items"]] == ["Mine"]
    assert [m["text"] for m in api.get("/messages", {"status": "failed"}).json()["items"]] == ["Fail #fail"]
    assert api.get("/messages", {"q": "MINE", "direction": "out"}).json()["count"] == 1
    problem(api.get(f"/messages/{foreign.pk}"), 404, "not_found")
    problem(api.get("/messages/export.csv"), 403, "permission_denied")  # searching is not exporting
    exporter = key_api(client, world.acme, ["search_transactions", "export_transactions"])
    csv_text = b"".join(exporter.get("/messages/export.csv", {"status": "failed"}).streaming_content).decode()
    assert "Fail #fail" in csv_text and "Mine" not in csv_text and "Theirs" not in csv_text


def test_support_key_searches_by_mobile_only(client, world, pool, run_commits):
    from kontor.messaging.services.messages import send_message

    with run_commits():
        mine = send_message(world.acme.account, actor=world.acme.master, to="+46701234567", text="Mine")
    support = key_api(client, world.acme, ["search_by_mobile"])
    problem(support.get("/messages"), 422, "validation_error")
    problem(support.get("/messages", {"mobile": "+46701234567", "status": "delivered"}), 403, "permission_denied")
    assert support.get("/messages", {"mobile": "+46701234567"}).json()["count"] == 1
    problem(support.get(f"/messages/{mine.pk}"), 403, "permission_denied")
    problem(support.get("/messages/export.csv"), 403, "permission_denied")
    problem(support.post("/messages", {"to": "+46701234567", "text": "x"}), 403, "permission_denied")


def test_details_without_troubleshoot_hide_technical(client, world, pool, run_commits):
    from kontor.messaging.services.messages import send_message

    with run_commits():
        mine = send_message(world.acme.account, actor=world.acme.master, to="+46701234567", text="Mine")
    plain = key_api(client, world.acme, ["search_transactions"])
    body = plain.get(f"/messages/{mine.pk}").json()
    assert body["status"] == "delivered" and body["events"] is None and body["downstream_id"] is None


def test_times_are_iso(api):
    body = api.post("/messages", {"to": "+46701234567", "text": "x"}).json()
    assert "T" in body["created_at"]
