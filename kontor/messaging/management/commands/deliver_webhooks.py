"""`kontor deliver_webhooks`: send webhook deliveries whose next attempt is due (run it every minute
from cron or a timer; it is what retries when the task backend cannot defer; safe to run concurrently:
a delivery in flight is leased). At most KONTOR_SWEEP_LIMIT per run; one that breaks is logged and the
others are still sent."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin
from kontor.messaging.delivery.outbound import sweep_limit
from kontor.messaging.delivery.webhooks import deliver, due

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Send webhook deliveries that are due (first attempts no worker picked up, and retries)."

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes: dict[str, int] = {}
        with origin("cli"):
            for delivery_id in due(sweep_limit()):
                try:
                    outcome = deliver(delivery_id)
                except Exception:  # deliver never raises by design; a bug in it must not stop the sweep
                    log.exception("webhook delivery %s broke; the sweep goes on", delivery_id)
                    outcome = "error"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing due"
        self.stdout.write(summary)
