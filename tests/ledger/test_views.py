"""The 'Manage SMS Credits' pages (manual 001 steps 1-5): who sees what, purchase, transfer, thresholds."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kontor.access.models import Role
from kontor.access.selectors import scope_for_user
from kontor.audit.models import AuditEntry
from kontor.billing.defaults import ensure_default_prices
from kontor.billing.models import Invoice
from kontor.billing.pricing import quote
from kontor.ledger import selectors
from kontor.ledger.models import JournalTransaction, Wallet
from kontor.ledger.posting import Leg, pool_wallet, post, provider_wallet, system_wallet, user_wallet
from kontor.tenancy.models import Membership, Office, Team
from tests.factories import UserFactory

MANAGE = reverse("ledger:manage")
PURCHASE = reverse("ledger:purchase")
TRANSFER = reverse("ledger:transfer")
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


@pytest.fixture
def acme(world):
    """world.acme in Individual User SMS Credits mode, with a sender outside the manager's offices and
    the team, and one reached by the office credit manager through an additional office only."""
    ensure_default_prices()
    acme = world.acme
    acme.customer.credit_mode = "individual"
    acme.customer.save()
    sender_role = Role.objects.get(slug="sender", customer=None)
    other_team = Team.objects.create(customer=acme.customer, name="Other team")
    far = Office.objects.create(customer=acme.customer, name="Far away")
    acme.outsider = UserFactory(
        customer=acme.customer, primary_office=far, team=other_team, email="outsider@acme.test",
        first_name="Olle", last_name="Outsider",
    )  # fmt: skip
    acme.branch_user = UserFactory(
        customer=acme.customer, primary_office=acme.branch, team=other_team, email="branch@acme.test",
        first_name="Bea", last_name="Branch",
    )  # fmt: skip
    for user in (acme.outsider, acme.branch_user):
        Membership.objects.create(customer=acme.customer, account=acme.account, user=user, role=sender_role)
    return acme


def fund(wallet: Wallet, amount: int) -> Wallet:
    post("purchase", [Leg(provider_wallet(), -amount), Leg(wallet, amount)], actor=None, customer=wallet.customer)
    wallet.refresh_from_db()
    return wallet


def names_in(html: str) -> set[str]:
    return set(re.findall(r'<span class="wallet-name">([^<]+)</span>', html))


def overview(cw, user):
    return selectors.credit_overview(scope_for_user(user, cw.account), user)


# --- step 2: who sees what -----------------------------------------------------------------------


def test_master_sees_system_credits_and_every_user_with_send_sms(client, acme):
    client.force_login(acme.master)
    html = client.get(MANAGE).content.decode()
    names = names_in(html)
    assert "System (unallocated) credits" in names
    assert {"Olle Outsider", "Bea Branch", "Sender Acme", "Mia Master", "Office Credit Manager Acme"} <= names
    assert "Support Acme" not in names and "Technician Acme" not in names  # no 'Send SMS'
    assert "Purchase SMS Credits" in html and "View Last 30 Days Logs" in html


def test_office_credit_manager_sees_no_system_credits_but_the_senders_of_their_offices(client, acme):
    client.force_login(acme.users["office_credit_manager"])
    names = names_in(client.get(MANAGE).content.decode())
    assert "System (unallocated) credits" not in names
    assert {"Bea Branch", "Sender Acme", "Office Credit Manager Acme"} <= names  # the branch is an additional office
    assert "Olle Outsider" not in names


def test_regular_user_sees_themselves_and_team_members_with_send_sms(client, acme):
    client.force_login(acme.users["sender"])
    names = names_in(client.get(MANAGE).content.decode())
    assert "System (unallocated) credits" not in names
    assert {"Sender Acme", "Office Credit Manager Acme", "Administrator Acme"} <= names
    assert not names & {"Olle Outsider", "Bea Branch", "Support Acme", "Technician Acme"}


def test_actions_follow_the_rules(acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    view = overview(acme, sender)
    mine = next(r for r in view.rows if r.user == sender)
    theirs = next(r for r in view.rows if r.user == ocm)
    # A regular user transfers from their own credits to team members, never from a team member's.
    assert selectors.TRANSFER_FROM in mine.actions and selectors.TRANSFER_TO not in mine.actions
    assert selectors.TRANSFER_TO in theirs.actions and selectors.TRANSFER_FROM not in theirs.actions
    assert selectors.PURCHASE in mine.actions and selectors.PURCHASE in theirs.actions
    assert selectors.THRESHOLD in mine.actions and selectors.THRESHOLD not in theirs.actions
    master_view = overview(acme, acme.master)
    system = master_view.rows[0]
    assert system.wallet.kind == Wallet.Kind.SYSTEM
    assert {selectors.PURCHASE, selectors.TRANSFER_FROM, selectors.TRANSFER_TO, selectors.THRESHOLD} <= system.actions


@pytest.mark.parametrize("slug", ["master", "office_credit_manager", "sender", "administrator"])
def test_the_actions_shown_are_what_the_rules_say_pair_by_pair(acme, slug):
    fund(user_wallet(acme.outsider), 5)
    Membership.objects.filter(user=acme.outsider).update(role=Role.objects.get(slug="support", customer=None))
    viewer = acme.user(slug)
    view = overview(acme, viewer)
    for row in view.rows:
        others = [r for r in view.rows if r.pk != row.pk]
        naive_from = any(selectors.may_transfer(viewer, row.wallet, o.wallet) for o in others)
        naive_to = any(selectors.may_transfer(viewer, o.wallet, row.wallet) for o in others)
        assert (selectors.TRANSFER_FROM in row.actions) is naive_from, (slug, row.name)
        assert (selectors.TRANSFER_TO in row.actions) is naive_to, (slug, row.name)
        assert (selectors.PURCHASE in row.actions) is selectors.may_purchase(viewer, row), (slug, row.name)


def test_credits_of_a_user_who_lost_send_sms_are_shown_to_the_master_with_a_note(client, acme):
    fund(user_wallet(acme.outsider), 25)
    Membership.objects.filter(user=acme.outsider).update(role=Role.objects.get(slug="support", customer=None))
    client.force_login(acme.master)
    html = client.get(MANAGE).content.decode()
    assert "Olle Outsider" in names_in(html)
    assert "cannot be used until they are transferred" in html
    row = next(r for r in overview(acme, acme.master).rows if r.user == acme.outsider)
    assert not row.usable
    assert selectors.TRANSFER_FROM in row.actions and selectors.TRANSFER_TO not in row.actions


def test_pool_mode_shows_account_pools_read_only_for_non_masters(client, world):
    acme = world.acme  # the default mode: account pools
    client.force_login(acme.master)
    html = client.get(MANAGE).content.decode()
    assert "credits belong to accounts" in html
    assert {"System (unallocated) credits", "Sales (account pool)", "Support desk (account pool)"} <= names_in(html)
    pool = next(r for r in overview(acme, acme.master).rows if r.wallet.kind == Wallet.Kind.POOL)
    assert {selectors.TRANSFER_TO, selectors.TRANSFER_FROM} <= pool.actions
    client.force_login(acme.users["sender"])
    html = client.get(MANAGE).content.decode()
    assert names_in(html) == {"Sales (account pool)"}
    row = overview(acme, acme.users["sender"]).rows[0]
    assert row.actions == {selectors.LOG}
    assert client.get(PURCHASE).status_code == 403


# --- purchase ------------------------------------------------------------------------------------


def _purchase_data(target: Wallet, quantity: int = 1000, method: str = "test_card") -> dict[str, str]:
    return {
        "target": str(target.pk),
        "quantity": str(quantity),
        "company": "Acme AB",
        "contact_name": "Mia Master",
        "address_line1": "Storgatan 1",
        "city": "Göteborg",
        "email": "billing@acme.test",
        "payment_method": method,
    }


def _confirm(client, data):
    response = client.post(PURCHASE, {**data, "action": "proceed"})
    assert response.status_code == 200
    html = response.content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key, html
    return html, key.group(1)


def test_master_buys_system_credits_with_the_test_card_and_downloads_the_invoice(client, acme):
    client.force_login(acme.master)
    system = system_wallet(acme.customer)
    form = client.get(PURCHASE, {"wallet": system.pk})
    assert form.status_code == 200 and 'value="Acme"' in form.content.decode()  # prefilled from the customer
    data = _purchase_data(system)
    html, key = _confirm(client, data)
    price = quote(acme.customer, 1000)
    assert price.gross in html and price.unit_price in html and price.vat in html
    assert "4242 4242 4242 4242" in html  # the page says which test numbers approve and decline
    pay = {**data, "action": "pay", "idempotency_key": key, "card_number": CARD_OK, "expiry": "12/39", "cvc": "123"}
    done = client.post(PURCHASE, pay)
    assert done.status_code == 200
    body = done.content.decode()
    assert "Purchase complete" in body and "1000 credits" in body
    system.refresh_from_db()
    assert system.balance == 1000
    invoice = Invoice.objects.get(customer=acme.customer)
    pdf_url = reverse("billing:invoice_pdf", args=[invoice.pk])
    assert pdf_url in body and "Download Tax Invoice / Receipt" in body
    pdf = client.get(pdf_url)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # A double submit of the same confirmation page buys once and shows the same receipt.
    again = client.post(PURCHASE, pay)
    assert again.status_code == 200 and invoice.number in again.content.decode()
    assert "nothing new was charged" in again.content.decode()
    system.refresh_from_db()
    assert system.balance == 1000
    assert JournalTransaction.objects.filter(customer=acme.customer, kind="purchase").count() == 1
    assert Invoice.objects.filter(customer=acme.customer).count() == 1


def test_a_declined_card_applies_nothing(client, acme):
    client.force_login(acme.master)
    system = system_wallet(acme.customer)
    data = _purchase_data(system)
    _, key = _confirm(client, data)
    pay = {
        **data,
        "action": "pay",
        "idempotency_key": key,
        "card_number": CARD_DECLINED,
        "expiry": "12/39",
        "cvc": "123",
    }
    response = client.post(PURCHASE, pay)
    html = response.content.decode()
    assert "Payment declined" in html and "Nothing was charged" in html
    assert f'value="{CARD_DECLINED}"' not in html  # a card number is never echoed back into a page
    system.refresh_from_db()
    assert system.balance == 0
    assert not JournalTransaction.objects.filter(customer=acme.customer).exists()
    assert not Invoice.objects.exists()
    # The same key again gets the same decline; the page offers a new key for another attempt.
    assert "Payment declined" in client.post(PURCHASE, pay).content.decode()
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    assert fresh != key
    # A bad card number is an inline error on the confirmation page; nothing applied either.
    bad = client.post(PURCHASE, {**pay, "idempotency_key": fresh, "card_number": "1234"})
    assert "A card number has 12 to 19 digits." in bad.content.decode()
    assert Wallet.objects.get(pk=system.pk).balance == 0


def test_regular_user_buys_for_themselves_on_invoice(client, acme):
    sender = acme.users["sender"]
    client.force_login(sender)
    mine = user_wallet(sender)
    data = _purchase_data(mine, quantity=50, method="invoice")
    _, key = _confirm(client, data)
    done = client.post(PURCHASE, {**data, "action": "pay", "idempotency_key": key})
    assert "Purchase complete" in done.content.decode()
    assert Wallet.objects.get(pk=mine.pk).balance == 50
    assert Invoice.objects.get(customer=acme.customer).status == "due"
    journal = JournalTransaction.objects.get(customer=acme.customer, kind="purchase")
    assert journal.actor == sender and journal.on_behalf_of == sender


def test_purchase_refuses_targets_outside_the_rules(client, acme):
    sender = acme.users["sender"]
    client.force_login(sender)
    # System credits are for master users only; the outsider is not visible to a regular user at all.
    assert client.get(PURCHASE, {"wallet": system_wallet(acme.customer).pk}).status_code == 404
    assert client.get(PURCHASE, {"wallet": user_wallet(acme.outsider).pk}).status_code == 404
    data = _purchase_data(user_wallet(acme.outsider), method="invoice")
    response = client.post(PURCHASE, {**data, "action": "pay", "idempotency_key": "web-" + "0" * 32})
    assert "Select a valid choice" in response.content.decode()
    assert not JournalTransaction.objects.exists()


def test_purchase_with_bad_billing_details_is_refused_inline(client, acme):
    client.force_login(acme.master)
    data = {**_purchase_data(system_wallet(acme.customer)), "company": "", "contact_name": "", "email": "nope"}
    response = client.post(PURCHASE, {**data, "action": "proceed"})
    html = response.content.decode()
    assert "Enter the company or a contact name." in html and "is not an email address" in html
    assert 'name="idempotency_key"' not in html


# --- transfer ------------------------------------------------------------------------------------


def _transfer(client, side, fixed, other, amount, **extra):
    data = {"other": str(other.pk), "amount": str(amount), "reason": "For the campaign", "agree": "on", **extra}
    return client.post(f"{TRANSFER}?{side}={fixed.pk}", data)


def test_regular_user_transfers_own_credits_to_a_team_member(client, acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine, theirs = fund(user_wallet(sender), 50), user_wallet(ocm)
    client.force_login(sender)
    form = client.get(TRANSFER, {"from": mine.pk})
    assert form.status_code == 200 and "I agree to the transfer conditions" in form.content.decode()
    response = _transfer(client, "from", mine, theirs, 20)
    assert response.status_code == 200 and "Transfer complete" in response.content.decode()
    assert (Wallet.objects.get(pk=mine.pk).balance, Wallet.objects.get(pk=theirs.pk).balance) == (30, 20)
    assert AuditEntry.objects.filter(action="credits.transfer", customer=acme.customer).count() == 1


def test_a_transfer_form_sent_twice_moves_once(client, acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine, theirs = fund(user_wallet(sender), 50), user_wallet(ocm)
    client.force_login(sender)
    key = {"idempotency_key": "web-" + "a" * 32}
    assert "Transfer complete" in _transfer(client, "from", mine, theirs, 20, **key).content.decode()
    assert "Transfer complete" in _transfer(client, "from", mine, theirs, 20, **key).content.decode()
    # The back button and another amount with the same form: refused, and a fresh form is offered.
    reused = _transfer(client, "from", mine, theirs, 5, **key).content.decode()
    assert "already used for an earlier transfer" in reused and "a" * 32 not in reused
    assert (Wallet.objects.get(pk=mine.pk).balance, Wallet.objects.get(pk=theirs.pk).balance) == (30, 20)
    assert JournalTransaction.objects.filter(kind="transfer").count() == 1


def test_the_manage_page_asks_the_rules_a_fixed_number_of_times(client, acme, django_assert_max_num_queries):
    sender = acme.users["sender"]
    client.force_login(sender)
    client.get(MANAGE)  # wallets are made on first sight
    with CaptureQueriesContext(connection) as few:
        client.get(MANAGE)
    baseline = len(few.captured_queries)  # read now: the next request clears the log
    role = Role.objects.get(slug="sender", customer=None)
    for i in range(30):
        mate = UserFactory(customer=acme.customer, primary_office=acme.office, team=acme.team, email=f"m{i}@acme.test")
        Membership.objects.create(customer=acme.customer, account=acme.account, user=mate, role=role)
    client.get(MANAGE)
    with django_assert_max_num_queries(baseline + 2):
        html = client.get(MANAGE).content.decode()
    assert len(names_in(html)) >= 33


def test_transfer_refusals_are_inline_and_change_nothing(client, acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine, theirs = fund(user_wallet(sender), 12), fund(user_wallet(ocm), 30)
    client.force_login(sender)
    too_much = _transfer(client, "from", mine, theirs, 40).content.decode()
    assert "insufficient credits: 12 available, 40 needed" in too_much
    no_tick = _transfer(client, "from", mine, theirs, 5, agree="").content.decode()
    assert "agree to the transfer conditions" in no_tick
    # Never from a team member's credits: neither the page nor a forged post.
    assert client.get(TRANSFER, {"from": theirs.pk}).status_code == 403
    assert _transfer(client, "from", theirs, mine, 5).status_code == 403
    # Not to someone outside the team (not even visible).
    assert "Select a valid choice" in _transfer(client, "from", mine, user_wallet(acme.outsider), 5).content.decode()
    assert (Wallet.objects.get(pk=mine.pk).balance, Wallet.objects.get(pk=theirs.pk).balance) == (12, 30)
    assert not JournalTransaction.objects.filter(kind="transfer").exists()


def test_office_credit_manager_moves_credits_between_users_of_their_offices(client, acme):
    ocm = acme.users["office_credit_manager"]
    source = fund(user_wallet(acme.users["sender"]), 10)
    client.force_login(ocm)
    assert "Transfer complete" in _transfer(client, "to", user_wallet(acme.branch_user), source, 10).content.decode()
    assert user_wallet(acme.branch_user).balance == 10
    assert client.get(TRANSFER, {"to": user_wallet(acme.outsider).pk}).status_code == 404


def test_master_allocates_system_credits_to_a_user(client, acme):
    system = fund(system_wallet(acme.customer), 100)
    client.force_login(acme.master)
    response = _transfer(client, "from", system, user_wallet(acme.outsider), 60)
    assert "Transfer complete" in response.content.decode()
    assert JournalTransaction.objects.get(kind="allocation").actor == acme.master
    assert (system_wallet(acme.customer).balance, user_wallet(acme.outsider).balance) == (40, 60)


def test_master_moves_pool_credits_in_pool_mode(client, world):
    acme = world.acme
    system = fund(system_wallet(acme.customer), 30)
    pool = pool_wallet(acme.account)
    client.force_login(acme.master)
    assert "Transfer complete" in _transfer(client, "to", pool, system, 30).content.decode()
    assert pool_wallet(acme.account).balance == 30


# --- threshold, foreign ids ----------------------------------------------------------------------


def test_threshold_own_wallet_yes_someone_elses_no(client, acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    client.force_login(sender)
    mine = user_wallet(sender)
    response = client.post(reverse("ledger:threshold", args=[mine.pk]), {"threshold": "5"})
    assert response.status_code == 302
    assert Wallet.objects.get(pk=mine.pk).low_balance_threshold == 5
    assert AuditEntry.objects.filter(action="wallet.threshold", object_id=str(mine.pk)).exists()
    theirs = user_wallet(ocm)
    assert client.post(reverse("ledger:threshold", args=[theirs.pk]), {"threshold": "5"}).status_code == 403
    bad = client.post(reverse("ledger:threshold", args=[mine.pk]), {"threshold": "-1"})
    assert bad.status_code == 200 and Wallet.objects.get(pk=mine.pk).low_balance_threshold == 5
    assert Wallet.objects.get(pk=theirs.pk).low_balance_threshold is None


def test_foreign_and_invisible_wallets_are_404(client, acme, world):
    foreign = fund(system_wallet(world.globex.customer), 5)
    client.force_login(acme.master)
    for name in ("ledger:log", "ledger:log_csv", "ledger:log_print", "ledger:threshold"):
        assert client.get(reverse(name, args=[foreign.pk])).status_code == 404, name
    assert client.get(TRANSFER, {"from": foreign.pk}).status_code == 404
    assert client.get(PURCHASE, {"wallet": foreign.pk}).status_code == 404
    assert client.get(TRANSFER).status_code == 404
    client.force_login(acme.users["sender"])
    assert client.get(reverse("ledger:log", args=[user_wallet(acme.outsider).pk])).status_code == 404
    assert client.get(reverse("ledger:log", args=[system_wallet(acme.customer).pk])).status_code == 404
