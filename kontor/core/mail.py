"""Mail is rendered when the transaction that caused it commits and handed to the worker, so a request
never waits on (or fails with) the mail server, and a rolled-back change sends nothing."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from kontor.core.tasks import deliver_mail

log = logging.getLogger(__name__)


def send_on_commit(template: str, context: dict[str, Any], to: list[str]) -> None:
    """Renders `<template>_subject.txt` and `<template>.txt` after commit and queues the delivery."""
    ctx = {"base_url": settings.KONTOR_BASE_URL, **context}

    def queue() -> None:
        subject = " ".join(render_to_string(f"{template}_subject.txt", ctx).split())
        body = render_to_string(f"{template}.txt", ctx)
        try:
            deliver_mail.enqueue(subject, body, list(to))
        except Exception:  # the change stands; a lost mail must not turn it into an error page
            log.exception("could not queue mail %s to %s", template, to)

    transaction.on_commit(queue, robust=True)
