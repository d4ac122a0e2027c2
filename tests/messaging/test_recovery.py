"""A worker that dies between marking a message submitted and storing the connector's answer, and
delivery reports that overtake the acceptance they report on: nothing is lost, nothing charged twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import SubmitResult, simulator
from kontor.messaging.connectors.simulator import SimulatorConnector
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, PendingDlr, Status
from kontor.messaging.services.messages import send_message

pytestmark = pytest.mark.django_db

TO = "+46701234567"


@pytest.fixture(autouse=True)
def _fresh_simulator():
    simulator.forget_all()
    yield
    simulator.forget_all()


def balances(world):
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def statuses(message):
    return [e.status for e in message.events.order_by("at", "id")]


def journals(message, kind):
    return JournalTransaction.objects.filter(reference=message.reference, kind=kind).count()


def refunds(world):
    return JournalTransaction.objects.filter(kind="refund", customer=world.acme.customer).count()


class CrashAfterSubmit(SimulatorConnector):
    """The simulator takes the message, then the worker dies before the answer is stored."""

    def submit(self, message):
        super().submit(message)
        raise SystemExit("worker killed")


class NoLookup:
    """A connector that dedupes on the client reference but cannot answer lookups."""

    name = "simulator"

    def __init__(self, crash=False):
        self.crash = crash
        self.calls = 0

    def submit(self, message):
        self.calls += 1
        result = SimulatorConnector().submit(message)
        if self.crash:
            raise SystemExit("worker killed again")
        return result


def send(world, text="Hello"):
    return send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text=text)


def crash(message):
    with pytest.raises(SystemExit):
        delivery.dispatch(message.pk, connector=CrashAfterSubmit())
    message.refresh_from_db()
    assert message.status == Status.SUBMITTED


def age(message, seconds=301):
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - dt.timedelta(seconds=seconds))


def test_crash_then_sweep_settles_exactly_once(world, pool, run_commits):
    message = send(world)
    crash(message)
    assert balances(world) == (99, 1, 0)
    # Within the timeout the worker may just be slow: nobody touches it, and verify does not complain.
    assert delivery.stuck() == [] and delivery.recover(message.pk) == "not stuck"
    assert verify() == []
    age(message)
    assert delivery.stuck() == [message.pk]
    findings = verify()
    assert [f.what for f in findings] == ["hold"] and f"message {message.pk} is stuck" in findings[0].detail
    with run_commits():
        call_command("dispatch_pending")
    message.refresh_from_db()
    assert message.status == Status.DELIVERED and message.downstream_id.startswith("sim-")
    assert statuses(message) == ["queued", "submitted", "accepted", "delivered"]
    assert message.events.get(status=Status.ACCEPTED).detail["recovered"] == "lookup"
    assert balances(world) == (99, 0, 1) and journals(message, "consumption") == 1
    assert verify() == []
    # The sweep again, even with the message made to look stuck, settles nothing more.
    age(message)
    call_command("dispatch_pending")
    assert balances(world) == (99, 0, 1) and journals(message, "consumption") == 1


def test_crash_on_a_refused_message_releases(world, pool):
    message = send(world, "Hi #fail")
    crash(message)
    age(message)
    assert delivery.recover(message.pk) == "recovered failed"
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.error_code == "SIM-REJECT"
    assert balances(world) == (100, 0, 0) and journals(message, "release") == 1
    assert verify() == []


def test_connector_without_lookup_gets_it_again_under_the_same_reference(world, pool):
    message = send(world)
    crash(message)
    first = simulator.SimulatorConnector().lookup(message)
    assert first is not None and first.accepted
    age(message)
    connector = NoLookup()
    assert delivery.recover(message.pk, connector=connector) == "resubmitted accepted"
    message.refresh_from_db()
    # The connector deduped: the same downstream message, charged once.
    assert connector.calls == 1 and message.downstream_id == first.downstream_id
    assert statuses(message) == ["queued", "submitted", "submitted", "accepted"]
    assert message.attempts == 2
    assert message.events.filter(status=Status.SUBMITTED).last().detail["resubmit"] is True
    assert balances(world) == (99, 0, 1) and journals(message, "consumption") == 1
    assert verify() == []


def test_gives_up_after_the_resubmissions_and_releases(world, pool, settings):
    settings.KONTOR_SUBMIT_MAX_RESUBMITS = 2
    message = send(world)
    crash(message)
    for _ in range(2):
        age(message)
        with pytest.raises(SystemExit):
            delivery.recover(message.pk, connector=NoLookup(crash=True))
    age(message)
    assert delivery.recover(message.pk, connector=NoLookup(crash=True)) == "gave up"
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.error_code == "submit-timeout"
    assert statuses(message) == ["queued", "submitted", "submitted", "submitted", "failed"]
    assert message.attempts == 3
    assert balances(world) == (100, 0, 0) and journals(message, "release") == 1
    assert verify() == []
    age(message)
    assert delivery.recover(message.pk) == "not stuck" and journals(message, "release") == 1


def test_recover_leaves_other_states_alone(world, pool):
    message = send(world)
    age(message)
    assert delivery.recover(message.pk) == "not stuck"  # queued: dispatch's business, not recovery's
    assert delivery.recover(10**9) == "missing"
    assert balances(world) == (99, 1, 0)


class OvertakenBy:
    """Accepts, but the network's failure report arrives (once or more) before the answer is stored."""

    name = "overtaken"

    def __init__(self, *reports):
        self.reports = reports

    def submit(self, message):
        for status in self.reports:
            assert delivery.handle_dlr("ot-1", status, "NET-9", "Unreachable") is None
        return SubmitResult(True, downstream_id="ot-1")


@pytest.mark.parametrize("reports", [("failed",), ("failed", "failed")])
def test_early_failure_report_is_refunded_once_on_acceptance(world, pool, reports):
    message = send(world)
    connector = OvertakenBy(*reports)
    assert delivery.dispatch(message.pk, connector=connector) == "accepted"
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.error_code == "NET-9"
    assert statuses(message) == ["queued", "submitted", "accepted", "failed"]
    assert balances(world) == (100, 0, 0) and refunds(world) == 1
    assert not PendingDlr.objects.exists()
    # The same report again, now that the message is known: nothing more.
    delivery.handle_dlr("ot-1", "failed")
    assert balances(world) == (100, 0, 0) and refunds(world) == 1
    assert verify() == []


def test_early_report_waits_for_a_crashed_submission(world, pool):
    message = send(world, "x #undeliverable")
    crash(message)
    downstream_id = SimulatorConnector().lookup(message).downstream_id
    delivery.handle_dlr(downstream_id, "failed", "SIM-UNDELIV", "Handset unreachable")
    delivery.handle_dlr(downstream_id, "failed", "SIM-UNDELIV", "Handset unreachable")
    assert PendingDlr.objects.filter(downstream_id=downstream_id).count() == 1
    assert balances(world) == (99, 1, 0) and refunds(world) == 0
    age(message)
    call_command("dispatch_pending")
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.error_code == "SIM-UNDELIV"
    assert balances(world) == (100, 0, 0) and refunds(world) == 1
    assert journals(message, "consumption") == 1 and not PendingDlr.objects.exists()
    assert verify() == []


def test_sweep_applies_a_report_stored_while_the_acceptance_committed_and_prunes_old_ones(world, pool):
    message = send(world)
    accepting = type("Ok", (), {"name": "ok", "submit": lambda self, m: SubmitResult(True, "ok-7")})()
    assert delivery.dispatch(message.pk, connector=accepting) == "accepted"
    now = timezone.now()
    # The race: the report found no message, and was stored after the acceptance looked for reports.
    PendingDlr.objects.create(downstream_id="ok-7", status="expired", received_at=now)
    PendingDlr.objects.create(downstream_id="never-seen", status="failed", received_at=now - dt.timedelta(days=8))
    PendingDlr.objects.create(downstream_id="not-yet", status="failed", received_at=now - dt.timedelta(days=6))
    call_command("dispatch_pending")
    message.refresh_from_db()
    assert message.status == Status.EXPIRED and balances(world) == (100, 0, 0) and refunds(world) == 1
    assert list(PendingDlr.objects.values_list("downstream_id", flat=True)) == ["not-yet"]
    assert verify() == []


def test_early_delivered_report_settles_and_delivers(world, pool):
    message = send(world)
    assert delivery.dispatch(message.pk, connector=OvertakenBy("delivered")) == "accepted"
    message.refresh_from_db()
    assert message.status == Status.DELIVERED and balances(world) == (99, 0, 1) and refunds(world) == 0


def test_verify_reports_a_reservation_no_message_accounts_for(world, pool):
    message = send(world)
    assert verify() == []
    Message.objects.filter(pk=message.pk).update(status=Status.FAILED)  # lost its release
    findings = verify()
    assert len(findings) == 1
    assert findings[0].detail == (
        f"customer {world.acme.customer.pk}: hold wallet (SMS) holds 1 but its messages in flight reserve 0"
    )
    Message.objects.filter(pk=message.pk).update(status=Status.SCHEDULED)
    assert verify() == []
