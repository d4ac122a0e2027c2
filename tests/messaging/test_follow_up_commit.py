"""The simulator's delivery report is enqueued in the transaction that stores the acceptance, so a worker
killed right after that commit cannot leave the message "accepted" forever (found by `bench crash`)."""

from __future__ import annotations

import pytest

from kontor.messaging.connectors.simulator import SimulatorConnector
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, Status
from kontor.messaging.services.messages import send_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_tasks(settings):
    """A backend that keeps what is enqueued, like the database backend, instead of running it."""
    from django_tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    backend = task_backends["default"]
    backend.clear()
    return backend


def test_the_report_task_is_written_before_the_acceptance_commits(world, pool, stored_tasks):
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to="+46701234567", text="Hi")
    # The test's transaction never commits: whatever waits for a commit is never enqueued here.
    assert delivery.dispatch(message.pk, connector=SimulatorConnector()) == "accepted"
    assert Message.objects.get(pk=message.pk).status == Status.ACCEPTED
    reports = [r for r in stored_tasks.results if r.task.name == "simulator_dlr"]
    assert [r.args[0] for r in reports] == [Message.objects.get(pk=message.pk).downstream_id]
