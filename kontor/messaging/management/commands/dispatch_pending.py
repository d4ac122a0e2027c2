"""`kontor dispatch_pending`: dispatch scheduled messages that are due and queued ones a worker has not
picked up, recover submissions whose worker died before storing the connector's answer, apply delivery
reports that overtook their acceptance and prune old ones (run it every minute from cron or a timer;
safe to run concurrently)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin
from kontor.messaging.delivery import dispatch, pending, recover, resolve_pending_dlrs, stuck


class Command(BaseCommand):
    help = "Dispatch due and forgotten messages, recover stuck submissions, settle early delivery reports."

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes: dict[str, int] = {}
        with origin("cli"):
            for message_id in pending():
                outcome = dispatch(message_id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            for message_id in stuck():
                outcome = recover(message_id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            applied, pruned = resolve_pending_dlrs()
        if applied:
            outcomes["early reports applied"] = applied
        if pruned:
            outcomes["early reports pruned"] = pruned
        summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing pending"
        self.stdout.write(summary)
