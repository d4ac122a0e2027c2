"""Proofs over the whole ledger, in set-based SQL so they stay fast on millions of postings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

SIGNED = "CASE p.direction WHEN 'in' THEN p.amount ELSE -p.amount END"


@dataclass(frozen=True)
class Finding:
    what: str
    detail: str


def first_unbalanced_wallet() -> Finding | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT w.id, w.kind, w.unit, w.balance, COALESCE(SUM({SIGNED}), 0) AS total
                FROM ledger_wallet w LEFT JOIN ledger_posting p ON p.wallet_id = w.id
                GROUP BY w.id, w.kind, w.unit, w.balance
                HAVING w.balance <> COALESCE(SUM({SIGNED}), 0)
                ORDER BY w.id LIMIT 1"""  # noqa: S608
        )
        row = cursor.fetchone()
    if row is None:
        return None
    wallet_id, kind, unit, balance, total = row
    return Finding("wallet", f"wallet {wallet_id} ({kind}, {unit}): balance {balance} but postings sum to {total}")


def first_unbalanced_journal() -> Finding | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT j.id, COUNT(p.id), COALESCE(SUM({SIGNED}), 0)
                FROM ledger_journaltransaction j LEFT JOIN ledger_posting p ON p.journal_id = j.id
                GROUP BY j.id HAVING COUNT(p.id) < 2 OR COALESCE(SUM({SIGNED}), 0) <> 0
                ORDER BY j.id LIMIT 1"""  # noqa: S608
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Finding("journal", f"journal {row[0]}: {row[1]} postings summing to {row[2]}")


def first_orphan_posting() -> Finding | None:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT p.id, p.journal_id FROM ledger_posting p
               LEFT JOIN ledger_journaltransaction j ON j.id = p.journal_id
               WHERE j.id IS NULL ORDER BY p.id LIMIT 1"""
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Finding("posting", f"posting {row[0]} belongs to no journal ({row[1]})")


def negative_customer_wallet() -> Finding | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, kind, balance FROM ledger_wallet WHERE kind <> 'provider' AND balance < 0 ORDER BY id LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Finding("wallet", f"wallet {row[0]} ({row[1]}) is below zero: {row[2]}")


# --- checks other apps add ----------------------------------------------------------------------
# Apps above the ledger (messaging's reservations of credits in flight) prove their side of the balance
# too; they register a check in their AppConfig.ready, so the ledger never imports them.

Check = Callable[[], "Finding | None"]
_checks: list[Check] = []


def register_check(check: Check) -> Check:
    """Add `check` to what `verify()` runs, once (a second registration of the same function is ignored)."""
    if check not in _checks:
        _checks.append(check)
    return check


def verify() -> list[Finding]:
    checks = (
        first_unbalanced_wallet,
        first_unbalanced_journal,
        first_orphan_posting,
        negative_customer_wallet,
        *_checks,
    )
    return [finding for check in checks if (finding := check()) is not None]


def totals() -> tuple[int, int, int]:
    """(wallets, journal transactions, postings) for the report."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM ledger_wallet), (SELECT COUNT(*) FROM ledger_journaltransaction), "
            "(SELECT COUNT(*) FROM ledger_posting)"
        )
        row = cursor.fetchone()
    return int(row[0]), int(row[1]), int(row[2])
