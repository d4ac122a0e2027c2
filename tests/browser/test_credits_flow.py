"""Issue 3's "done when" in a real browser, on the demo data: the master user buys system credits with
the test card and downloads the invoice, allocates credits to a sender, the sender passes some to a team
member and is refused the reverse, and the 30-day log shows it all and downloads as CSV."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from kontor.access.models import User
from kontor.billing.defaults import ensure_default_prices
from kontor.ledger.posting import system_wallet, user_wallet
from kontor.ledger.verify import verify
from kontor.ops.management.commands.load_demo import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, site: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{site}/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("summary")).to_be_visible()


def test_master_buys_allocates_and_users_transfer_within_the_rules(page: Page, site: str) -> None:
    call_command("load_demo")
    ensure_default_prices()
    master = User.objects.get(email="master@nordlys.demo")
    sender = User.objects.get(email="sender@nordlys.demo")
    colleague = User.objects.get(email="office-credit-manager@nordlys.demo")  # same team as the sender
    system = system_wallet(master.customer)
    # The demo starts with system credits bought on invoice, some of them already allocated.
    start_system, start_sender = system.balance, user_wallet(sender).balance

    # Purchase system credits with the test card (manual 001, "Purchase").
    sign_in(page, site, master.email)
    page.goto(f"{site}/credits/")
    expect(page.locator("main")).to_contain_text("System")
    page.goto(f"{site}/credits/purchase/?wallet={system.pk}")
    page.fill("#id_quantity", "1000")
    page.fill("#id_company", "Nordlys AB")
    page.check("input[name=payment_method][value=test_card]")
    page.get_by_role("button", name="Proceed").click()
    page.fill("#id_card_number", "4242 4242 4242 4242")
    page.fill("#id_expiry", "12/39")
    page.fill("#id_cvc", "123")
    page.locator("button[name=action][value=pay]").click()
    expect(page.locator("main")).to_contain_text("1000")
    with page.expect_download() as download:
        page.get_by_text("Download Tax Invoice / Receipt").click()
    assert download.value.suggested_filename.endswith(".pdf")
    system.refresh_from_db()
    assert system.balance == start_system + 1000

    # Allocate from the system credits to the sender ("Transfer SMS Credits From This Account").
    page.goto(f"{site}/credits/transfer/?from={system.pk}")
    page.select_option("#id_other", value=str(user_wallet(sender).pk))
    page.fill("#id_amount", "300")
    page.check("#id_agree")
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator("main")).to_contain_text("300")

    # The sender passes credits to a team member; the reverse direction is not offered.
    sign_in(page, site, sender.email)
    mine, theirs = user_wallet(sender), user_wallet(colleague)
    page.goto(f"{site}/credits/transfer/?from={mine.pk}")
    page.select_option("#id_other", value=str(theirs.pk))
    page.fill("#id_amount", "40")
    page.check("#id_agree")
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator("main")).to_contain_text("40")
    assert page.goto(f"{site}/credits/transfer/?from={theirs.pk}").status in (403, 404)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.balance, theirs.balance) == (start_sender + 260, 40)

    # The 30-day log shows incoming and outgoing credits with the running balance, and downloads.
    page.goto(f"{site}/credits/wallets/{mine.pk}/log/")
    log = page.locator("main")
    expect(log).to_contain_text("300")
    expect(log).to_contain_text(str(start_sender + 260))
    with page.expect_download() as download:
        page.get_by_text("Download CSV").click()
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        csv_text = handle.read()
    assert "300" in csv_text and "40" in csv_text
    assert verify() == []
