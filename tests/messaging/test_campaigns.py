"""Campaigns: preview, refusals before anything is written, fan-out with reservations, office hours,
web pages (preview → confirm → detail with polling) and the API (idempotent)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kontor.access.services import create_api_key
from kontor.audit.models import AuditEntry
from kontor.contacts.services import add_contact, create_phonebook, opt_out
from kontor.core.errors import Invalid
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import InsufficientCredits, hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.models import Campaign, Message, RateCardEntry, Status
from kontor.messaging.services.campaigns import preview_campaign, send_campaign
from kontor.messaging.services.messages import OutsideOfficeHours
from tests.api.conftest import Api, problem
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db

STO = ZoneInfo("Europe/Stockholm")
TEXT = "Hi {Name} {surname}!"


def at(monkeypatch, when):
    monkeypatch.setattr(timezone, "now", lambda: when)


@pytest.fixture
def book(world):
    """Acme Sales phonebook: three contacts with names, and a fourth that has opted out."""
    account, master = world.acme.account, world.acme.master
    pb = create_phonebook(account, actor=master, name="Customers")
    for phone, first, last in [
        ("0701000001", "Anna", "Berg"),
        ("0701000002", "Bo", "Ek"),
        ("0701000003", "Cia", ""),
        ("0701000004", "Dan", "Opt"),
    ]:
        add_contact(pb, actor=master, phone=phone, values={"Name": first, "Surname": last})
    opt_out(account, "+46701000004", source="manual", actor=master)
    return pb


def nothing_written(world, balance):
    assert not Campaign.objects.exists() and not Message.objects.exists()
    assert not JournalTransaction.objects.filter(kind="reservation").exists()
    assert pool_wallet(world.acme.account).balance == balance
    assert not AuditEntry.objects.filter(action="campaign.send").exists()


def test_unknown_column_refused_before_anything(world, pool, book):
    for call in (preview_campaign, lambda a, **kw: send_campaign(a, actor=world.acme.master, name="X", **kw)):
        with pytest.raises(Invalid) as exc:
            call(world.acme.account, text="Hi {Nickname}", phonebook=book)
        assert "Unknown column {Nickname}" in exc.value.fields["text"][0]
        assert "Name, Surname" in exc.value.fields["text"][0]
    nothing_written(world, 100)


def test_preview_counts_segments_credits_and_skips_opt_outs(world, pool, book):
    RateCardEntry.objects.create(prefix="467010000", country="SE", operator="Dear", credits_per_segment=3)
    p = preview_campaign(world.acme.account, text=TEXT + " é€" + "x" * 60, phonebook=book)
    # "€" is GSM-7 (extension), so 2 chars; 70+ characters of GSM-7 stay 1 segment below 160.
    assert p.recipients == 3 and p.skipped_opted_out == 1
    assert p.encoding == "gsm7" and p.segments_total == 3 and p.credits_total == 9
    assert [to for to, _ in p.sample_renders] == ["+46701000001", "+46701000002", "+46701000003"]
    assert p.sample_renders[0][1].startswith("Hi Anna Berg!") and p.sample_renders[2][1].startswith("Hi Cia !")
    assert p.office_hours.allowed
    ucs = preview_campaign(world.acme.account, text="Привет {Name}", phonebook=book)
    assert ucs.encoding == "ucs2"
    nothing_written(world, 100)


def test_preview_numbers_list(world, pool):
    opt_out(world.acme.account, "+46701000009", source="manual", actor=world.acme.master)
    p = preview_campaign(
        world.acme.account, text="Sale!", numbers=["0701000008", "+46 70 100 00 08", "0701000009", "+12025550123"]
    )
    assert (p.recipients, p.skipped_opted_out, p.credits_total) == (2, 1, 3)  # +1 costs 2 per segment
    with pytest.raises(Invalid) as exc:
        preview_campaign(world.acme.account, text="Sale!", numbers=["0701000008", "nonsense"])
    assert "line 2" in exc.value.fields["numbers"][0]
    with pytest.raises(Invalid) as exc:
        preview_campaign(world.acme.account, text="Hi {Name}", numbers=["0701000008"])
    assert "only with a phonebook" in exc.value.fields["text"][0]
    with pytest.raises(Invalid) as exc:
        preview_campaign(world.acme.account, text="Sale!")
    assert "phonebook" in exc.value.fields


def test_insufficient_credits_refuses_with_numbers(world, book):
    fund(pool_wallet(world.acme.account), 2)
    with pytest.raises(InsufficientCredits) as exc:
        send_campaign(world.acme.account, actor=world.acme.master, name="Big", text=TEXT, phonebook=book)
    assert "insufficient credits: 2 available, 3 needed" in exc.value.message
    nothing_written(world, 2)


def test_campaign_renders_reserves_and_delivers(world, pool, book, run_commits):
    with run_commits():
        campaign = send_campaign(
            world.acme.account, actor=world.acme.users["sender"], name="Spring", text=TEXT, phonebook=book
        )
        assert pool_wallet(world.acme.account).balance == 97
        assert hold_wallet(world.acme.customer).balance == 3
    assert (campaign.recipients_count, campaign.credits_total, campaign.status) == (3, 3, "sent")
    messages = Message.objects.filter(campaign_id=campaign.pk).order_by("to_number")
    assert [m.text for m in messages] == ["Hi Anna Berg!", "Hi Bo Ek!", "Hi Cia !"]
    assert {m.status for m in messages} <= {Status.ACCEPTED, Status.DELIVERED}
    assert not Message.objects.filter(to_number="+46701000004").exists()
    # One reservation journal for the whole campaign (fanout.py); settlement stays per message.
    assert JournalTransaction.objects.filter(kind="reservation").get().reference == f"campaign:{campaign.pk}"
    assert hold_wallet(world.acme.customer).balance == 0
    entry = AuditEntry.objects.get(action="campaign.send")
    assert entry.after["recipients"] == 3 and entry.after["skipped_opted_out"] == 1
    assert verify() == []


def office_account(world):
    account = world.acme.account
    account.office_hours_only = True
    account.save()
    return account


def test_office_hours_weekend_refused_or_scheduled(world, pool, book, monkeypatch):
    account = office_account(world)
    at(monkeypatch, dt.datetime(2026, 11, 21, 12, 0, tzinfo=STO))  # Saturday
    p = preview_campaign(account, text=TEXT, phonebook=book)
    assert not p.office_hours.allowed and p.office_hours.next_allowed == dt.datetime(2026, 11, 23, 10, tzinfo=STO)
    with pytest.raises(OutsideOfficeHours) as exc:
        send_campaign(account, actor=world.acme.master, name="W", text=TEXT, phonebook=book)
    assert exc.value.next_allowed == dt.datetime(2026, 11, 23, 10, tzinfo=STO)
    nothing_written(world, 100)
    campaign = send_campaign(
        account, actor=world.acme.master, name="W", text=TEXT, phonebook=book, office_hours="schedule"
    )
    assert campaign.status == "scheduled" and campaign.scheduled_for == dt.datetime(2026, 11, 23, 10, tzinfo=STO)
    rows = Message.objects.filter(campaign_id=campaign.pk)
    assert rows.count() == 3 and {m.status for m in rows} == {Status.SCHEDULED}
    assert pool_wallet(account).balance == 97


def test_foreign_phonebook_refused(world, pool, book):
    foreign = create_phonebook(world.globex.account, actor=world.globex.master, name="Theirs")
    other_account = create_phonebook(world.acme.other_account, actor=world.acme.master, name="Desk")
    for pb in (foreign, other_account):
        with pytest.raises(Invalid) as exc:
            preview_campaign(world.acme.account, text="Hi", phonebook=pb)
        assert exc.value.fields["phonebook"] == ["No such phonebook."]
    nothing_written(world, 100)


# --- web ------------------------------------------------------------------------------------------


def test_web_preview_confirm_detail(world, pool, book, client, run_commits):
    client.force_login(world.acme.users["sender"])
    url = reverse("messaging:campaign_new")
    page = client.get(url)
    assert page.status_code == 200 and "{Surname}" in page.content.decode()
    form = {"name": "Spring", "phonebook": book.pk, "text": TEXT, "numbers": ""}
    preview = client.post(url, {**form, "preview": "1"})
    body = preview.content.decode()
    assert preview.status_code == 200 and "Confirm and send" in body
    assert 'id="preview-recipients">3<' in body and 'id="preview-skipped">1<' in body
    assert "3 of 100 available" in body and "Hi Anna Berg!" in body
    assert not Message.objects.exists()
    with run_commits():
        sent = client.post(url, {**form, "confirm": "1"})
    campaign = Campaign.objects.get()
    assert sent.status_code == 302 and sent["Location"] == reverse("messaging:campaign_detail", args=[campaign.pk])
    detail = client.get(sent["Location"])
    assert detail.status_code == 200 and "Spring" in detail.content.decode()
    counts = detail.context["counts"]
    assert counts["delivered"] + counts["accepted"] == 3
    assert client.get(reverse("messaging:campaigns")).status_code == 200


def test_web_polls_while_active_and_refuses_bad_input(world, pool, book, client, monkeypatch):
    client.force_login(world.acme.master)
    url = reverse("messaging:campaign_new")
    bad = client.post(url, {"name": "X", "phonebook": book.pk, "text": "Hi {Nick}", "confirm": "1"})
    assert bad.status_code == 200 and "Unknown column {Nick}" in bad.content.decode()
    foreign = create_phonebook(world.globex.account, actor=world.globex.master, name="Theirs")
    bad = client.post(url, {"name": "X", "phonebook": foreign.pk, "text": "Hi", "confirm": "1"})
    assert bad.status_code == 200 and bad.context["form"].errors["phonebook"]
    nothing_written(world, 100)
    office_account(world)
    at(monkeypatch, dt.datetime(2026, 11, 21, 12, 0, tzinfo=STO))
    preview = client.post(url, {"name": "W", "phonebook": book.pk, "text": TEXT, "preview": "1"})
    assert 'type="radio"' in preview.content.decode() and "Monday 2026-11-23 10:00" in preview.content.decode()
    refused = client.post(url, {"name": "W", "phonebook": book.pk, "text": TEXT, "confirm": "1"})
    assert 'type="radio"' in refused.content.decode() and "Monday 2026-11-23 10:00" in refused.content.decode()
    nothing_written(world, 100)
    client.post(url, {"name": "W", "phonebook": book.pk, "text": TEXT, "office_hours": "schedule", "confirm": "1"})
    campaign = Campaign.objects.get()
    partial = client.get(reverse("messaging:campaign_detail", args=[campaign.pk]), headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in partial.content.decode() and "<h1>" not in partial.content.decode()
    other = Campaign.objects.create(customer=world.globex.customer, account=world.globex.account, name="G", text="G")
    assert client.get(reverse("messaging:campaign_detail", args=[other.pk])).status_code == 404


def test_web_needs_send_permission(world, client):
    client.force_login(world.acme.users["support"])
    assert client.get(reverse("messaging:campaign_new")).status_code == 403


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture
def api(client, world, pool):
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="T", perms=["send_sms"])
    return Api(client, issued.secret)


def test_api_preview_send_list_get_idempotent(api, world, book, run_commits):
    r = api.post("/messages/campaigns/preview", {"text": TEXT, "phonebook_id": book.pk})
    assert r.status_code == 200, r.content
    assert r.json()["credits_total"] == 3 and r.json()["credits_available"] == 100
    body = {"name": "Api", "text": TEXT, "phonebook_id": book.pk}
    api.headers["Idempotency-Key"] = "camp-1"
    with run_commits():
        first = api.post("/messages/campaigns", body)
    again = api.post("/messages/campaigns", body)
    assert first.status_code == 201, first.content
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1 and Message.objects.count() == 3
    problem(api.post("/messages/campaigns", {**body, "name": "Other"}), 422, "idempotency_key_reused")
    del api.headers["Idempotency-Key"]
    listed = api.get("/messages/campaigns").json()
    assert listed["count"] == 1 and listed["items"][0]["name"] == "Api"
    detail = api.get(f"/messages/campaigns/{first.json()['id']}").json()
    assert detail["status_counts"]["delivered"] + detail["status_counts"]["accepted"] == 3
    assert api.get("/messages/campaigns/987654321").status_code == 404


def test_api_refusals(api, world, book):
    foreign = create_phonebook(world.globex.account, actor=world.globex.master, name="Theirs")
    r = api.post("/messages/campaigns", {"name": "X", "text": "Hi", "phonebook_id": foreign.pk})
    body = problem(r, 422, "validation_error")
    assert "phonebook_id" in body["errors"]
    body = problem(
        api.post("/messages/campaigns/preview", {"text": "Hi {Nick}", "phonebook_id": book.pk}), 422, "validation_error"
    )
    assert "text" in body["errors"]
    r = api.post(
        "/messages/campaigns",
        {"name": "X", "text": "Hi", "numbers": ["+12025550123", *[f"07010001{i:02d}" for i in range(60)]]},
    )
    assert r.status_code == 201, r.content  # 2 + 60 credits of 100
    body = problem(
        api.post(
            "/messages/campaigns", {"name": "Y", "text": "Hi", "numbers": [f"07020001{i:02d}" for i in range(60)]}
        ),
        409,
        "insufficient_credits",
    )
    assert "38 available, 60 needed" in body["detail"]
    assert Campaign.objects.count() == 1
