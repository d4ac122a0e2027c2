"""The SMPP link: enquire_link both ways, the SMSC down (messages stay queued, then go once it is
back, after backoff), binds refused, dropped connections, and garbage from the SMSC."""

from __future__ import annotations

import logging
import struct
import time

import pytest
from smpplib.smpp import make_pdu

from kontor.messaging.connectors import smpp
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import InboundRejection, Status
from tests.messaging import smpp_support
from tests.messaging.smpp_support import answered, balances, dispatched

pytestmark = pytest.mark.django_db

# The shared fixtures (assigned, not imported, so that pytest finds them here).
_fresh_connectors = smpp_support._fresh_connectors
options = smpp_support.options
smsc = smpp_support.smsc
tx_world = smpp_support.tx_world


def last_error(message) -> str:  # type: ignore[no-untyped-def]
    return message.events.order_by("-id").first().detail.get("error", "")


def test_enquire_link_on_idle_and_answered_when_asked(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-test", options | {"enquire_link_seconds": 0.2})
    dispatched(world, connector)
    smsc.wait_for(lambda: smsc.enquire_links >= 2, timeout=3)
    assert smsc.enquire_link()  # the SMSC's own enquire_link is answered
    assert len(smsc.binds) == 1 and smsc.bound


def test_a_silent_smsc_is_dropped_and_bound_again(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-test", options | {"enquire_link_seconds": 0.2, "timeout_seconds": 0.5})
    dispatched(world, connector)
    original = smsc._on_pdu
    smsc._on_pdu = lambda conn, raw: None  # swallows everything, answers nothing
    smsc.wait_for(lambda: not smsc.bound, timeout=5)  # no enquire_link_resp: the connector hangs up
    smsc._on_pdu = original
    _, outcome = dispatched(world, connector)
    assert outcome == "accepted" and len(smsc.binds) == 2


def test_smsc_down_keeps_the_message_queued_then_delivers_after_backoff(world, pool, smsc, options, caplog):
    caplog.set_level(logging.WARNING, logger="kontor.messaging.smpp")
    connector = smpp.SmppConnector("smpp-test", options | {"reconnect_base_seconds": 1.5})
    smsc.stop()
    message, outcome = dispatched(world, connector)
    assert outcome == "requeued" and message.status == Status.QUEUED
    assert "cannot connect" in last_error(message) and "bind to 127.0.0.1" in caplog.text
    assert balances(world) == (99, 1, 0)  # reserved, not lost
    smsc.start()
    # Within the backoff it does not even try: still queued.
    assert delivery.dispatch(message.pk, connector=connector) == "requeued"
    message.refresh_from_db()
    assert "next bind attempt in" in last_error(message) and smsc.binds == []
    time.sleep(connector._link.retry_in() + 0.05)
    assert delivery.dispatch(message.pk, connector=connector) == "accepted"
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED and message.downstream_id == f"smpp-test:{smsc.submitted[0].message_id}"
    assert balances(world) == (99, 0, 1)


def test_backoff_doubles_up_to_the_maximum(options):
    link = smpp._Link("x", smpp.SmppOptions.parse(options | {"reconnect_base_seconds": 1, "reconnect_max_seconds": 5}))
    delays = [link.backoff(n) for n in range(1, 6)]
    for delay, nominal in zip(delays, [1, 2, 4, 5, 5], strict=True):
        assert nominal <= delay <= nominal * 1.1


def test_a_dropped_connection_is_bound_again_at_once(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-test", options)
    dispatched(world, connector)
    smsc.drop()
    smsc.wait_for(lambda: not connector._link._session.alive)
    _, outcome = dispatched(world, connector)
    assert outcome == "accepted" and len(smsc.binds) == 2


def test_the_smsc_unbinding_is_a_drop_too(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-test", options)
    dispatched(world, connector)
    conn = smsc.bound[0]
    conn.send(make_pdu("unbind", client=smsc.seq))
    smsc.wait_for(lambda: not connector._link._session.alive)
    assert dispatched(world, connector)[1] == "accepted" and len(smsc.binds) == 2


def test_bind_refused_keeps_it_queued_and_logs(world, pool, smsc, options, caplog):
    caplog.set_level(logging.WARNING, logger="kontor.messaging.smpp")
    connector = smpp.SmppConnector("smpp-test", options | {"password": "wrong", "reconnect_base_seconds": 30})
    message, outcome = dispatched(world, connector)
    assert outcome == "requeued" and message.status == Status.QUEUED
    assert smsc.binds == [("kontor", "wrong", "bind_transceiver", 0x0E)]
    assert "bind_transceiver refused: 0x0000000E Invalid Password" in caplog.text
    assert delivery.dispatch(message.pk, connector=connector) == "requeued"
    assert len(smsc.binds) == 1  # backing off: no second attempt yet
    assert balances(world) == (99, 1, 0)


def test_binds_refused_by_the_smsc_then_allowed(world, pool, smsc, options):
    smsc.refuse_binds = 0x0D
    connector = smpp.SmppConnector("smpp-test", options)
    message, outcome = dispatched(world, connector)
    assert outcome == "requeued"
    smsc.refuse_binds = 0
    time.sleep(0.25)
    assert delivery.dispatch(message.pk, connector=connector) == "accepted"
    assert [b[3] for b in smsc.binds] == [0x0D, 0]


def test_transmitter_bind(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-tx", options | {"bind": "transmitter"})
    assert dispatched(world, connector)[1] == "accepted"
    assert smsc.binds[0][2] == "bind_transmitter"


@pytest.mark.django_db(transaction=True)
def test_garbage_from_the_smsc_is_rejected_not_fatal(tx_world, smsc, options, caplog):
    world = tx_world
    caplog.set_level(logging.WARNING, logger="kontor.messaging.smpp")
    connector = smpp.SmppConnector("smpp-test", options)
    dispatched(world, connector)
    # An unknown command: generic_nack "invalid command id", the session stays up.
    smsc.send_raw(struct.pack(">LLLL", 16, 0x00009999, 0, 4242))
    smsc.wait_for(lambda: smsc.nacks)
    assert smsc.nacks == [(4242, 0x03)] and "unknown command 0x00009999" in caplog.text
    # A deliver_sm whose body cannot be read (a TLV cut short): answered with a permanent error.
    body = b"\x00\x01\x01" + b"46701234567\x00" + b"\x01\x01" + b"4670111\x00" + bytes(10) + b"\x02\x04\x00\x02\x01"
    smsc.send_raw(struct.pack(">LLLL", 16 + len(body), 0x00000005, 0, 4243) + body)
    assert smsc.wait_for(lambda: smsc.responses.get(4243)) == ("deliver_sm_resp", 0x65)
    assert "unreadable deliver_sm (seq 4243) rejected" in caplog.text
    # One that reads, but as nonsense: a rejection the provider sees, answered as stored.
    smsc.send_raw(struct.pack(">LLLL", 20, 0x00000005, 0, 4244) + b"\xff\xff\xff\xff")
    assert smsc.wait_for(lambda: smsc.responses.get(4244)) == ("deliver_sm_resp", 0)
    assert InboundRejection.objects.get().reason == "bad_sender"
    assert connector._link._session.alive
    assert dispatched(world, connector)[1] == "accepted"
    assert len(smsc.binds) == 1
    # A length no PDU has: the stream is out of step, so the connector hangs up and binds again.
    smsc.send_raw(struct.pack(">L", 7) + b"garbage")
    smsc.wait_for(lambda: not connector._link._session.alive)
    assert "out of step" in caplog.text
    assert dispatched(world, connector)[1] == "accepted"
    assert len(smsc.binds) == 2


def test_deliver_sm_on_a_transmitter_bind_asks_the_smsc_to_retry(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-tx", options | {"bind": "transmitter"})
    dispatched(world, connector)
    sent = smsc.send_deliver("mo", receiver=smsc.bound[0], source_addr="46701234567", short_message=b"hi")
    assert answered(sent) == 0x64


def test_threads_share_one_bind_within_the_window(smsc, options):
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    connector = smpp.SmppConnector("smpp-test", options | {"window": 2})
    now = dt.datetime.now(dt.UTC)
    messages = [
        SimpleNamespace(
            reference=f"message:{n}", text=f"Hello {n} " * 30, from_number="Kontor", to_number=f"+4670{n:07d}"
        )
        for n in range(24)
    ]
    for m in messages:
        m.created_at = now
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(connector.submit, messages))
    assert all(r.accepted for r in results) and len({r.downstream_id for r in results}) == 24
    assert len(smsc.submitted) == 48 and len(smsc.binds) == 1  # two parts each
    by_message = {r.downstream_id: m for r, m in zip(results, messages, strict=True)}
    for part in smsc.submitted:
        if part.registered_delivery:
            assert by_message[f"smpp-test:{part.message_id}"].to_number.lstrip("+") == part.destination_addr
