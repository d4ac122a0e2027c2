"""`kontor dispatch_pending`: dispatch scheduled messages that are due and queued ones a worker has not
picked up (run it every minute from cron or a timer; safe to run concurrently)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin
from kontor.messaging.delivery import dispatch, pending


class Command(BaseCommand):
    help = "Dispatch due scheduled messages and queued messages no worker has picked up."

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes: dict[str, int] = {}
        with origin("cli"):
            for message_id in pending():
                outcome = dispatch(message_id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing pending"
        self.stdout.write(summary)
