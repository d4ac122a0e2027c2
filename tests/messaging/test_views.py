"""Send SMS, the transaction search (tenant- and account-scoped; Support by mobile only), details, CSV,
and the staff rate card."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from kontor.audit.models import AuditEntry
from kontor.ledger.posting import pool_wallet
from kontor.messaging.models import Message, RateCardEntry, Status
from kontor.messaging.services.messages import send_message
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db

SEND = "/messages/send/"
LIST = "/messages/"
EXPORT = "/messages/export.csv"


@pytest.fixture
def traffic(world, pool, run_commits):
    """Two Acme Sales messages, one in Acme's other account, one at Globex."""
    acme, globex = world.acme, world.globex
    fund(pool_wallet(acme.other_account), 10)
    fund(pool_wallet(globex.account), 10)
    with run_commits():
        a = send_message(acme.account, actor=acme.users["sender"], to="+46701234567", text="Hello Anna")
        b = send_message(acme.account, actor=acme.users["sender"], to="+46709999999", text="Offer #undeliverable")
        other = send_message(acme.other_account, actor=acme.users["administrator"], to="+46701234567", text="Desk")
        foreign = send_message(globex.account, actor=globex.users["sender"], to="+46701234567", text="Globex hi")
    return a, b, other, foreign


def test_send_page_sends_and_shows_result(client, world, pool, run_commits):
    client.force_login(world.acme.users["sender"])
    page = client.get(SEND)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Kontor" in html and "cannot receive messages or replies" in html and 'name="office_hours"' not in html
    key = page.context["form"].initial["idempotency_key"]
    with run_commits():
        response = client.post(SEND, {"to": "0701234567", "text": "Hej från Acme", "idempotency_key": key})
    assert response.status_code == 302
    message = Message.objects.get()
    assert response["Location"] == reverse("messaging:sent", args=[message.pk])
    assert message.status == Status.DELIVERED and message.to_number == "+46701234567"
    assert "delivered" in client.get(response["Location"]).content.decode()
    # The same form submitted again (double click) sends nothing more.
    client.post(SEND, {"to": "0701234567", "text": "Hej från Acme", "idempotency_key": key})
    assert Message.objects.count() == 1 and pool_wallet(world.acme.account).balance == 99


def test_send_page_errors_inline_and_change_nothing(client, world, pool):
    client.force_login(world.acme.users["sender"])
    response = client.post(SEND, {"to": "12", "text": "x"})
    assert response.status_code == 200 and "not a valid phone number" in response.content.decode()
    response = client.post(SEND, {"to": "+46701234567", "text": "€" * 600})
    assert "too long" in response.content.decode()
    pool_wallet(world.acme.account)
    RateCardEntry.objects.filter(prefix="46").update(credits_per_segment=500)
    response = client.post(SEND, {"to": "+46701234567", "text": "Hi"})
    assert "insufficient credits: 100 available, 500 needed" in response.content.decode()
    assert not Message.objects.exists()


def test_send_page_office_hours_choice(client, world, pool):
    account = world.acme.account
    account.office_hours_only = True
    account.save()
    client.force_login(world.acme.users["sender"])
    assert 'name="office_hours"' in client.get(SEND).content.decode()


def test_counter_partial(client, world):
    client.force_login(world.acme.users["sender"])
    html = client.get("/messages/send/counter/", {"to": "+12025550123", "text": "ж" * 71}).content.decode()
    assert "71 characters" in html and "UCS-2" in html and "<strong>2</strong> segments" in html
    assert "<strong>4</strong> credits" in html


def test_send_needs_permission(client, world):
    client.force_login(world.acme.users["support"])
    assert client.get(SEND).status_code == 403
    assert client.post(SEND, {"to": "+46701234567", "text": "x"}).status_code == 403
    assert not Message.objects.exists()


def test_search_is_account_and_tenant_scoped(client, world, traffic):
    _, _, other, foreign = traffic
    client.force_login(world.acme.users["sender"])
    html = client.get(LIST).content.decode()
    assert "Hello Anna" in html and "Offer" in html
    assert "Desk" not in html and "Globex hi" not in html
    for pk in (other.pk, foreign.pk):
        assert client.get(reverse("messaging:message", args=[pk])).status_code == 404
    filtered = client.get(LIST, {"mobile": "0701234567"}).content.decode()
    assert "Hello Anna" in filtered and "Offer" not in filtered
    assert "Offer" in client.get(LIST, {"status": "failed"}).content.decode()
    assert "Hello Anna" not in client.get(LIST, {"status": "failed"}).content.decode()
    assert "Hello Anna" in client.get(LIST, {"q": "anna", "direction": "out"}).content.decode()
    assert "Hello Anna" not in client.get(LIST, {"direction": "in"}).content.decode()


def test_support_searches_by_mobile_only(client, world, traffic):
    client.force_login(world.acme.users["support"])
    page = client.get(LIST)
    assert page.status_code == 200
    form = page.context["filter"].form
    assert list(form.fields) == ["mobile"]
    html = page.content.decode()
    assert "Hello Anna" not in html and "Offer" not in html
    html = client.get(LIST, {"mobile": "+46701234567", "status": "failed", "q": "zzz"}).content.decode()
    assert "Hello Anna" in html and "Offer" not in html and "Details" not in html
    assert client.get(reverse("messaging:message", args=[traffic[0].pk])).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_details_technical_only_with_troubleshoot(client, world, traffic):
    a = traffic[0]
    client.force_login(world.acme.users["sender"])
    html = client.get(reverse("messaging:message", args=[a.pk])).content.decode()
    assert "Hello Anna" in html and "Downstream id" not in html
    client.force_login(world.acme.users["technician"])
    html = client.get(reverse("messaging:message", args=[a.pk])).content.decode()
    assert "Downstream id" in html and a.downstream_id in html and "simulator" in html
    for status in ("queued", "submitted", "accepted", "delivered"):
        assert f"<td>{status}</td>" in html


def test_csv_export_has_filtered_rows(client, world, traffic):
    client.force_login(world.acme.users["administrator"])  # 'Export transactions'; a sender lacks it
    response = client.get(EXPORT, {"status": "failed"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert [r["text"] for r in rows] == ["Offer #undeliverable"]
    assert (
        rows[0]["status"] == "failed" and rows[0]["to"].lstrip("'") == "+46709999999"
    )  # the shared CSV guard quotes a leading +
    everything = b"".join(client.get(EXPORT).streaming_content).decode()
    assert "Hello Anna" in everything and "Desk" not in everything and "Globex" not in everything


def test_sent_page_only_for_own_messages(client, world, traffic):
    client.force_login(world.acme.users["office_credit_manager"])
    assert client.get(reverse("messaging:sent", args=[traffic[0].pk])).status_code == 404


def test_staff_rate_card(client, world):
    client.force_login(world.staff["billing"])
    assert "Default (any destination)" in client.get("/messages/rates/").content.decode()
    response = client.post(
        "/messages/rates/add/", {"prefix": "4670", "country": "se", "operator": "Telia", "credits_per_segment": 3}
    )
    assert response.status_code == 302
    entry = RateCardEntry.objects.get(prefix="4670")
    assert entry.country == "SE" and entry.credits_per_segment == 3
    assert AuditEntry.objects.filter(action="rate_card.save").count() == 1
    dup = client.post("/messages/rates/add/", {"prefix": "4670", "credits_per_segment": 1})
    assert dup.status_code == 200 and "already an entry" in dup.content.decode()
    bad = client.post("/messages/rates/add/", {"prefix": "46x", "credits_per_segment": 0})
    assert bad.status_code == 200 and RateCardEntry.objects.count() == 5
    client.post(f"/messages/rates/{entry.pk}/", {"prefix": "4670", "credits_per_segment": 4})
    entry.refresh_from_db()
    assert entry.credits_per_segment == 4
    default = RateCardEntry.objects.get(prefix="")
    client.post(f"/messages/rates/{default.pk}/delete/")
    assert RateCardEntry.objects.filter(prefix="").exists()
    client.post(f"/messages/rates/{entry.pk}/delete/")
    assert not RateCardEntry.objects.filter(prefix="4670").exists()
    assert AuditEntry.objects.filter(action="rate_card.delete").count() == 1


def test_rate_card_needs_billing_staff(client, world):
    client.force_login(world.staff["csr"])
    assert client.get("/messages/rates/").status_code == 403
    client.force_login(world.acme.master)
    assert client.get("/messages/rates/").status_code == 403
