"""Runs the web server and the background worker together; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from kontor.ops.management.commands.load_demo import DEMO_PASSWORD, demo_logins


class Command(BaseCommand):
    help = "Start the web server and the worker for the demo, print the logins, stop both on Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        kontor = [sys.executable, "-m", "kontor"]
        procs = [
            subprocess.Popen([*kontor, "runserver", options["addr"], "--noreload", "--nostatic"]),  # noqa: S603
            subprocess.Popen([*kontor, "worker"]),  # noqa: S603
        ]
        self._banner(options["addr"])
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.3)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            self.stdout.write("Kontor demo stopped.")
        failed = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(1)

    def _banner(self, addr: str) -> None:
        w = self.stdout.write
        w("")
        w(self.style.SUCCESS(f"Kontor is running at http://{addr}/  (API docs: http://{addr}/api/v1/docs)"))
        w(f"All demo users share the password: {DEMO_PASSWORD}   (PIN 1234)")
        for who, email in demo_logins():
            w(f"  {who:<52} {email}")
        mail_to = settings.EMAIL_HOST or getattr(settings, "EMAIL_FILE_PATH", "")
        w(f"Outgoing mail (welcome links, resets) goes to {mail_to}")
        w("Press Ctrl-C to stop the web server and the worker.")
        w("")
