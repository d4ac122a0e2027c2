"""Issue 4's "done when" in a real browser, on the demo data: a sender imports contacts with custom
columns (one bad row, then "import only the valid rows"), previews and sends a templated campaign to the
phonebook through the simulator, sees delivery reports arrive, finds a message by mobile number and
exports it; inbound messages to the shared short code land by keyword, or with the unmatched owner."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from kontor.access.models import Role, User
from kontor.access.perms import BUILTIN_ROLES
from kontor.billing.defaults import ensure_default_prices
from kontor.contacts.models import Contact, Phonebook
from kontor.ledger.posting import user_wallet
from kontor.ledger.verify import verify
from kontor.messaging.delivery.inbound import receive_inbound
from kontor.messaging.models import Campaign, Direction, Message, RateCardEntry
from kontor.tenancy.models import Membership
from tests.browser.test_credits_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Fictional Swedish mobile numbers; the demo phonebook already holds +46701740605 to ...609.
CSV_TEXT = (
    "phone,Name,Surname,Customer number\n"
    "+46701740610,Frida,Nord,C-2001\n"
    "not a number,Gustav,Syd,C-2002\n"
    "070-174 06 11,Hanna,Ost,C-2003\n"
)


def test_sender_imports_sends_a_campaign_sees_reports_and_inbound_lands_by_keyword(
    page: Page, site: str, tmp_path: Path
) -> None:
    call_command("load_demo")
    ensure_default_prices()
    # A transactional test flushes the rows the migrations seeded: put the default rate back.
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    sender = User.objects.get(email="sender@nordlys.demo")
    book = Phonebook.objects.get(name="Newsletter", account__name="Marketing")
    wallet = user_wallet(sender)
    start_balance = wallet.balance
    assert start_balance > 0  # allocated by the demo

    # Contacts → Newsletter → Import CSV: the bad row blocks the import until the user chooses.
    sign_in(page, site, sender.email)
    page.get_by_role("link", name="Contacts").first.click()
    page.get_by_role("link", name="Newsletter").click()
    page.get_by_role("link", name="Import CSV").click()
    upload = tmp_path / "newsletter.csv"
    upload.write_text(CSV_TEXT, encoding="utf-8")
    page.set_input_files("#id_file", str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.locator("#import-report")
    expect(report).to_contain_text("1 not valid")
    expect(page.locator("#import-errors")).to_contain_text("not a number")
    assert Contact.objects.filter(phonebook=book).count() == 5  # nothing imported yet
    page.get_by_role("button", name="Import only the 2 valid rows").click()
    expect(page.locator("main")).to_contain_text("2 added")
    assert Contact.objects.filter(phonebook=book).count() == 7
    hanna = Contact.objects.get(phonebook=book, phone="+46701740611")  # a national number, read as Swedish
    assert "Hanna" in hanna.values.values()

    # Campaigns → New campaign: preview shows recipients and credits, confirm sends.
    page.get_by_role("link", name="Campaigns").first.click()
    page.get_by_role("link", name="New campaign").click()
    page.fill("#id_name", "Spring deal")
    page.select_option("#id_phonebook", label="Newsletter")
    page.fill("#id_text", "Hi {Name}, your number {Customer number}")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-recipients")).to_have_text("7")
    expect(page.locator("#preview-credits")).to_contain_text(f"7 of {start_balance} available")
    expect(page.locator(".samples")).to_contain_text("Hi Astrid, your number C-1001")
    page.get_by_role("button", name="Confirm and send").click()

    # The campaign page: the simulator's delivery reports arrive (the test task backend runs at once).
    expect(page.locator("h1")).to_contain_text("Spring deal")
    delivered = page.locator('#campaign-counts dd[data-status="delivered"]')
    expect(delivered).not_to_have_text("0")
    assert int(delivered.inner_text()) > 0
    campaign = Campaign.objects.get(name="Spring deal")
    sent = Message.objects.filter(campaign_id=campaign.pk)
    assert sent.count() == 7
    assert sent.get(to_number="+46701740611").text == "Hi Hanna, your number C-2003"
    wallet.refresh_from_db()
    assert wallet.balance == start_balance - 7  # reserved, then settled on acceptance

    # Exporting needs 'Export transactions', which the built-in Sender lacks: their master gives it to them.
    exporter = Role.objects.create(
        customer=sender.customer,
        name="Sender who exports",
        perms=[*map(str, BUILTIN_ROLES["sender"][2]), "export_transactions"],
    )
    Membership.objects.filter(user=sender).update(role=exporter)
    # Transactions: find one message by mobile number, and export what was found.
    page.get_by_role("link", name="Transactions").first.click()
    page.fill("#id_mobile", "+46701740610")
    page.get_by_role("button", name="Filter").click()
    results = page.locator("#results")
    expect(results).to_contain_text("+46701740610")
    expect(results).not_to_contain_text("+46701740605")
    # The export link carries the filter of the page as it was loaded: load it with the filter.
    page.goto(f"{site}/messages/?mobile=%2B46701740610")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert [r["to"] for r in rows] == ["+46701740610"]
    assert rows[0]["text"] == "Hi Frida, your number C-2001"

    # Inbound on the shared short code: a keyword goes to its account, anything else to the unmatched owner.
    deal = receive_inbound(from_number="+46701740605", to="72000", text="DEAL yes", connector="test")
    hello = receive_inbound(from_number="+46701740606", to="72000", text="hello", connector="test")
    assert deal.routed and deal.account is not None and deal.account.name == "Marketing"
    assert hello.routed and hello.account is not None and hello.account.name == "Customer care"
    inbound = Message.objects.filter(direction=Direction.IN)
    assert {(m.account.name, m.text) for m in inbound} == {("Marketing", "DEAL yes"), ("Customer care", "hello")}
    assert verify() == []
