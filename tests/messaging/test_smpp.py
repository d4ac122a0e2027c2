"""The SMPP connector against the test SMSC on 127.0.0.1, through delivery.dispatch: bind and submit,
long messages (UDH, SAR, message_payload; GSM-7 and UCS-2), delivery receipts settling and refunding
credits, refusals, and what dedupe the connector can and cannot do."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from kontor.ledger.verify import verify
from kontor.messaging.connectors import smpp, smpp_codec
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import ConnectorConfig, Message, PendingDlr, Status
from tests.messaging import smpp_support
from tests.messaging.smpp_support import answered, balances, dispatched, send

pytestmark = pytest.mark.django_db

# The shared fixtures (assigned, not imported, so that pytest finds them here).
_fresh_connectors = smpp_support._fresh_connectors
options = smpp_support.options
smsc = smpp_support.smsc
tx_world = smpp_support.tx_world


@pytest.fixture
def connector(options):
    return smpp.SmppConnector("smpp-test", options)


def statuses(message: Message) -> list[str]:
    return [e.status for e in message.events.order_by("at", "id")]


def test_binds_once_submits_and_settles(world, pool, smsc, connector):
    message, outcome = dispatched(world, connector, "Hello")
    assert outcome == "accepted"
    [part] = smsc.submitted
    assert message.status == Status.ACCEPTED and message.connector == "smpp-test"
    assert message.downstream_id == f"smpp-test:{part.message_id}"  # named by the connector, as HTTP ids
    assert (part.source_addr, part.source_addr_ton, part.source_addr_npi) == ("Kontor", 5, 0)
    assert (part.destination_addr, part.dest_addr_ton, part.dest_addr_npi) == ("46701234567", 1, 1)
    assert (part.esm_class, part.data_coding, part.registered_delivery, part.short_message) == (0, 0, 1, b"Hello")
    assert balances(world) == (99, 0, 1)  # settled on acceptance
    second, outcome = dispatched(world, connector, "Again")
    assert outcome == "accepted" and second.downstream_id == f"smpp-test:{smsc.submitted[1].message_id}"
    assert smsc.binds == [("kontor", "secret", "bind_transceiver", 0)]  # one session, reused
    # Another instance of the same connector (the registry may build one per call) shares the bind.
    third, _ = dispatched(world, smpp.build("smpp-test", connector.options.__dict__), "Third")
    assert third.status == Status.ACCEPTED and len(smsc.binds) == 1


def test_three_part_gsm_message_is_concatenated_with_a_udh(world, pool, smsc, connector):
    text = "Part one " * 17 + "{€}" + "and the rest " * 15
    message, outcome = dispatched(world, connector, text)
    assert outcome == "accepted" and message.segments == 3 and message.credits == 3
    parts = smsc.submitted
    assert len(parts) == 3
    ref = parts[0].udh[3]
    assert [p.udh for p in parts] == [bytes((5, 0, 3, ref, 3, n)) for n in (1, 2, 3)]
    assert {(p.esm_class, p.data_coding) for p in parts} == {(0x40, 0)}
    assert "".join(p.text for p in parts) == text
    # Only the last part asks for a receipt, and its id is the message's.
    assert [p.registered_delivery for p in parts] == [0, 0, 1]
    assert message.downstream_id == f"smpp-test:{parts[2].message_id}"
    assert balances(world) == (97, 0, 3)


def test_ucs2_message(world, pool, smsc, connector):
    text = "Привет, мир! Как дела? " * 4  # 92 UTF-16 units: two parts
    message, outcome = dispatched(world, connector, text)
    assert outcome == "accepted" and message.encoding == "ucs2" and message.segments == 2
    parts = smsc.submitted
    assert [p.data_coding for p in parts] == [8, 8]
    assert [p.udh[4:] for p in parts] == [b"\x02\x01", b"\x02\x02"]
    assert "".join(p.body.decode("utf-16-be") for p in parts) == text


def test_sar_tlvs_instead_of_a_udh(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-sar", options | {"concatenation": "sar"})
    _, outcome = dispatched(world, connector, "x" * 200)
    assert outcome == "accepted"
    parts = smsc.submitted
    assert [p.udh for p in parts] == [b"", b""] and {p.esm_class for p in parts} == {0}
    ref = parts[0].tlvs["sar_msg_ref_num"]
    assert [p.tlvs for p in parts] == [
        {"sar_msg_ref_num": ref, "sar_total_segments": 2, "sar_segment_seqnum": n} for n in (1, 2)
    ]


def test_message_payload_sends_the_whole_text_at_once(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-payload", options | {"use_message_payload": True})
    _, outcome = dispatched(world, connector, "y" * 200)
    [part] = smsc.submitted
    assert outcome == "accepted" and part.short_message == b"" and part.body == b"y" * 200


@pytest.mark.parametrize("with_tlvs", [False, True])
@pytest.mark.parametrize(
    ("outcome", "status", "error_code", "pool_after"),
    [
        ("delivered", Status.DELIVERED, "", 99),
        ("undeliverable", Status.FAILED, "SMPP-UNDELIV-001", 100),
        ("rejected", Status.FAILED, "SMPP-REJECTD-002", 100),
        ("expired", Status.EXPIRED, "SMPP-EXPIRED-000", 100),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_receipts_update_status_and_credits(
    tx_world, smsc, connector, with_tlvs, outcome, status, error_code, pool_after
):
    world = tx_world
    smsc.with_tlvs = with_tlvs
    message, _ = dispatched(world, connector, "Hello")
    assert message.status == Status.ACCEPTED and balances(world) == (99, 0, 1)
    [part] = smsc.submitted
    sent = smsc.send_receipt(part.message_id, outcome, source="46701234567", dest="Kontor")
    assert answered(sent) == 0
    message.refresh_from_db()
    assert message.status == status and message.error_code == error_code
    assert statuses(message) == ["queued", "submitted", "accepted", status]
    assert balances(world) == (pool_after, 0, 100 - pool_after)  # refunded unless delivered
    again = smsc.send_receipt(part.message_id, outcome)  # a repeated receipt changes nothing
    assert answered(again) == 0
    message.refresh_from_db()
    assert message.status == status and balances(world) == (pool_after, 0, 100 - pool_after)
    assert verify() == []


@pytest.mark.django_db(transaction=True)
def test_receipts_the_smsc_sends_by_itself(tx_world, smsc, connector):
    world = tx_world
    smsc.dlr, smsc.dlr_delay = "delivered", 0.3
    message, _ = dispatched(world, connector, "Hello")
    smsc.wait_for(lambda: smsc.sent and smsc.sent[0].answered.is_set())
    # A receipt may overtake the acceptance being stored; the sweep applies it then.
    delivery.resolve_pending_dlrs()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    failing, _ = dispatched(world, connector, "Hello #undeliverable")
    smsc.wait_for(lambda: len(smsc.sent) == 2 and smsc.sent[1].answered.is_set())
    delivery.resolve_pending_dlrs()
    failing.refresh_from_db()
    assert failing.status == Status.FAILED and failing.error_code == "SMPP-UNDELIV-001"


@pytest.mark.django_db(transaction=True)
def test_intermediate_and_unknown_receipts(tx_world, smsc, connector, caplog):
    world = tx_world
    message, _ = dispatched(world, connector, "Hello")
    [part] = smsc.submitted
    for stat in ("ACCEPTD", "ENROUTE"):
        sent = smsc.send_deliver("dlr", esm_class=4, short_message=f"id:{part.message_id} stat:{stat}".encode())
        assert answered(sent) == 0
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED
    # A receipt for an id nobody carries (yet) is kept, as handle_dlr keeps it.
    assert answered(smsc.send_receipt("nobody-has-this", "delivered")) == 0
    assert PendingDlr.objects.filter(downstream_id="smpp-test:nobody-has-this").exists()
    caplog.set_level(logging.WARNING, logger="kontor.messaging.smpp")
    garbage = smsc.send_deliver("dlr", esm_class=4, short_message=b"\xff\xfe what is this")
    assert answered(garbage) == 0x65  # permanent application error: do not send it again
    assert "unreadable delivery receipt rejected" in caplog.text
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED


@pytest.mark.django_db(transaction=True)
def test_a_receipt_from_one_smsc_cannot_settle_a_message_another_numbered_alike(tx_world, smsc, options):
    world = tx_world
    # Two connectors bound to one SMSC: its ids are the same space for both, as two SMSCs numbering
    # alike would be. "a" binds first, so its connection is the first the SMSC accepted.
    a = smpp.SmppConnector("smpp-a", options)
    a._link.session()
    b = smpp.SmppConnector("smpp-b", options)
    message, outcome = dispatched(world, b, "Hello")
    [part] = smsc.submitted
    assert outcome == "accepted" and message.downstream_id == f"smpp-b:{part.message_id}"
    on_a, on_b = smsc.bound
    receipt = smpp_codec.receipt_text(part.message_id, "UNDELIV", "001")

    # "a"'s SMSC reports on an id of its own that happens to be b's raw id: b's message is untouched,
    # not refunded; the receipt waits for a message of "a" with that id.
    assert answered(smsc.send_deliver("dlr", receiver=on_a, esm_class=4, short_message=receipt)) == 0
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED and balances(world) == (99, 0, 1)
    assert list(PendingDlr.objects.values_list("downstream_id", flat=True)) == [f"smpp-a:{part.message_id}"]

    # The same receipt from b's own SMSC applies.
    assert answered(smsc.send_deliver("dlr", receiver=on_b, esm_class=4, short_message=receipt)) == 0
    message.refresh_from_db()
    assert message.status == Status.FAILED and balances(world) == (100, 0, 0)
    assert verify() == []


def test_downstream_ids_fit_their_column_without_merging_ids():
    assert smpp_codec.downstream_id("smpp-a", "0a1b2c") == "smpp-a:0a1b2c"
    assert smpp_codec.downstream_id("smpp-a", "") == ""  # no id: nothing a receipt could match
    name = "n" * 40  # the longest connector name, with the longest SMPP message_id (64)
    one, other = (smpp_codec.downstream_id(name, "x" * 63 + end) for end in "12")
    assert len(one) == len(other) == 100 and one != other  # a cut would have made them one
    assert one.startswith(f"{name}:sha256:") and one == smpp_codec.downstream_id(name, "x" * 63 + "1")


def test_refused_at_submit_releases_the_reservation(world, pool, smsc, connector):
    smsc.submit_status = 0x0B
    message, outcome = dispatched(world, connector, "Hello")
    assert outcome == "failed" and message.status == Status.FAILED
    assert (message.error_code, message.error_text) == ("SMPP-0x0000000B", "Invalid Destination Address")
    assert balances(world) == (100, 0, 0)
    assert statuses(message) == ["queued", "submitted", "failed"]


def test_a_part_refused_refuses_the_message(world, pool, smsc, connector):
    smsc.submit_status = lambda part: 0x45 if part.udh[-1:] == b"\x02" else 0
    message, outcome = dispatched(world, connector, "z" * 400)
    assert outcome == "failed" and message.error_code == "SMPP-0x00000045"
    assert len(smsc.submitted) == 1  # part one got through; the last (the receipt's) was never sent
    assert balances(world) == (100, 0, 0)


@pytest.mark.parametrize("status", [0x58, 0x14])
def test_throttled_or_queue_full_stays_queued(world, pool, smsc, connector, status):
    smsc.submit_status = status
    message, outcome = dispatched(world, connector, "Hello")
    assert outcome == "requeued" and message.status == Status.QUEUED
    assert "SmscBusy" in message.events.order_by("-id").first().detail["error"]
    assert balances(world) == (99, 1, 0)  # still reserved
    smsc.submit_status = 0
    assert delivery.dispatch(message.pk, connector=connector) == "accepted"


def test_the_same_message_twice_is_sent_once_in_this_process(world, pool, smsc, connector):
    message = send(world)
    first = connector.submit(message)
    again = smpp.SmppConnector("smpp-test", connector.options.__dict__).submit(message)
    assert first == again and first.accepted and len(smsc.submitted) == 1
    assert connector.lookup(message) == first


def _died_after_submit(connector, message: Message) -> None:
    """A worker that marked the message submitted, handed it over, and died before storing the answer."""
    Message.objects.filter(pk=message.pk).update(status=Status.SUBMITTED)
    assert connector.submit(message).accepted


def test_recover_asks_the_smsc_with_query_sm_after_a_restart(world, pool, smsc, connector):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    message = send(world)
    _died_after_submit(connector, message)
    assert delivery.recover(message.pk, connector=connector, now=later) == "recovered accepted"
    assert len(smsc.submitted) == 1 and smsc.queries == []  # this process remembered the answer
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED and message.downstream_id == f"smpp-test:{smsc.submitted[0].message_id}"
    # A new process remembers nothing, but the SMSC's id was stored when its answer came: it asks.
    other = send(world, "Second")
    _died_after_submit(connector, other)
    smpp.forget_all()
    other.refresh_from_db()
    assert other.status == Status.SUBMITTED and other.downstream_id == f"smpp-test:{smsc.submitted[1].message_id}"
    assert delivery.recover(other.pk, connector=connector, now=later) == "recovered accepted"
    assert smsc.queries == [smsc.submitted[1].message_id]
    assert [p.body for p in smsc.submitted] == [b"Hello", b"Second"]  # not sent twice
    other.refresh_from_db()
    assert other.status == Status.ACCEPTED and other.events.get(status=Status.ACCEPTED).detail["recovered"] == "lookup"
    assert balances(world) == (98, 0, 2)
    assert verify() == []


def _died_waiting(message: Message) -> None:
    """A worker that marked the message submitted and died before any submit_sm_resp came."""
    Message.objects.filter(pk=message.pk).update(status=Status.SUBMITTED)


@pytest.mark.parametrize(
    ("policy", "outcome", "status", "sent", "wallets"),
    [
        ("fail", "failed by policy", Status.FAILED, [], (100, 0, 0)),
        ("resubmit", "resubmitted accepted", Status.ACCEPTED, [b"Hello"], (99, 0, 1)),
    ],
)
def test_without_an_id_to_ask_about_the_connectors_policy_decides(
    world, pool, smsc, connector, options, policy, outcome, status, sent, wallets
):
    ConnectorConfig.objects.create(name="smpp-test", kind="smpp", options=options, resubmit_policy=policy)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    message = send(world)
    _died_waiting(message)
    assert connector.lookup(Message.objects.get(pk=message.pk)) is None  # nobody can tell
    assert delivery.recover(message.pk, connector=connector, now=later) == outcome
    message.refresh_from_db()
    assert message.status == status and [p.body for p in smsc.submitted] == sent
    if policy == "fail":
        assert message.error_code == "submit-unknown" and "policy" in message.error_text
    else:
        assert message.events.filter(status=Status.SUBMITTED).last().detail["lookup"] == "cannot tell"
    assert balances(world) == wallets
    assert verify() == []


def test_a_receipt_for_a_message_still_marked_submitted_waits_for_its_acceptance(world, pool, smsc, connector):
    message = send(world, "Hi #undeliverable")
    _died_after_submit(connector, message)
    message.refresh_from_db()
    delivery.handle_dlr(message.downstream_id, "failed", "001", "Undeliverable")
    assert PendingDlr.objects.filter(downstream_id=message.downstream_id).count() == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    smpp.forget_all()
    assert delivery.recover(message.pk, connector=connector, now=later) == "recovered accepted"
    message.refresh_from_db()
    assert message.status == Status.FAILED and balances(world) == (100, 0, 0)
    assert not PendingDlr.objects.exists() and verify() == []


def test_a_receiver_bind_cannot_submit(world, pool, smsc, options):
    connector = smpp.SmppConnector("smpp-rx", options | {"bind": "receiver"})
    message, outcome = dispatched(world, connector, "Hello")
    assert outcome == "requeued" and message.status == Status.QUEUED
    assert smsc.submitted == []
