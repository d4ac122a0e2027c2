"""Background jobs of the core (mail delivery) and what every app's tasks share (again_later). Jobs run
with the audit origin "job".

At least once, like every task (`kontor worker` runs a task again when its worker died): mail is the
one handler that is not idempotent. A worker killed after the mail server accepted the message and
before the task was marked done sends it a second time on the rerun; there is no reference the mail
server could dedupe on, and a lost password-reset or welcome mail would be worse than a duplicate."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone
from django_tasks import task

from kontor.core.context import origin

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 5


def again_later(job: Any, *args: Any) -> None:
    """Enqueue `job` again in a few seconds (the database was busy); where the backend cannot defer,
    the sweeps pick the work up instead."""
    if not job.get_backend().supports_defer:
        return
    log.warning("%s%r: database busy; enqueued again", job.name, args)
    job.using(run_after=timezone.now() + dt.timedelta(seconds=BUSY_RETRY_SECONDS)).enqueue(*args)


@task()
def deliver_mail(subject: str, body: str, to: list[str]) -> None:
    with origin("job"):
        EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to).send()
