"""The MO routing matrix: dedicated, shared with keywords (any case, punctuation), unmatched owner,
no owner, unknown number, not two-way, STOP alone and STOP + keyword; and the sender of an account."""

from __future__ import annotations

import pytest

from kontor.numbers import services
from kontor.numbers.models import UnmatchedOwner
from kontor.numbers.routing import Route, default_sender, route_inbound, sender_for
from tests.numbers.conftest import DEDICATED, ONE_WAY, SHARED, SHORT, SPARE

pytestmark = pytest.mark.django_db


@pytest.fixture
def keywords(world, nums):
    a = world.acme
    services.claim_keyword(a.account, "Acme", actor=a.master)
    services.claim_keyword(a.other_account, "help2", actor=a.master)
    return nums


def test_dedicated_number_reaches_its_only_account(world, nums):
    for to in (DEDICATED, DEDICATED.lstrip("+"), "00" + DEDICATED.lstrip("+"), "+44 7700 900123"):
        route = route_inbound(to, "hello there")
        assert route == Route(world.globex.account, nums.dedicated, None, "dedicated", False), to


@pytest.mark.parametrize("text", ["ACME hi", "acme", "Acme! what's new", "  aCmE, please", "#acme"])
def test_keyword_on_a_shared_number_any_case_and_punctuation(world, keywords, text):
    route = route_inbound(SHARED, text)
    assert (route.account, route.keyword, route.reason) == (world.acme.account, "ACME", "keyword")
    assert route.number == keywords.shared and route.is_stop is False


def test_each_account_gets_its_own_keyword(world, keywords):
    route = route_inbound(SHARED, "HELP2 my order")
    assert (route.account, route.keyword) == (world.acme.other_account, "HELP2")


def test_a_keyword_that_is_not_the_first_word_does_not_match(world, keywords):
    route = route_inbound(SHARED, "hello acme")
    assert route.reason == "unmatched_owner" and route.keyword is None


def test_unmatched_goes_to_the_chosen_account(world, keywords):
    a = world.acme
    # Sales used the number first: it kept the unmatched messages when Support desk joined.
    assert route_inbound(SHARED, "no keyword").account == a.account
    services.set_unmatched_owner(keywords.shared, a.other_account, actor=a.master)
    route = route_inbound(SHARED, "no keyword")
    assert (route.account, route.reason, route.keyword) == (a.other_account, "unmatched_owner", None)
    # Keywords still win over the unmatched owner.
    assert route_inbound(SHARED, "acme").account == a.account


def test_no_owner_when_shared_without_unmatched_owner(world, keywords):
    UnmatchedOwner.objects.filter(number=keywords.shared).delete()
    route = route_inbound(SHARED, "nothing matches")
    assert route == Route(None, keywords.shared, None, "no_owner", False)
    assert route_inbound(SHARED, "acme").account == world.acme.account


@pytest.mark.parametrize("to", ["+46709999999", "abc", "", "12", "+4670111000100000000"])
def test_unknown_number(nums, to):
    assert route_inbound(to, "acme") == Route(None, None, None, "unknown_number", False)


def test_not_two_way(nums):
    route = route_inbound(ONE_WAY, "hello")
    assert (route.account, route.reason, route.number) == (None, "not_two_way", nums.one_way)


def test_number_in_the_inventory_but_not_assigned_has_no_owner(nums):
    assert route_inbound(SPARE, "hello").reason == "no_owner"


def test_a_short_code_nobody_uses_has_no_owner(nums):
    assert route_inbound(SHORT, "hello") == Route(None, nums.short, None, "no_owner", False)


@pytest.mark.parametrize("word", ["STOP", "stop", "Stopp", "UNSUBSCRIBE", "end."])
def test_stop_alone_reaches_the_unmatched_owner_or_dedicated_account(world, keywords, word):
    route = route_inbound(SHARED, word)
    assert (route.account, route.reason, route.is_stop) == (world.acme.account, "unmatched_owner", True)
    route = route_inbound(DEDICATED, word)
    assert (route.account, route.reason, route.is_stop) == (world.globex.account, "dedicated", True)


def test_stop_with_a_keyword_reaches_only_the_keyword_owner(world, keywords):
    route = route_inbound(SHARED, "STOP help2")
    assert (route.account, route.keyword, route.reason, route.is_stop) == (
        world.acme.other_account,
        "HELP2",
        "keyword",
        True,
    )
    route = route_inbound(SHARED, "stop ACME!")
    assert (route.account, route.keyword, route.is_stop) == (world.acme.account, "ACME", True)


def test_stop_on_a_number_that_cannot_receive_is_still_a_stop(nums):
    route = route_inbound(ONE_WAY, "STOP")
    assert route.reason == "not_two_way" and route.is_stop and route.account is None


def test_routing_writes_nothing(world, keywords, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        route_inbound(SHARED, "stop acme")


def test_sender_for(world, nums, settings):
    a = world.acme
    assert sender_for(a.account) == (SHARED, True)
    services.set_account_number(a.account, None, actor=a.master)
    assert sender_for(a.account) == ("Kontor", False)
    services.set_account_number(a.account, nums.one_way, actor=a.master)
    assert sender_for(a.account) == ("Kontor", False)  # not activated for two-way
    settings.KONTOR_DEFAULT_SENDER = "Provider"
    assert default_sender() == "Provider"
    assert sender_for(a.account) == ("Provider", False)
