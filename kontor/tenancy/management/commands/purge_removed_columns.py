"""`kontor purge_removed_columns`: delete for good the contact values of custom columns removed more than
30 days ago (until then, adding the column again brings them back). Safe to run at any time and often."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kontor.tenancy.columns import RETENTION, purge_removed_columns


class Command(BaseCommand):
    help = f"Purge the values of custom columns removed more than {RETENTION.days} days ago."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = purge_removed_columns()
        self.stdout.write(f"purged {purged} removed column(s)")
