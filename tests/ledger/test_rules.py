"""Manual 001, rule by rule, in Individual User SMS Credits mode."""

from __future__ import annotations

import pytest

from kontor.access.models import Role
from kontor.core.errors import Forbidden, Invalid
from kontor.ledger import rules
from kontor.ledger.posting import InsufficientCredits, Leg, post, provider_wallet, system_wallet, user_wallet
from kontor.ledger.services import Transfer, batch_transfer, consume, resolve_transfer, transfer
from kontor.tenancy.models import Membership, Office, Team
from tests.factories import UserFactory


@pytest.fixture
def acme(world):
    acme = world.acme
    acme.customer.credit_mode = "individual"
    acme.customer.save()
    # Someone outside the manager's offices and the team, with 'Send SMS'.
    far_office = Office.objects.create(customer=acme.customer, name="Far away")
    other_team = Team.objects.create(customer=acme.customer, name="Other team")
    acme.outsider = UserFactory(
        customer=acme.customer, primary_office=far_office, team=other_team, email="outsider@acme.test"
    )
    Membership.objects.create(
        customer=acme.customer,
        account=acme.account,
        user=acme.outsider,
        role=Role.objects.get(slug="sender", customer=None),
    )
    # A colleague in the branch office only (reached by the office credit manager through it).
    acme.branch_user = UserFactory(
        customer=acme.customer, primary_office=acme.branch, team=other_team, email="branch@acme.test"
    )
    Membership.objects.create(
        customer=acme.customer,
        account=acme.account,
        user=acme.branch_user,
        role=Role.objects.get(slug="sender", customer=None),
    )
    return acme


def fund(customer, wallet, amount):
    post("purchase", [Leg(provider_wallet(), -amount), Leg(wallet, amount)], actor=None, customer=customer)
    wallet.refresh_from_db()
    return wallet


def test_master_sees_system_credits_and_every_sender(acme):
    view = rules.credit_view(acme.master)
    assert view.system
    ids = view.user_ids
    assert {acme.users["sender"].pk, acme.outsider.pk, acme.branch_user.pk, acme.master.pk} <= ids
    # Support and Technician roles have no 'Send SMS': they are not listed.
    assert acme.users["support"].pk not in ids and acme.users["technician"].pk not in ids


def test_office_credit_manager_sees_no_system_credits_but_the_senders_of_their_offices(acme):
    view = rules.credit_view(acme.users["office_credit_manager"])
    assert not view.system and view.office_manager
    assert acme.branch_user.pk in view.user_ids  # additional office counts
    assert acme.users["sender"].pk in view.user_ids  # primary office
    assert acme.outsider.pk not in view.user_ids


def test_regular_user_sees_themselves_and_team_members_with_send_sms(acme):
    sender = acme.users["sender"]
    view = rules.credit_view(sender)
    assert not view.system
    assert sender.pk in view.user_ids
    assert acme.users["office_credit_manager"].pk in view.user_ids  # same team, can send
    assert acme.users["support"].pk not in view.user_ids  # same team, cannot send
    assert acme.outsider.pk not in view.user_ids and acme.branch_user.pk not in view.user_ids


def test_only_master_users_purchase_system_credits(acme):
    rules.check_purchase_for_system(acme.master, acme.customer)
    with pytest.raises(Forbidden):
        rules.check_purchase_for_system(acme.users["administrator"], acme.customer)


def test_purchase_for_whom(acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    rules.check_purchase_for_user(sender, sender)  # themselves
    rules.check_purchase_for_user(sender, ocm)  # a team member
    with pytest.raises(Forbidden):
        rules.check_purchase_for_user(sender, acme.outsider)
    rules.check_purchase_for_user(ocm, acme.branch_user)  # anyone in their offices
    with pytest.raises(Forbidden):
        rules.check_purchase_for_user(ocm, acme.outsider)
    rules.check_purchase_for_user(acme.master, acme.outsider)
    with pytest.raises(Forbidden, match="Send SMS"):
        rules.check_purchase_for_user(acme.master, acme.users["support"])  # cannot send


def test_credits_only_go_to_active_users(acme):
    acme.outsider.is_active = False
    acme.outsider.save()
    with pytest.raises(Forbidden, match="active"):
        rules.check_purchase_for_user(acme.master, acme.outsider)


def test_regular_user_transfers_from_own_credits_to_team_members_never_from_them(acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    mine = fund(acme.customer, user_wallet(sender), 50)
    theirs = fund(acme.customer, user_wallet(ocm), 50)
    transfer(mine, theirs, 20, actor=sender)
    with pytest.raises(Forbidden, match="never from a team member"):
        resolve_transfer(sender, theirs, mine)
    with pytest.raises(Forbidden):
        resolve_transfer(sender, mine, user_wallet(acme.outsider))
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.balance, theirs.balance) == (30, 70)


def test_office_credit_manager_transfers_between_users_of_their_offices(acme):
    ocm = acme.users["office_credit_manager"]
    source = fund(acme.customer, user_wallet(acme.users["sender"]), 10)
    transfer(source, user_wallet(acme.branch_user), 10, actor=ocm)
    with pytest.raises(Forbidden):
        resolve_transfer(ocm, user_wallet(acme.branch_user), user_wallet(acme.outsider))


def test_master_moves_between_system_credits_and_any_user(acme):
    system = fund(acme.customer, system_wallet(acme.customer), 100)
    journal = transfer(system, user_wallet(acme.outsider), 60, actor=acme.master)
    assert journal.kind == "allocation"
    transfer(user_wallet(acme.outsider), system, 10, actor=acme.master)
    with pytest.raises(Forbidden, match="master"):
        resolve_transfer(acme.users["administrator"], system, user_wallet(acme.outsider))


def test_losing_send_sms_keeps_credits_but_they_cannot_be_consumed_until_moved(acme):
    outsider = acme.outsider
    wallet = fund(acme.customer, user_wallet(outsider), 25)
    Membership.objects.filter(user=outsider).update(role=Role.objects.get(slug="support", customer=None))
    with pytest.raises(Forbidden, match="transferred"):
        consume(outsider, acme.account, 1)
    wallet.refresh_from_db()
    assert wallet.balance == 25
    # ...and nobody can send credits *to* them any more, but the master can move them away.
    with pytest.raises(Forbidden):
        resolve_transfer(acme.master, system_wallet(acme.customer), wallet)
    transfer(wallet, user_wallet(acme.users["sender"]), 25, actor=acme.master)


def test_users_consume_their_own_credits_whoever_they_send_for(acme):
    sender = acme.users["sender"]
    fund(acme.customer, user_wallet(sender), 5)
    consume(sender, acme.account, 3, on_behalf_of=acme.master)
    assert user_wallet(sender).balance == 2
    assert user_wallet(acme.master).balance == 0
    with pytest.raises(InsufficientCredits, match="2 available, 3 needed"):
        consume(sender, acme.account, 3)


def test_pool_mode_refuses_user_credit_operations(world):
    acme = world.acme
    with pytest.raises(Forbidden, match="account pools"):
        rules.check_purchase_for_user(acme.master, acme.users["sender"])


def test_batch_transfer_is_all_or_nothing(acme):
    system = fund(acme.customer, system_wallet(acme.customer), 100)
    good = Transfer(system, user_wallet(acme.users["sender"]), 10)
    bad = Transfer(system, user_wallet(acme.users["support"]), 10)  # support cannot send
    with pytest.raises(Invalid) as caught:
        batch_transfer([good, bad, good], actor=acme.master)
    assert list(caught.value.fields) == ["transfers.1"]
    system.refresh_from_db()
    assert system.balance == 100
    too_much = [Transfer(system, user_wallet(acme.users["sender"]), 60)] * 2
    with pytest.raises(InsufficientCredits):
        batch_transfer(too_much, actor=acme.master)
    batch_transfer([good] * 5, actor=acme.master)
    system.refresh_from_db()
    assert system.balance == 50 and user_wallet(acme.users["sender"]).balance == 50


def test_each_batch_transfer_is_its_own_journal_and_a_batch_may_net_to_zero(acme):
    sender, ocm = acme.users["sender"], acme.users["office_credit_manager"]
    a = fund(acme.customer, user_wallet(sender), 10)
    b = fund(acme.customer, user_wallet(ocm), 10)
    result = batch_transfer([Transfer(a, b, 5), Transfer(b, a, 5), Transfer(a, b, 2)], actor=acme.master)
    assert result.created and len(result.journals) == 3
    assert [sorted(p.delta for p in j.postings.all()) for j in result.journals] == [[-5, 5], [-5, 5], [-2, 2]]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.balance, b.balance) == (8, 12)
    # The same key again returns the same journals; the key for another batch is refused.
    again = batch_transfer([Transfer(a, b, 1)] * 2, actor=acme.master, idempotency_key="k")
    assert batch_transfer([Transfer(a, b, 1)] * 2, actor=acme.master, idempotency_key="k").journals == again.journals
    with pytest.raises(Invalid):
        batch_transfer([Transfer(a, b, 1)] * 3, actor=acme.master, idempotency_key="k")
