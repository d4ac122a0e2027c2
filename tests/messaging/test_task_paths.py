"""A queued task keeps the import path it was enqueued under. The tasks moved when messaging was laid
out by layer; a task stored under an old path must still run after an upgrade."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string
from django_tasks.base import Task

from kontor.messaging.delivery import outbound
from kontor.messaging.delivery import webhooks as webhook_delivery

OLD_PATHS = {
    "kontor.messaging.delivery.dispatch_message": outbound.dispatch_message,
    "kontor.messaging.delivery.dispatch_messages": outbound.dispatch_messages,
    "kontor.messaging.delivery.simulator_dlr": outbound.simulator_dlr,
    "kontor.messaging.webhooks.deliver_webhook": webhook_delivery.deliver_webhook,
}


@pytest.mark.parametrize("path", sorted(OLD_PATHS))
def test_a_task_stored_under_its_old_path_still_imports(path):
    task = import_string(path)
    assert isinstance(task, Task)
    assert task is OLD_PATHS[path]


def test_new_tasks_are_stored_under_their_new_paths():
    assert outbound.dispatch_message.module_path == "kontor.messaging.delivery.outbound.dispatch_message"
    assert webhook_delivery.deliver_webhook.module_path == "kontor.messaging.delivery.webhooks.deliver_webhook"
