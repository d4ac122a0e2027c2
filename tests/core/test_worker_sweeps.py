"""The worker's sweeps pick up what no task carries: a queued message whose task was lost."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.utils import timezone

from kontor.ledger.posting import pool_wallet
from kontor.messaging.models import Message, Status
from kontor.messaging.services.messages import send_message
from kontor.ops.management.commands import worker
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db


def test_a_sweep_dispatches_a_message_whose_task_was_lost(world, monkeypatch):
    fund(pool_wallet(world.acme.account), 10)
    monkeypatch.setattr("kontor.messaging.delivery.outbound.enqueue_dispatch", lambda *a, **k: None)  # the lost task
    message = send_message(world.acme.account, actor=world.acme.user("sender"), to="+46701234567", text="hi")
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    monkeypatch.setattr(worker.connection, "close", lambda: None)  # keep the test's transaction
    worker.sweep_once()
    message.refresh_from_db()
    assert message.status in (Status.ACCEPTED, Status.DELIVERED)


def test_a_failing_sweep_does_not_stop_the_others(monkeypatch):
    ran = []

    def command(name, **kwargs):
        ran.append(name)
        if name == "dispatch_pending":
            raise RuntimeError("database away")

    monkeypatch.setattr(worker, "call_command", command)
    monkeypatch.setattr(worker.connection, "close", lambda: None)
    worker.sweep_once()
    assert ran == list(worker.SWEEPS)


def test_the_sweep_thread_runs_until_stopped(monkeypatch):
    rounds = []
    stop = threading.Event()

    def once():
        rounds.append(1)
        if len(rounds) == 2:
            stop.set()

    monkeypatch.setattr(worker, "sweep_once", once)
    thread = threading.Thread(target=worker.sweep_forever, args=(0.01, stop))
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(rounds) == 2
