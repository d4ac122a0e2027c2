"""Background jobs of messaging: dispatch to a connector and (simulated) delivery reports."""

from __future__ import annotations

from django_tasks import task

from kontor.core.context import origin


@task()
def dispatch_message(message_id: int) -> str:
    from kontor.messaging.delivery import dispatch

    with origin("job"):
        return dispatch(message_id)


@task()
def dispatch_messages(message_ids: list[int]) -> int:
    from kontor.messaging.delivery import dispatch_many

    with origin("job"):
        dispatch_many(message_ids)
    return len(message_ids)


@task()
def simulator_dlr(downstream_id: str, status: str, error_code: str = "", error_text: str = "") -> None:
    from kontor.messaging.delivery import handle_dlr

    with origin("job"):
        handle_dlr(downstream_id, status, error_code or None, error_text)


@task()
def deliver_webhook(delivery_id: int) -> str:
    from kontor.messaging.webhooks import deliver

    with origin("job"):
        return deliver(delivery_id)
