"""A burst over the send rate: the messages held back whose turn falls in the same second share one
deferred dispatch task, instead of one task each.

Transactional: the grouping happens on commit, which a test wrapped in one transaction never reaches."""

from __future__ import annotations

import datetime as dt

import pytest
from django_tasks import default_task_backend

from kontor.access.roles import sync_builtin_roles
from kontor.ledger.posting import pool_wallet
from kontor.messaging.connectors import simulator
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, RateCardEntry, Status
from kontor.messaging.services.messages import send_batch
from kontor.messaging.services.sendrate import set_send_rate
from tests.messaging.conftest import fund
from tests.world import build_world

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}


@pytest.fixture
def seeded_world(transactional_db):  # type: ignore[no-untyped-def]
    # An earlier transactional test may have flushed what the migrations seed.
    sync_builtin_roles()
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    world = build_world()
    fund(pool_wallet(world.acme.account), 100)
    return world


@pytest.fixture
def backend(settings):  # type: ignore[no-untyped-def]
    """A task backend that defers and only records what is enqueued."""
    settings.TASKS = DUMMY
    simulator.forget_all()
    yield default_task_backend
    simulator.forget_all()


@pytest.fixture(autouse=True)
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(delivery.timezone, "now", lambda: T0)


def burst(world, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    items = [("+46701234567", f"Hello {i}") for i in range(n)]
    return [m.pk for m in send_batch(world.acme.account, actor=world.acme.users["sender"], messages=items)]


def dispatch_tasks(backend) -> list[tuple[list[int], dt.datetime | None]]:  # type: ignore[no-untyped-def]
    """(message ids, run_after) of every dispatch task enqueued, in order."""
    out = []
    for result in backend.results:
        name = result.task.name
        if name == "dispatch_messages":
            out.append((list(result.args[0]), result.task.run_after))
        elif name == "dispatch_message":
            out.append(([result.args[0]], result.task.run_after))
    return out


def test_held_back_messages_share_one_task_per_second_of_their_turn(seeded_world, backend):
    world = seeded_world
    set_send_rate(world.acme.account, 2, actor=world.staff["tam"])
    ids = burst(world, 7)
    backend.clear()  # the batch's own dispatch task: this test runs the dispatch itself

    outcomes = delivery.dispatch_many(ids)

    assert outcomes == {"accepted": 2, "throttled": 5}
    turns = dict(Message.objects.filter(pk__in=ids[2:]).values_list("pk", "next_attempt_at"))
    assert [turns[pk] - T0 for pk in ids[2:]] == [dt.timedelta(seconds=s) for s in (0.5, 1, 1.5, 2, 2.5)]
    # Turns 0.5 | 1.0 1.5 | 2.0 2.5: three seconds, three tasks (not five), each run when its last is due.
    assert dispatch_tasks(backend) == [
        ([ids[2]], T0 + dt.timedelta(seconds=0.5)),
        ([ids[3], ids[4]], T0 + dt.timedelta(seconds=1.5)),
        ([ids[5], ids[6]], T0 + dt.timedelta(seconds=2.5)),
    ]
    assert set(Message.objects.filter(pk__in=ids[2:]).values_list("status", flat=True)) == {Status.QUEUED}


def test_one_message_dispatched_alone_still_gets_its_own_task(seeded_world, backend):
    world = seeded_world
    set_send_rate(world.acme.account, 1, actor=world.staff["tam"])
    first, second = burst(world, 2)
    backend.clear()
    assert delivery.dispatch(first) == "accepted"
    assert delivery.dispatch(second) == "throttled"
    assert dispatch_tasks(backend) == [([second], T0 + dt.timedelta(seconds=1))]


def test_a_batch_that_fails_half_way_still_enqueues_those_held_back(seeded_world, backend, monkeypatch):
    world = seeded_world
    set_send_rate(world.acme.account, 1, actor=world.staff["tam"])
    ids = burst(world, 3)
    backend.clear()
    real = delivery.dispatch

    def dies_on_the_last(message_id: int, **kw):  # type: ignore[no-untyped-def]
        if message_id == ids[2]:
            raise RuntimeError("worker killed")
        return real(message_id, **kw)

    monkeypatch.setattr(delivery, "dispatch", dies_on_the_last)
    with pytest.raises(RuntimeError):
        delivery.dispatch_many(ids)
    assert dispatch_tasks(backend) == [([ids[1]], T0 + dt.timedelta(seconds=1))]
