from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from kontor.core.commands import KontorCommand
from kontor.ledger.verify import totals, verify


class Command(KontorCommand):
    help = (
        "Ledger tools. `kontor ledger verify`: prove balance = sum of postings for every wallet and that "
        "every journal transaction sums to zero."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args: Any, **options: Any) -> None:
        findings = verify()
        wallets, journals, postings = totals()
        if findings:
            for finding in findings:
                self.stderr.write(f"FAIL {finding.detail}")
            raise CommandError(f"ledger verification failed: {findings[0].detail}")
        self.stdout.write(
            self.style.SUCCESS(
                f"ledger OK: {wallets} wallets, {journals} journal transactions, {postings} postings; "
                "every balance equals the sum of its postings and every transaction sums to zero"
            )
        )
