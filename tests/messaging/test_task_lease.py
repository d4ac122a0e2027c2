"""At least once: a task whose worker died mid-run (kill -9) is run again once its lease expires, and
running a delivery-report task twice changes nothing the second time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from kontor.ledger.models import JournalTransaction
from kontor.ledger.verify import verify
from kontor.messaging.connectors import SubmitResult
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, Status
from kontor.messaging.services.messages import send_message
from kontor.ops.management.commands import worker

pytestmark = pytest.mark.django_db


class Accepting:
    name = "lease-test"

    def submit(self, message):
        return SubmitResult(True, downstream_id=f"lease-{message.pk}")


def accepted(world, text="Hello"):
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to="+46701234567", text=text)
    assert delivery.dispatch(message.pk, connector=Accepting()) == "accepted"
    message.refresh_from_db()
    return message


def dlr_task(message, *, started_ago: float, claims: int = 1) -> DBTaskResult:
    """A delivery-report task a worker claimed `started_ago` seconds ago and died running."""
    return DBTaskResult.objects.create(
        task_path="kontor.messaging.delivery.outbound.simulator_dlr",
        args_kwargs={"args": [message.downstream_id, "failed", "NET-1", "Unreachable"], "kwargs": {}},
        backend_name="default",
        queue_name="default",
        status="RUNNING",
        started_at=timezone.now() - dt.timedelta(seconds=started_ago),
        worker_ids=[f"dead-{n}" for n in range(claims)],
        run_after=get_date_max(),
        exception_class_path="",
        traceback="",
    )


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    # The worker loop closes "old" connections, which would end the test's transaction.
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)


def run_worker():
    heartbeat = worker.Heartbeat(60)
    worker.LeasedWorker(
        heartbeat=heartbeat,
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="alive",
        excluded_queue_names=[],
    ).run()


def refunds(message):
    return JournalTransaction.objects.filter(kind="refund", customer=message.customer).count()


def test_a_task_whose_worker_died_runs_again_after_its_lease(world, pool, settings):
    settings.KONTOR_TASK_LEASE_SECONDS = 60
    message = accepted(world)
    task = dlr_task(message, started_ago=30)
    # Within the lease the worker may just be slow: nothing is requeued.
    assert worker.requeue_expired_tasks() == (0, 0)
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - dt.timedelta(seconds=61))
    assert worker.requeue_expired_tasks() == (1, 0)
    task.refresh_from_db()
    assert task.status == "READY" and task.started_at is None
    run_worker()
    task.refresh_from_db()
    assert task.status == "SUCCESSFUL" and task.worker_ids == ["dead-0", "alive"]
    message.refresh_from_db()
    assert message.status == Status.FAILED and refunds(message) == 1
    assert worker.requeue_expired_tasks() == (0, 0)
    assert verify() == []


def test_a_task_killed_after_its_work_committed_changes_nothing_when_run_again(world, pool):
    message = accepted(world)
    delivery.handle_dlr(message.downstream_id, "failed", "NET-1", "Unreachable")  # the first run's work
    assert refunds(message) == 1
    dlr_task(message, started_ago=600)
    assert worker.requeue_expired_tasks() == (1, 0)
    run_worker()
    message.refresh_from_db()
    assert message.status == Status.FAILED and refunds(message) == 1
    assert [e.status for e in message.events.order_by("at", "id")] == ["queued", "submitted", "accepted", "failed"]
    assert verify() == []


def test_the_heartbeat_keeps_a_long_task_leased(world, pool, settings):
    settings.KONTOR_TASK_LEASE_SECONDS = 60
    message = accepted(world)
    task = dlr_task(message, started_ago=59)
    heartbeat = worker.Heartbeat(20)
    heartbeat.hold(task.pk)
    assert heartbeat.beat() == 1
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - dt.timedelta(seconds=59))
    heartbeat.beat()
    assert worker.requeue_expired_tasks() == (0, 0)
    heartbeat.drop()
    assert heartbeat.beat() == 0


def test_a_task_that_kills_every_worker_is_failed_not_handed_out_forever(world, pool, settings):
    settings.KONTOR_TASK_MAX_CLAIMS = 3
    message = accepted(world)
    task = dlr_task(message, started_ago=600, claims=3)
    assert worker.requeue_expired_tasks() == (0, 1)
    task.refresh_from_db()
    assert task.status == "FAILED" and task.exception_class_path == worker.LEASE_EXPIRED
    run_worker()
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED and Message.objects.filter(pk=message.pk).exists()


def test_a_task_the_database_keeps_refusing_is_enqueued_again_not_failed(world, pool, settings, monkeypatch):
    from django_tasks import default_task_backend

    from kontor.core.retry import Busy

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    message = accepted(world)

    def busy(*args, **kwargs):
        raise Busy()

    monkeypatch.setattr(delivery, "handle_dlr", busy)
    delivery.simulator_dlr.call(message.downstream_id, "failed", "NET-1", "Unreachable")  # does not raise
    [again] = default_task_backend.results
    assert again.task.name == "simulator_dlr"
    assert again.args == [message.downstream_id, "failed", "NET-1", "Unreachable"]
    assert again.task.run_after is not None and again.task.run_after > timezone.now()
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED  # nothing applied yet; the rerun will


def test_a_restarted_worker_sweeps_at_once_and_requeues_between_sweeps(monkeypatch, settings):
    import threading

    settings.KONTOR_TASK_LEASE_SECONDS = 0.04
    calls = []
    stop = threading.Event()

    def sweep():
        calls.append("sweep")

    def requeue():
        calls.append("requeue")
        if calls.count("requeue") == 2:
            stop.set()

    monkeypatch.setattr(worker, "sweep_once", sweep)
    monkeypatch.setattr(worker, "_requeue_quietly", requeue)
    # Sweeps an hour apart: the first one still runs at start, abandoned tasks every half lease.
    thread = threading.Thread(target=worker.sweep_forever, args=(3600, stop))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert calls == ["sweep", "requeue", "requeue"]
