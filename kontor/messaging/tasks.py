"""Background jobs of messaging: dispatch to a connector, (simulated) delivery reports, webhook delivery.

Each runs at least once (a task whose worker died is run again when its lease expires, see `kontor
worker`), so each handler is idempotent: a second run finds the work done and changes nothing. Their
transactions are retried whole on a deadlock (kontor.core.retry); when the database stays busy through
every attempt, the task is enqueued again a little later instead of failing for good."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone
from django_tasks import task

from kontor.core.context import origin
from kontor.core.retry import Busy

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 5


def _again_later(job: Any, *args: Any) -> None:
    """Enqueue `job` again in a few seconds (the database was busy); where the backend cannot defer,
    the sweeps pick the work up instead."""
    if not job.get_backend().supports_defer:
        return
    log.warning("%s%r: database busy; enqueued again", job.name, args)
    job.using(run_after=timezone.now() + dt.timedelta(seconds=BUSY_RETRY_SECONDS)).enqueue(*args)


@task()
def dispatch_message(message_id: int) -> str:
    from kontor.messaging.delivery import dispatch

    with origin("job"):
        try:
            return dispatch(message_id)
        except Busy:
            _again_later(dispatch_message, message_id)
            return "busy"


@task()
def dispatch_messages(message_ids: list[int]) -> int:
    from kontor.messaging.delivery import dispatch_many

    with origin("job"):
        try:
            dispatch_many(message_ids)
        except Busy:
            # Those already dispatched are done; dispatching them again is a no-op.
            _again_later(dispatch_messages, message_ids)
    return len(message_ids)


@task()
def simulator_dlr(downstream_id: str, status: str, error_code: str = "", error_text: str = "") -> None:
    from kontor.messaging.delivery import handle_dlr

    with origin("job"):
        try:
            handle_dlr(downstream_id, status, error_code or None, error_text)
        except Busy:
            _again_later(simulator_dlr, downstream_id, status, error_code, error_text)


@task()
def deliver_webhook(delivery_id: int) -> str:
    from kontor.messaging.webhooks import deliver

    with origin("job"):
        return deliver(delivery_id)
