"""The foundation's "done when", in a real browser: a CSR onboards a customer, the master user sets up
through the welcome link, creates two accounts with custom columns and office hours, adds a user with
roles in both, sees that one account's data does not show in the other, and reads the audit log."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from kontor.access.models import User
from kontor.tenancy.models import Account, CostCenter
from tests.factories import PASSWORD, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "Blue-harbour-lantern-42"


def sign_in(page: Page, site: str, email: str, password: str) -> None:
    page.goto(f"{site}/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in").click()


def test_csr_onboards_a_customer_who_sets_up_accounts_users_and_reads_the_audit_log(page: Page, site: str) -> None:
    StaffFactory(email="csr@provider.test", staff_role="csr")
    CostCenter.objects.create(code="CC-MKT", name="Marketing")
    CostCenter.objects.create(code="CC-SUP", name="Support")

    # The CSR adds the enterprise account (manual 002).
    sign_in(page, site, "csr@provider.test", PASSWORD)
    page.goto(f"{site}/staff/onboard/")
    page.fill("#id_first_name", "Greta")
    page.fill("#id_last_name", "Lund")
    page.fill("#id_email", "greta@lund.example")
    page.fill("#id_phone", "+46701234567")
    page.select_option("#id_time_zone", "Europe/Stockholm")
    page.fill("#id_billing_id", "not_used")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("welcome email was sent to greta@lund.example")
    subscriber = re.search(r"S\d{6}", page.locator(".messages").inner_text())
    assert subscriber is not None

    # The welcome link from the mail sets password, PIN and security question, once.
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/welcome/\S+/", mail.outbox[0].body)
    assert link is not None
    page.context.clear_cookies()
    page.goto(link.group(0))
    page.fill("#id_password", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.fill("#id_pin", "482913")
    page.fill("#id_pin2", "482913")
    page.fill("#id_question", "Name of my first boat?")
    page.fill("#id_answer", "Sjöfröken")
    page.get_by_role("button", name="Save and sign in").click()
    expect(page.locator("summary")).to_contain_text("Greta Lund")
    master = User.objects.get(email="greta@lund.example")
    assert master.check_pin("482913") and master.pin_hash != "482913"

    # The master user creates two accounts with custom columns; one only sends in office hours.
    for name, cost_center, office_hours, columns in (
        ("Campaigns", "CC-MKT", False, ["First name", "Member number"]),
        ("Care", "CC-SUP", True, ["Case number"]),
    ):
        page.goto(f"{site}/accounts/add/")
        page.fill("#id_name", name)
        page.select_option("#id_cost_center", label=str(CostCenter.objects.get(code=cost_center)))
        if office_hours:
            page.check("#id_office_hours_only")
        for index, column in enumerate(columns, start=1):
            page.fill(f"#id_col_{index}_name", column)
        page.get_by_role("button", name="Add account").click()
        expect(page.locator("h1")).to_contain_text(name)
    campaigns = Account.objects.get(customer=master.customer, name="Campaigns")
    care = Account.objects.get(customer=master.customer, name="Care")
    assert care.office_hours_only and not campaigns.office_hours_only

    # ...adds a user with a role in each account...
    page.goto(f"{site}/users/add/")
    page.fill("#id_first_name", "Sven")
    page.fill("#id_last_name", "Sender")
    page.fill("#id_email", "sven@lund.example")
    page.select_option(f"#id_role_{campaigns.pk}", label="Sender")
    page.select_option(f"#id_role_{care.pk}", label="Read-only")
    page.locator("main form button[type=submit]").click()
    sven = User.objects.get(email="sven@lund.example")
    assert {(m.account.name, m.role.name) for m in sven.memberships.all()} == {
        ("Campaigns", "Sender"),
        ("Care", "Read-only"),
    }

    # ...creates an API key in Campaigns and does not see it from Care.
    with page.expect_navigation():
        page.select_option("#account-switch", label="Campaigns")
    page.goto(f"{site}/api-keys/add/")
    page.fill("#id_name", "Campaign CRM")
    page.locator("input[name=perms][value=send_sms]").check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".secret")).to_contain_text("kon_")
    page.goto(f"{site}/api-keys/")
    expect(page.locator("#results")).to_contain_text("Campaign CRM")
    with page.expect_navigation():
        page.select_option("#account-switch", label="Care")
    page.goto(f"{site}/api-keys/")
    expect(page.locator("#results")).not_to_contain_text("Campaign CRM")

    # The audit log tells the story.
    page.goto(f"{site}/audit/")
    log = page.locator("#results")
    for action in ("account.create", "user.create", "api_key.create", "user.welcome_completed"):
        expect(log).to_contain_text(action)
