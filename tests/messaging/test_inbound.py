"""receive_inbound: the MO routing matrix end to end (keyword, dedicated, unmatched owner, unknown number,
not two-way, no owner, STOP on a shared number), garbage from a connector, and redelivery."""

from __future__ import annotations

import datetime as dt

import pytest

from kontor.contacts.models import OptOut
from kontor.core.errors import Invalid
from kontor.ledger.posting import pool_wallet
from kontor.messaging.delivery.inbound import receive_inbound, sender_e164
from kontor.messaging.models import Direction, InboundRejection, Message, Status
from kontor.messaging.services.messages import send_message
from kontor.numbers import services as numbers
from kontor.numbers.models import UnmatchedOwner
from tests.messaging.conftest import fund
from tests.numbers import conftest as numbers_conftest
from tests.numbers.conftest import DEDICATED, ONE_WAY, SHARED, SPARE

pytestmark = pytest.mark.django_db

nums = numbers_conftest.nums
CONSUMER = "+46701234567"


@pytest.fixture
def keywords(world, nums):
    a = world.acme
    numbers.claim_keyword(a.account, "Acme", actor=a.master)
    numbers.claim_keyword(a.other_account, "help2", actor=a.master)
    return nums


def receive(to: str, text: str, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("from_number", CONSUMER)
    kw.setdefault("connector", "smpp")
    return receive_inbound(to=to, text=text, **kw)


def inbound() -> list[Message]:
    return list(Message.objects.filter(direction=Direction.IN).order_by("id"))


@pytest.mark.parametrize(
    ("text", "account_attr", "keyword"), [("acme hi", "account", "ACME"), ("Help2, my order", "other_account", "HELP2")]
)
def test_a_keyword_takes_it_to_the_account_that_claimed_it(world, keywords, text, account_attr, keyword):
    account = getattr(world.acme, account_attr)
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    result = receive(SHARED, text, downstream_id="m-1", received_at=at)
    assert (result.routed, result.reason, result.account, result.duplicate) == (True, "keyword", account, False)
    [m] = inbound()
    assert m == result.message
    assert (m.customer_id, m.account_id, m.status, m.keyword) == (
        world.acme.customer.pk,
        account.pk,
        "received",
        keyword,
    )
    assert (m.from_number, m.to_number, m.text, m.connector, m.downstream_id) == (CONSUMER, SHARED, text, "smpp", "m-1")
    assert (m.credits, m.user_id, m.wallet_id) == (0, None, None)
    [event] = m.events.all()
    assert (event.status, event.at, event.detail["reason"], event.detail["keyword"]) == (
        "received",
        at,
        "keyword",
        keyword,
    )
    assert not InboundRejection.objects.exists()


def test_dedicated_number_and_a_sender_without_plus(world, nums):
    result = receive(DEDICATED.lstrip("+"), "hello", from_number="44 7700 900 456")
    assert (result.reason, result.account) == ("dedicated", world.globex.account)
    assert (result.message.from_number, result.message.to_number) == ("+447700900456", DEDICATED)


def test_unmatched_goes_to_the_chosen_account(world, keywords):
    a = world.acme
    numbers.set_unmatched_owner(keywords.shared, a.other_account, actor=a.master)
    result = receive(SHARED, "no keyword here")
    assert (result.reason, result.account, result.message.keyword) == ("unmatched_owner", a.other_account, "")
    # The keyword still wins over the unmatched owner.
    assert receive(SHARED, "ACME again").account == a.account


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("+46709990000", "unknown_number"),
        ("not a number", "unknown_number"),
        (ONE_WAY, "not_two_way"),
        (SPARE, "no_owner"),
    ],
)
def test_nobody_receives_it_a_rejection_is_logged_and_no_message(nums, to, reason):
    result = receive(to, "hello " * 40, downstream_id="x-1")
    assert (result.routed, result.reason, result.account, result.message) == (False, reason, None, None)
    [row] = InboundRejection.objects.all()
    assert row == result.rejection
    assert (row.to_number, row.from_number, row.reason, row.connector, row.downstream_id) == (
        to,
        CONSUMER,
        reason,
        "smpp",
        "x-1",
    )
    assert row.text == ("hello " * 40)[:160]
    assert not inbound()


def test_shared_number_without_any_owner_of_unmatched(world, keywords):
    UnmatchedOwner.objects.filter(number=keywords.shared).delete()
    assert receive(SHARED, "who gets this").reason == "no_owner"
    assert not inbound() and InboundRejection.objects.get().reason == "no_owner"


@pytest.mark.parametrize("sender", ["", "garbage", "+1", "12", "☃☃☃", "x" * 500, "+46 70 123 45 67 89 01 23 45"])
def test_a_garbage_sender_is_a_rejection_not_an_error(keywords, sender):
    result = receive(SHARED, "ACME hi", from_number=sender)
    assert (result.routed, result.reason) == (False, "bad_sender")
    assert not inbound()
    assert len(InboundRejection.objects.get().from_number) <= 40


def test_garbage_text_is_a_rejection(keywords):
    assert receive(SHARED, "ACME \x00 hi").reason == "bad_text"
    assert receive(SHARED, "ACME " + "x" * 6000).reason == "bad_text"
    assert not inbound() and InboundRejection.objects.count() == 2


def test_stop_on_a_shared_number_opts_out_of_the_account_it_reached_only(world, keywords, pool, run_commits):
    a = world.acme
    fund(pool_wallet(a.other_account), 10)
    result = receive(SHARED, "STOP acme")
    assert (result.account, result.reason, result.opted_out) == (a.account, "keyword", True)
    assert result.message.events.get().detail["stop"] is True
    [row] = OptOut.objects.all()
    assert (row.account_id, row.phone, row.source) == (a.account.pk, CONSUMER, "stop_keyword")
    with pytest.raises(Invalid) as exc:
        send_message(a.account, actor=a.master, to=CONSUMER, text="Are you sure?")
    assert "opted out" in str(exc.value.fields["to"])
    with run_commits():
        other = send_message(a.other_account, actor=a.master, to=CONSUMER, text="Desk here")
    assert other.account == a.other_account and other.direction == "out"
    # A second STOP is received again but is no second opt-out.
    assert receive(SHARED, "stop ACME").opted_out is True
    assert OptOut.objects.count() == 1 and len(inbound()) == 2


def test_stop_alone_opts_out_of_the_unmatched_owner(world, keywords):
    numbers.set_unmatched_owner(keywords.shared, world.acme.other_account, actor=world.acme.master)
    result = receive(SHARED, "Stopp")
    assert (result.account, result.opted_out) == (world.acme.other_account, True)
    assert list(OptOut.objects.values_list("account_id", flat=True)) == [world.acme.other_account.pk]


def test_stop_to_a_number_nobody_receives_opts_out_of_nothing(nums):
    assert receive(ONE_WAY, "STOP").reason == "not_two_way"
    assert not OptOut.objects.exists()


def test_a_redelivery_is_answered_again_and_stores_nothing(world, keywords):
    first = receive(SHARED, "ACME one", downstream_id="abc")
    again = receive(SHARED, "ACME one", downstream_id="abc")
    assert (again.duplicate, again.message, again.account, again.reason) == (
        True,
        first.message,
        world.acme.account,
        "keyword",
    )
    assert len(inbound()) == 1 and first.message.events.count() == 1
    # Another connector's id is another message; without an id nothing can be recognised.
    receive(SHARED, "ACME one", downstream_id="abc", connector="http")
    receive(SHARED, "ACME one")
    receive(SHARED, "ACME one")
    assert len(inbound()) == 4


def test_a_rejected_redelivery_logs_one_rejection(nums):
    receive(ONE_WAY, "hi", downstream_id="r-1")
    again = receive(ONE_WAY, "hi", downstream_id="r-1")
    assert (again.duplicate, again.routed, again.reason) == (True, False, "not_two_way")
    assert InboundRejection.objects.count() == 1


def test_sender_e164():
    assert sender_e164("+46 70-123 45 67") == CONSUMER
    assert sender_e164("46701234567") == CONSUMER
    assert sender_e164("0046701234567") == CONSUMER
    assert sender_e164("abc") is None
    assert Status.RECEIVED == "received"
