"""Background jobs of the core: mail delivery. Jobs run with the audit origin "job".

At least once, like every task (`kontor worker` runs a task again when its worker died): mail is the
one handler that is not idempotent. A worker killed after the mail server accepted the message and
before the task was marked done sends it a second time on the rerun; there is no reference the mail
server could dedupe on, and a lost password-reset or welcome mail would be worse than a duplicate."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django_tasks import task

from kontor.core.context import origin


@task()
def deliver_mail(subject: str, body: str, to: list[str]) -> None:
    with origin("job"):
        EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to).send()
