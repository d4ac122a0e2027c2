"""The ledger's proofs about messages (`kontor ledger verify`): the hold wallet holds exactly what the
messages in flight reserve, and no reservation is stuck. Registered with kontor.ledger.verify in
MessagingConfig.ready, so the ledger proves messaging's side without importing it."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from kontor.ledger.verify import Finding
from kontor.messaging.delivery.outbound import submit_timeout
from kontor.messaging.models import Direction, Message, Status


def hold_not_matching_messages() -> Finding | None:
    """Every customer's hold wallet holds exactly the credits of its messages still in flight (queued,
    scheduled, submitted): more means a reservation nothing will ever settle or release (a stuck message
    or a lost release), less means a message that would settle credits nobody set aside."""
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
