"""Writing outbound messages in bulk: the messages and their first events, by COPY on PostgreSQL and by
bulk INSERT elsewhere. Shared by the group commit (batches, kontor/messaging/bulk/groupcommit.py) and the
campaign fan-out (kontor/messaging/bulk/fanout.py), which both sit on top of it."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.db import connection
from django.db.models.base import ModelState
from django.db.models.expressions import DatabaseDefault

from kontor.core import rls
from kontor.messaging.models import Direction, Message, MessageEvent

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.ledger.models import Wallet
    from kontor.messaging.models import Campaign
    from kontor.tenancy.models import Account

SPOOL_MEMORY = 32 * 1024 * 1024

# One planned message: to, text, encoding, segments, credits, rate prefix, operator.
Row = tuple[str, str, str, int, int, str, str]


class Spool:
    """The planned rows, chunk by chunk: in memory up to SPOOL_MEMORY, then in a temporary file."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed by close()
        self.rows = 0

    def add(self, rows: list[Row]) -> None:
        pickle.dump(rows, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.rows += len(rows)

    def chunks(self) -> Iterator[list[Row]]:
        self.file.seek(0)
        while True:
            try:
                # Our own file, written just above by this process: nothing foreign is unpickled.
                yield pickle.load(self.file)  # noqa: S301
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class Sending:
    """What every message of one campaign (or one batch: no campaign) shares."""

    account: Account
    actor: User
    campaign: Campaign | None
    wallet: Wallet
    sender: str
    status: str
    scheduled_for: dt.datetime | None
    now: dt.datetime
    on_behalf_of: User | None = None


def created_detail(message: Message) -> dict[str, Any]:
    """The detail of a message's first event: what it reserved, and when it is due if scheduled."""
    detail: dict[str, Any] = {"credits": message.credits, "segments": message.segments, "wallet": message.wallet_id}
    if message.scheduled_for:
        detail["scheduled_for"] = message.scheduled_for.isoformat()
    return detail


def message_for(how: Sending, **varying: Any) -> Message:
    return Message(
        customer_id=how.account.customer_id,
        account=how.account,
        direction=Direction.OUT,
        user=how.actor,
        from_number=how.sender,
        wallet=how.wallet,
        status=how.status,
        scheduled_for=how.scheduled_for,
        campaign_id=how.campaign.pk if how.campaign is not None else None,
        on_behalf_of=how.on_behalf_of,
        **varying,
    )


def event_detail(how: Sending, credits: int, segments: int) -> str:
    # created_detail as text (it goes straight into COPY).
    scheduled = f', "scheduled_for": "{how.scheduled_for.isoformat()}"' if how.scheduled_for else ""
    return f'{{"credits": {credits}, "segments": {segments}, "wallet": {how.wallet.pk}{scheduled}}}'


# The columns that differ per message, in the order a planned Row gives them (after the id).
VARYING = ("id", "to_number", "text", "encoding", "segments", "credits", "rate_prefix", "operator")


def varying(row: Row) -> dict[str, Any]:
    """A planned row as the fields of its message (the COPY writes them in the same order)."""
    return dict(zip(VARYING[1:], row, strict=True))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _esc(text: str) -> str:
    """`text` as a field of COPY's text format (most texts need nothing, and the check is cheaper)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _esc(str(value))


def _shared_columns(how: Sending) -> tuple[list[str], str]:
    """(the columns every message of the campaign shares, their values as the end of a COPY line).
    Every column of the model is written, so a field added later gets its model default (or, with a
    db_default, is left to the database)."""
    template = message_for(how, created_at=how.now, updated_at=how.now)
    shared = [
        f
        for f in Message._meta.concrete_fields
        if f.attname not in VARYING and not isinstance(getattr(template, f.attname), DatabaseDefault)
    ]
    values = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in shared]
    return [f.column for f in shared], "".join("\t" + _copy_text(v) for v in values) + "\n"


def copy_spool(spool: Spool, how: Sending) -> list[int]:
    """Two COPY statements, the messages then their events, each streamed chunk by chunk from the spool
    through a queued writer: a thread sends one chunk while the next is formatted. The lines are
    formatted here (the shared columns once, up front) rather than by psycopg's write_row, which costs
    several times more per row. The ids come first, from the table's own sequence: the events need
    them, and so does dispatch."""
    from psycopg.copy import QueuedLibpqWriter  # PostgreSQL only

    quote = connection.ops.quote_name
    shared, suffix = _shared_columns(how)
    by_name = {f.attname: f.column for f in Message._meta.concrete_fields}
    columns = ", ".join(quote(by_name[n]) for n in VARYING) + "".join(f", {quote(c)}" for c in shared)
    event_prefix = f"\t{how.status}\t{how.now.isoformat()}\t"

    def message_line(i: int, r: Row) -> str:
        to, text, enc, segments, credits, prefix, operator = r
        return f"{i}\t{_esc(to)}\t{_esc(text)}\t{enc}\t{segments}\t{credits}\t{prefix}\t{_esc(operator)}{suffix}"

    details: dict[tuple[int, int], str] = {}  # by (credits, segments): a campaign has only a few

    def event_line(i: int, r: Row) -> str:
        detail = details.get((r[4], r[3]))
        if detail is None:
            detail = details[r[4], r[3]] = f"{event_prefix}{event_detail(how, r[4], r[3])}\n"
        return f"{i}{detail}"

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Message._meta.db_table, spool.rows],
        )
        ids = [row[0] for row in cursor.fetchall()]
        for sql, line in (
            (f"COPY {quote(Message._meta.db_table)} ({columns}) FROM STDIN", message_line),
            (f"COPY {quote(MessageEvent._meta.db_table)} (message_id, status, at, detail) FROM STDIN", event_line),
        ):
            # psycopg's own cursor: Django's debug wrapper (DEBUG, captured queries) takes no writer.
            raw = cursor.cursor
            with (
                rls.copy_rows(cursor, f"{spool.rows} messages of customer {how.account.customer_id}"),
                connection.wrap_database_errors,
                raw.copy(sql, writer=QueuedLibpqWriter(raw)) as copy,
            ):
                start = 0
                for chunk in spool.chunks():
                    batch = ids[start : start + len(chunk)]
                    copy.write("".join([line(i, r) for i, r in zip(batch, chunk, strict=True)]).encode())
                    start += len(chunk)
    return ids


def copy_messages(rows: list[Row], how: Sending) -> list[Message]:
    """PostgreSQL: COPY planned rows and their first events (as a campaign's are written), inside the
    caller's transaction; returns the messages as they were stored, in row order."""
    spool = Spool()
    try:
        spool.add(rows)
        ids = copy_spool(spool, how)
    finally:
        spool.close()
    # As stored: the shared fields from one instance, the varying ones per row (a model's __init__
    # for each would cost more than the COPY).
    template = message_for(how, created_at=how.now, updated_at=how.now)
    shared = {k: v for k, v in template.__dict__.items() if k != "_state"}
    alias = connection.alias
    messages = []
    for i, row in zip(ids, rows, strict=True):
        message = Message.__new__(Message)
        message.__dict__.update(shared)
        message.__dict__.update(id=i, **varying(row))
        message._state = ModelState()
        message._state.adding, message._state.db = False, alias
        messages.append(message)
    return messages


def insert_spool(spool: Spool, how: Sending) -> list[int]:
    """bulk_create of the spooled messages and their first events, chunk by chunk (not PostgreSQL)."""
    ids: list[int] = []
    for chunk in spool.chunks():
        rows = Message.objects.bulk_create([message_for(how, **varying(row)) for row in chunk])
        MessageEvent.objects.bulk_create(
            [
                MessageEvent(
                    message=m,
                    status=how.status,
                    at=how.now,
                    detail=json.loads(event_detail(how, m.credits, m.segments)),
                )
                for m in rows
            ]
        )
        ids += [m.pk for m in rows]
    return ids
