"""`kontor worker`: the django-tasks database worker, plus the sweeps that pick up what no task carries
(due scheduled messages, lost or stuck dispatches, early delivery reports, due webhook retries), every
`--sweep-seconds` in a thread of the same process, so a deployment needs no cron entry for them."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

log = logging.getLogger(__name__)

SWEEPS = ("dispatch_pending", "deliver_webhooks")


def sweep_once() -> None:
    """Run every sweep once; one that fails is logged and the others still run."""
    for name in SWEEPS:
        try:
            call_command(name, stdout=io.StringIO())
        except Exception:
            log.exception("sweep %s failed", name)
        finally:
            connection.close()  # this thread's; the next round opens a fresh one


def sweep_forever(every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        sweep_once()


class Command(BaseCommand):
    help = "Run the background worker (django-tasks, database backend) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls when idle.")
        parser.add_argument("--batch", action="store_true", help="Exit once the queue is empty.")
        parser.add_argument(
            "--sweep-seconds",
            type=float,
            default=60.0,
            help="Seconds between sweeps (dispatch_pending, deliver_webhooks); 0 turns them off.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        argv = ["--interval", str(options["interval"]), "--no-reload", "--no-startup-delay"]
        stop = threading.Event()
        if options["batch"]:
            argv.append("--batch")
        elif options["sweep_seconds"] > 0:
            threading.Thread(
                target=sweep_forever, args=(options["sweep_seconds"], stop), name="kontor-sweeps", daemon=True
            ).start()
        try:
            call_command("db_worker", *argv)
        finally:
            stop.set()
