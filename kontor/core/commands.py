from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kontor.core.context import origin


class KontorCommand(BaseCommand):
    """A management command whose changes are audited with source "cli"."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        with origin("cli"):
            return super().execute(*args, **options)
