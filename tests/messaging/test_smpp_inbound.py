"""Inbound over SMPP: MO deliver_sm routed by number and keyword to the right inbox (long ones put
back together), rejections for numbers nobody receives, and the long-running listener
(`kontor smpp_listen`): receipts and MO on a receiver bind, rebinding after a drop, stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.core.management import CommandError, call_command

from kontor.messaging.connectors import smpp
from kontor.messaging.models import Direction, InboundRejection, Message, Status
from kontor.numbers import services as numbers
from tests.messaging import smpp_support
from tests.messaging.smpp_support import answered, dispatched, in_thread
from tests.numbers import conftest as numbers_conftest
from tests.numbers.conftest import DEDICATED, SHARED

pytestmark = pytest.mark.django_db(transaction=True)

# The shared fixtures (assigned, not imported, so that pytest finds them here).
_fresh_connectors = smpp_support._fresh_connectors
options = smpp_support.options
smsc = smpp_support.smsc
tx_world = smpp_support.tx_world

nums = numbers_conftest.nums
CONSUMER = "46701234567"


@pytest.fixture
def world(tx_world):
    return tx_world


@pytest.fixture
def keywords(world, nums):
    numbers.claim_keyword(world.acme.account, "Acme", actor=world.acme.master)
    numbers.claim_keyword(world.acme.other_account, "help2", actor=world.acme.master)
    return nums


@pytest.fixture
def transceiver(smsc, options):
    """A connector bound (as a transceiver) to the SMSC, so that the SMSC can deliver to it."""
    connector = smpp.SmppConnector("smpp-test", options)
    connector._link.session()
    return connector


def inbox() -> list[Message]:
    return list(Message.objects.filter(direction=Direction.IN).order_by("id"))


def test_mo_with_a_keyword_reaches_the_account_that_claimed_it(world, keywords, smsc, transceiver):
    sent = smsc.send_mo(CONSUMER, SHARED.lstrip("+"), "help2 my order is late")
    assert answered(sent) == 0
    [message] = inbox()
    assert (message.account_id, message.keyword, message.status) == (world.acme.other_account.pk, "HELP2", "received")
    assert (message.from_number, message.to_number, message.connector) == ("+46701234567", SHARED, "smpp-test")
    assert message.text == "help2 my order is late"


def test_ucs2_mo_on_a_dedicated_number(world, nums, smsc, transceiver):
    sent = smsc.send_mo("447700900456", DEDICATED, "Привет 🙂", data_coding=8)
    assert answered(sent) == 0
    [message] = inbox()
    assert (message.account_id, message.text, message.encoding) == (world.globex.account.pk, "Привет 🙂", "ucs2")


def test_long_mo_is_put_back_together(world, keywords, smsc, transceiver):
    first, second = "acme " + "a" * 148, "and the end"
    for seq, piece in ((2, second), (1, first)):  # out of order, as networks deliver
        udh = bytes((5, 0, 3, 0x42, 2, seq))
        sent = smsc.send_deliver(
            "mo", source_addr=CONSUMER, destination_addr=SHARED, esm_class=0x40, short_message=udh + piece.encode()
        )
        assert answered(sent) == 0
    [message] = inbox()
    assert message.text == first + second and message.account_id == world.acme.account.pk


def test_long_mo_with_sar_tlvs(world, keywords, smsc, transceiver):
    for seq, piece in ((1, "acme hello "), (2, "world")):
        sent = smsc.send_deliver(
            "mo",
            source_addr=CONSUMER,
            destination_addr=SHARED,
            short_message=piece.encode(),
            sar_msg_ref_num=7,
            sar_total_segments=2,
            sar_segment_seqnum=seq,
        )
        assert answered(sent) == 0
    assert [m.text for m in inbox()] == ["acme hello world"]


def test_mo_to_an_unknown_number_is_a_logged_rejection(world, nums, smsc, transceiver):
    assert answered(smsc.send_mo(CONSUMER, "46709999999", "hello?")) == 0
    assert inbox() == []
    rejection = InboundRejection.objects.get()
    assert (rejection.reason, rejection.connector, rejection.to_number) == (
        "unknown_number",
        "smpp-test",
        "46709999999",
    )


def test_listener_handles_receipts_and_mo_and_stops_cleanly(world, keywords, smsc, options):
    stop, bound = threading.Event(), threading.Event()
    listener = in_thread(smpp.run_listener, "smpp-test", options, stop, on_bound=bound)
    assert bound.wait(5)
    assert smsc.binds[-1][2] == "bind_receiver"
    # Workers submit on a transmitter bind; the receipt comes in on the listener's receiver bind.
    sender = smpp.SmppConnector("smpp-test", options | {"bind": "transmitter"})
    message, outcome = dispatched(world, sender, "Hello")
    assert outcome == "accepted" and message.downstream_id == f"smpp-test:{smsc.submitted[0].message_id}"
    smsc.release_dlrs()  # the SMSC's raw id: the listener, named alike, names it as the sender did
    smsc.wait_for(lambda: smsc.sent and smsc.sent[-1].answered.is_set())
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert answered(smsc.send_mo(CONSUMER, SHARED, "ACME hi")) == 0
    assert [m.account_id for m in inbox()] == [world.acme.account.pk]
    stop.set()
    listener.join(5)
    assert not listener.is_alive() and smsc.unbinds == 1


def test_listener_binds_again_after_a_drop_with_backoff(world, smsc, options):
    stop, bound = threading.Event(), threading.Event()
    listener = in_thread(smpp.run_listener, "smpp-test", options, stop, on_bound=bound)
    assert bound.wait(5)
    bound.clear()
    smsc.refuse_binds = 0x0D
    smsc.drop()
    smsc.wait_for(lambda: len(smsc.binds) >= 3, timeout=5)  # refused, tried again after a pause
    smsc.refuse_binds = 0
    assert bound.wait(5)
    assert [b[3] for b in smsc.binds][:2] == [0, 0x0D] and smsc.binds[-1][3] == 0
    stop.set()
    listener.join(5)
    assert not listener.is_alive()


def test_listen_command_runs_until_sigterm(world, smsc, options, settings):
    settings.KONTOR_SMPP_CONNECTORS = {"operator-a": options}

    def terminate() -> None:
        smsc.wait_for(lambda: smsc.bound, timeout=10)
        os.kill(os.getpid(), signal.SIGTERM)

    in_thread(terminate)
    previous = signal.getsignal(signal.SIGTERM)
    from io import StringIO

    out = StringIO()
    call_command("smpp_listen", stdout=out)
    assert "Listening for SMPP connector operator-a (receiver bind)" in out.getvalue()
    assert out.getvalue().rstrip().endswith("Stopped.")
    assert smsc.unbinds == 1 and signal.getsignal(signal.SIGTERM) == previous


def test_listen_command_refuses_what_it_cannot_use(settings, options):
    settings.KONTOR_SMPP_CONNECTORS = {}
    with pytest.raises(CommandError, match="Name the SMPP connector"):
        call_command("smpp_listen")
    settings.KONTOR_SMPP_CONNECTORS = {"a": options, "b": options | {"window": 0}}
    with pytest.raises(CommandError, match="known: a, b"):
        call_command("smpp_listen")
    with pytest.raises(CommandError, match="No SMPP connector named 'c'"):
        call_command("smpp_listen", connector="c")
    with pytest.raises(CommandError, match="window: from 1 to 1000"):
        call_command("smpp_listen", connector="b")


def test_listen_command_reads_the_environment_when_settings_say_nothing(settings, monkeypatch):
    from kontor.messaging.management.commands.smpp_listen import options_for

    if hasattr(settings, "KONTOR_SMPP_CONNECTORS"):
        del settings.KONTOR_SMPP_CONNECTORS
    monkeypatch.setenv("KONTOR_SMPP_CONNECTORS", '{"op": {"host": "127.0.0.1", "port": 2775}}')
    assert options_for(None) == ("op", {"host": "127.0.0.1", "port": 2775})
    monkeypatch.setenv("KONTOR_SMPP_CONNECTORS", "{not json")
    with pytest.raises(CommandError, match="not JSON"):
        options_for(None)
    monkeypatch.setenv("KONTOR_SMPP_CONNECTORS", '["a list"]')
    with pytest.raises(CommandError, match="maps names to options"):
        options_for(None)


def test_an_mo_the_smsc_delivers_again_is_stored_once(world, keywords, smsc, transceiver):
    for _ in range(2):  # our deliver_sm_resp was lost: the SMSC sends the same deliver_sm again
        assert answered(smsc.send_mo(CONSUMER, SHARED.lstrip("+"), "acme yes please")) == 0
    [message] = inbox()
    assert message.text == "acme yes please" and message.downstream_id.startswith("fp:")
    assert message.events.count() == 1


def test_the_parts_of_a_long_mo_survive_a_restart_and_a_part_sent_twice_counts_once(
    world, keywords, smsc, options, transceiver
):
    from kontor.messaging.models import InboundPartial

    first, second, third = "acme " + "a" * 148, "b" * 153, "and the end"
    for seq, piece in ((1, first), (3, third), (1, first)):
        udh = bytes((5, 0, 3, 0x17, 3, seq))
        sent = smsc.send_deliver(
            "mo", source_addr=CONSUMER, destination_addr=SHARED, esm_class=0x40, short_message=udh + piece.encode()
        )
        assert answered(sent) == 0
    [partial] = InboundPartial.objects.all()
    assert sorted(partial.parts) == ["1", "3"] and inbox() == []
    # The process goes away (its binds and memory with it); a new one gets the last part.
    smpp.close_all()
    fresh = smpp.SmppConnector("smpp-test", options)
    fresh._link.session()
    udh = bytes((5, 0, 3, 0x17, 3, 2))
    sent = smsc.send_deliver(
        "mo", source_addr=CONSUMER, destination_addr=SHARED, esm_class=0x40, short_message=udh + second.encode()
    )
    assert answered(sent) == 0
    [message] = inbox()
    assert message.text == first + second + third and message.account_id == world.acme.account.pk
    assert not InboundPartial.objects.exists()


def test_a_receipt_the_smsc_delivers_twice_is_applied_once(world, keywords, smsc, transceiver):
    from kontor.ledger.models import JournalTransaction

    message, outcome = dispatched(world, transceiver, "Hello #undeliverable")
    assert outcome == "accepted"
    part = smsc.submitted[-1]
    for _ in range(2):
        assert answered(smsc.send_receipt(part.message_id, "undeliverable")) == 0
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert JournalTransaction.objects.filter(kind="refund", customer=world.acme.customer).count() == 1
