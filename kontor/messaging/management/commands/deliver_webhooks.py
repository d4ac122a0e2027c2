"""`kontor deliver_webhooks`: send webhook deliveries whose next attempt is due (run it every minute
from cron or a timer; it is what retries when the task backend cannot defer; safe to run concurrently)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin
from kontor.messaging.webhooks import deliver, due


class Command(BaseCommand):
    help = "Send webhook deliveries that are due (first attempts no worker picked up, and retries)."

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes: dict[str, int] = {}
        with origin("cli"):
            for delivery_id in due():
                outcome = deliver(delivery_id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing due"
        self.stdout.write(summary)
