"""Mail goes out only once the transaction that caused it has committed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string


def send_on_commit(template: str, context: dict[str, Any], to: list[str]) -> None:
    """Renders `<template>_subject.txt`, `<template>.txt` (and `.html` if present) after commit."""
    ctx = {"base_url": settings.KONTOR_BASE_URL, **context}

    def send() -> None:
        subject = " ".join(render_to_string(f"{template}_subject.txt", ctx).split())
        body = render_to_string(f"{template}.txt", ctx)
        message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to)
        message.send()

    transaction.on_commit(send)
