"""Proofs over the whole ledger, in set-based SQL so they stay fast on millions of postings."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from django.utils import timezone

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


def hold_not_matching_messages() -> Finding | None:
    """Every customer's hold wallet holds exactly the credits of its messages still in flight (queued,
    scheduled, submitted): more means a reservation nothing will ever settle or release (a stuck message
    or a lost release), less means a message that would settle credits nobody set aside."""
    if not apps.is_installed("kontor.messaging"):
        return None
    from kontor.messaging.models import Direction, Message, Status

    in_flight = [Status.QUEUED.value, Status.SCHEDULED.value, Status.SUBMITTED.value]
    marks = ", ".join(["%s"] * len(in_flight))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH flight AS (
                    SELECT m.customer_id, mw.unit, SUM(m.credits) AS total
                    FROM {Message._meta.db_table} m JOIN ledger_wallet mw ON mw.id = m.wallet_id
                    WHERE m.direction = %s AND m.status IN ({marks})
                    GROUP BY m.customer_id, mw.unit),
                hold AS (SELECT customer_id, unit, balance FROM ledger_wallet WHERE kind = 'hold')
                SELECT h.customer_id, h.unit, h.balance, COALESCE(f.total, 0)
                FROM hold h LEFT JOIN flight f ON f.customer_id = h.customer_id AND f.unit = h.unit
                WHERE h.balance <> COALESCE(f.total, 0)
                UNION ALL
                SELECT f.customer_id, f.unit, 0, f.total
                FROM flight f LEFT JOIN hold h ON h.customer_id = f.customer_id AND h.unit = f.unit
                WHERE h.customer_id IS NULL AND f.total <> 0
                ORDER BY 1, 2 LIMIT 1""",  # noqa: S608
            [Direction.OUT.value, *in_flight],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    customer_id, unit, balance, total = row
    return Finding(
        "hold",
        f"customer {customer_id}: hold wallet ({unit}) holds {balance} but its messages in flight reserve {total}",
    )


def stuck_reservation() -> Finding | None:
    """A message submitted longer than the submit timeout ago: its worker died before storing the
    connector's answer, and its reservation stays in the hold wallet until the sweep recovers it."""
    if not apps.is_installed("kontor.messaging"):
        return None
    from kontor.messaging.delivery import submit_timeout
    from kontor.messaging.models import Direction, Message, Status

    cutoff = timezone.now() - submit_timeout()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id, customer_id, credits FROM {Message._meta.db_table}
                WHERE direction = %s AND status = %s AND updated_at <= %s
                ORDER BY id LIMIT 1""",  # noqa: S608
            [Direction.OUT.value, Status.SUBMITTED.value, connection.ops.adapt_datetimefield_value(cutoff)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Finding(
        "hold",
        f"customer {row[1]}: message {row[0]} is stuck in submitted with {row[2]} credits reserved "
        "(run `kontor dispatch_pending`)",
    )


def verify() -> list[Finding]:
    checks = (
        first_unbalanced_wallet,
        first_unbalanced_journal,
        first_orphan_posting,
        negative_customer_wallet,
        hold_not_matching_messages,
        stuck_reservation,
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
