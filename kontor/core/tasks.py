"""Background jobs of the core: mail delivery. Jobs run with the audit origin "job"."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django_tasks import task

from kontor.core.context import origin


@task()
def deliver_mail(subject: str, body: str, to: list[str]) -> None:
    with origin("job"):
        EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to).send()
