from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the background worker (django-tasks, database backend) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls when idle.")
        parser.add_argument("--batch", action="store_true", help="Exit once the queue is empty.")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = ["--interval", str(options["interval"]), "--no-reload", "--no-startup-delay"]
        if options["batch"]:
            argv.append("--batch")
        call_command("db_worker", *argv)
