"""`kontor dispatch_pending`: recover submissions whose worker died before storing the connector's
answer, apply delivery reports that overtook their acceptance (and prune old ones), dispatch scheduled
messages that are due and queued ones a worker has not picked up, and drop the parts of long inbound
messages that never completed (run it every minute from cron or a timer; `kontor worker` does; safe to
run concurrently).

Stuck submissions go first and each kind of work is bounded (KONTOR_SWEEP_LIMIT rows), so a big queued
backlog never delays recovery. Each row is its own retried transaction: one that fails is logged and
counted, and the sweep goes on with the next."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin
from kontor.messaging.delivery.inbound import expire_partials
from kontor.messaging.delivery.outbound import dispatch, pending, recover, resolve_pending_dlrs, stuck

log = logging.getLogger(__name__)


def each(ids: Iterable[int], work: Callable[[int], str], outcomes: dict[str, int], what: str) -> None:
    """Run `work` on every id; a row that raises is logged and counted as an error, not fatal."""
    for row_id in ids:
        try:
            outcome = work(row_id)
        except Exception:
            log.exception("%s of message %s failed; the sweep goes on", what, row_id)
            outcome = f"{what} errors"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1


class Command(BaseCommand):
    help = "Recover stuck submissions, settle early delivery reports, dispatch due and forgotten messages."

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes: dict[str, int] = {}
        with origin("cli"):
            each(stuck(), recover, outcomes, "recovery")
            try:
                applied, pruned = resolve_pending_dlrs()
            except Exception:
                log.exception("early delivery reports not resolved; the sweep goes on")
                applied = pruned = 0
                outcomes["early report errors"] = 1
            each(pending(), dispatch, outcomes, "dispatch")
            try:
                expired = expire_partials()
            except Exception:
                log.exception("incomplete inbound parts not expired; the sweep goes on")
                expired = 0
        if applied:
            outcomes["early reports applied"] = applied
        if pruned:
            outcomes["early reports pruned"] = pruned
        if expired:
            outcomes["incomplete inbound messages dropped"] = expired
        summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())) or "nothing pending"
        self.stdout.write(summary)
