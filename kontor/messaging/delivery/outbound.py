"""Delivery: hand a queued message to its connector, then settle or release its reservation; apply
delivery reports (DLRs), refunding messages that fail after acceptance.

Credits, step by step (each one balanced ledger journal with reference `message:<id>`):
    created   wallet → hold      (reserve, services/messages.py: send_message)
    accepted  hold → provider    (settle)
    refused   hold → wallet      (release, when the connector refuses it at submit)
    failed    provider → wallet  (refund, when a DLR says failed after acceptance)
    expired   provider → wallet  (refund as well: the recipient never got it, so the customer does not pay)

The connector is called outside any database transaction: the message is marked `submitted` first, so a
second worker cannot submit it again, and put back to `queued` if the connector is down. A worker that
dies between the two leaves it `submitted`: after KONTOR_SUBMIT_TIMEOUT_SECONDS (default 60) the sweep
(`recover`) asks the connector whether it got it (`lookup`: SMPP query_sm, an HTTP provider's lookup URL,
the simulator's record). If it has it, its answer is applied; if it is sure it has not, the message is
submitted again; if it cannot tell, the connector's resubmission policy decides which risk is taken
(`ResubmitPolicy`: submit again and maybe duplicate, or fail it and release the credits). A message
submitted again KONTOR_SUBMIT_MAX_RESUBMITS times without an answer is failed and released.

Every handler here may run twice (at-least-once tasks, a sweep beside a task): each step checks the
message's status under its row lock and does nothing when its work is already done, the ledger postings
are tied to those status changes, and every transaction is retried whole on a deadlock
(kontor.core.retry).

A delivery report can overtake the acceptance it reports on (the downstream id is stored with the
acceptance): it waits in PendingDlr and is applied right after the acceptance commits its status."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task, task_backends
from django_tasks.backends.immediate import ImmediateBackend

from kontor.core.context import origin
from kontor.core.errors import Invalid
from kontor.core.retry import Busy, retrying
from kontor.core.tasks import again_later
from kontor.ledger.posting import hold_wallet, lock_wallets, provider_wallet
from kontor.ledger.services import refund, release, settle
from kontor.messaging.connectors.base import ABSENT, Absent, Connector, Lookup, SubmitResult
from kontor.messaging.connectors.registry import connector_for, get_connector
from kontor.messaging.models import (
    ConnectorConfig,
    Direction,
    Message,
    MessageEvent,
    PendingDlr,
    ResubmitPolicy,
    Status,
)
from kontor.messaging.rules import sendrate

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 600
DLR_STATUSES = {"delivered": Status.DELIVERED, "failed": Status.FAILED, "expired": Status.EXPIRED}
REFUND_REASON = "Message failed after acceptance"
PENDING_DLR_DAYS = 7

# While `dispatch_many` runs: the messages it held back, by the second their turn falls in.
_HELD: ContextVar[dict[dt.datetime, list[tuple[int, dt.datetime]]] | None] = ContextVar("held_back", default=None)


def submit_timeout() -> dt.timedelta:
    """How long a message may stay `submitted` before recovery takes it for abandoned. Longer than any
    submit can take (the SMPP and HTTP timeouts are 10 s by default), short enough that a restarted
    worker's sweep recovers it within two minutes."""
    return dt.timedelta(seconds=int(getattr(settings, "KONTOR_SUBMIT_TIMEOUT_SECONDS", 60)))


def sweep_limit() -> int:
    """At most this many rows of each kind per sweep, so one kind of work cannot starve the others."""
    return int(getattr(settings, "KONTOR_SWEEP_LIMIT", 500))


def max_resubmits() -> int:
    """How often the sweep submits a stuck message again before it fails it (and releases the credits)."""
    return int(getattr(settings, "KONTOR_SUBMIT_MAX_RESUBMITS", 3))


def transition(message: Message, status: str, *, at: dt.datetime | None = None, **detail: Any) -> None:
    """Set the status (and any fields already changed on `message`) and record the event."""
    at = at or timezone.now()
    message.status = status
    message.save()
    MessageEvent.objects.create(message=message, status=status, at=at, detail=detail)


def _locked(**lookup: Any) -> Message | None:
    return (  # type: ignore[no-any-return]
        Message.objects.select_for_update(of=("self",)).select_related("wallet", "customer").filter(**lookup).first()
    )


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def dispatch(message_id: int, *, connector: Connector | None = None) -> str:
    """Submit one message; returns what happened (for logs and tests). Run twice, the second run finds
    the message no longer queued and does nothing."""
    now = timezone.now()
    claimed = retrying(lambda: _claim(message_id, now, connector))
    if isinstance(claimed, str):
        return claimed
    message, chosen = claimed
    return _submit(message, chosen)


def _claim(message_id: int, now: dt.datetime, connector: Connector | None) -> str | tuple[Message, Connector]:
    """Mark a due message submitted (in the caller's transaction), or say why not."""
    message = _locked(pk=message_id, direction=Direction.OUT)
    if message is None:
        return "missing"
    if message.status == Status.SCHEDULED and message.scheduled_for and message.scheduled_for > now:
        return "not due"
    if message.status not in (Status.QUEUED, Status.SCHEDULED):
        return "already " + message.status
    if message.next_attempt_at is not None:
        if message.next_attempt_at > now:
            return "throttled"  # its turn (and token) comes later
    elif (turn := sendrate.take(message.account_id, now)) is not None:
        return _hold_back(message, turn, now)
    connector = connector or connector_for(message.account)
    message.next_attempt_at = None
    message.attempts += 1
    message.connector = connector.name
    transition(message, Status.SUBMITTED, at=now, connector=connector.name, attempt=message.attempts)
    return message, connector


def _hold_back(message: Message, turn: dt.datetime, now: dt.datetime) -> str:
    """The account's send rate is used up: the message stays queued, with its credits reserved, until
    its turn; `message` is locked."""

    message.next_attempt_at = turn
    if message.status == Status.SCHEDULED:
        transition(message, Status.QUEUED, at=now, throttled_until=turn.isoformat())
    else:
        message.save(update_fields=["next_attempt_at", "updated_at"])
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue_later(message_id, turn))
    return "throttled"


def _enqueue_later(message_id: int, turn: dt.datetime) -> None:
    held = _HELD.get()
    if held is None:
        enqueue_dispatch([message_id], turn)
    else:
        held.setdefault(turn.replace(microsecond=0), []).append((message_id, turn))


def dispatch_many(message_ids: Iterable[int]) -> dict[str, int]:
    """Dispatch each message (one transaction each) and count the outcomes. A burst over the send rate
    would otherwise enqueue one deferred task per held-back message; here those whose turn falls in the
    same second share one, enqueued when the batch is done (also when it fails half-way: those already
    held back are committed and need their task)."""
    held: dict[dt.datetime, list[tuple[int, dt.datetime]]] = {}
    outcomes: dict[str, int] = {}
    token = _HELD.set(held)
    try:
        for message_id in message_ids:
            outcome = dispatch(message_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        _HELD.reset(token)
        for group in held.values():
            # Run when the last of them is due: a message dispatched before its turn is left to the sweep.
            enqueue_dispatch([message_id for message_id, _ in group], max(turn for _, turn in group))
    return outcomes


def _submit(message: Message, connector: Connector) -> str:
    """Hand a message already marked submitted (and committed) to the connector, then apply its answer."""
    message_id = message.pk
    try:
        result = connector.submit(message)
        if not isinstance(result, SubmitResult):
            raise TypeError(f"connector answered {type(result).__name__}, not a SubmitResult")
    except Exception as exc:  # down, or garbage: the message waits in the queue, it is not lost
        if not isinstance(exc, ConnectionError | OSError | TimeoutError):
            log.exception("connector %s failed on message %s", connector.name, message_id)
        return _requeue(message_id, exc)
    return _apply_result(message_id, result, connector)


def _apply_result(message_id: int, result: SubmitResult, connector: Connector, **detail: Any) -> str:
    return retrying(lambda: _apply_result_once(message_id, result, connector, **detail), atomic=False)


def _apply_result_once(message_id: int, result: SubmitResult, connector: Connector, **detail: Any) -> str:
    with transaction.atomic():
        message = _locked(pk=message_id)
        if message is None or message.status != Status.SUBMITTED:
            return "changed meanwhile"
        if result.accepted:
            early = _early_reports((result.downstream_id or "")[:100])
            _lock_for_early_refund(message, early)
            settle(message.customer, message.credits, reference=message.reference)
            message.downstream_id = (result.downstream_id or "")[:100]
            transition(message, Status.ACCEPTED, downstream_id=message.downstream_id, **detail)
            _apply_pending_dlrs(message, early)
            follow_up = getattr(connector, "follow_up", None)
            if follow_up is not None:
                accepted = message
                with_the_commit(lambda: follow_up(accepted))
            return "accepted"
        _fail_and_release(
            message,
            (result.error_code or "rejected")[:32],
            (result.error_text or "Refused by the connector.")[:300],
            **detail,
        )
        return "failed"


def with_the_commit(enqueue: Callable[[], None]) -> None:
    """Enqueue a task so that it commits with the state that calls for it. The database backend writes the
    task's row in this very transaction, so a process killed after the commit cannot lose it (the crash
    test found an accepted message whose simulated report was never enqueued). The immediate backend
    (tests) would run the task inside this transaction, so there it waits for the commit."""
    if isinstance(task_backends["default"], ImmediateBackend):
        transaction.on_commit(enqueue)
    else:
        enqueue()


def _early_reports(downstream_id: str) -> list[PendingDlr]:
    """The reports that overtook an acceptance with this id, locked (the message is locked already)."""
    if not downstream_id:
        return []
    return list(PendingDlr.objects.select_for_update().filter(downstream_id=downstream_id))


def _lock_for_early_refund(message: Message, early: list[PendingDlr]) -> None:
    """A failure report that overtook the acceptance refunds (provider → wallet) in the same transaction
    as the settle (hold → provider): lock the three wallets first, in the global id order, or the refund
    would lock the message's wallet after the settle locked higher ids, and could deadlock with a
    reservation from that wallet (which locks it, then the hold wallet)."""
    if message.wallet is None or all(report.status == Status.DELIVERED for report in early):
        return
    unit = message.wallet.unit
    customer = message.customer
    lock_wallets([message.wallet.pk, hold_wallet(customer, unit).pk, provider_wallet(unit, customer).pk])


def _fail_and_release(message: Message, error_code: str, error_text: str, **detail: Any) -> None:
    assert message.wallet is not None
    release(message.wallet, message.credits, reference=message.reference)
    message.error_code = error_code
    message.error_text = error_text
    transition(message, Status.FAILED, error_code=error_code, error_text=error_text, released=True, **detail)


def _requeue(message_id: int, exc: BaseException) -> str:
    def requeue() -> str:
        message = _locked(pk=message_id)
        if message is None or message.status != Status.SUBMITTED:
            return "changed meanwhile"
        transition(message, Status.QUEUED, error=f"{type(exc).__name__}: {exc}"[:300], attempt=message.attempts)
        run_after = timezone.now() + retry_delay(message.attempts)
        transaction.on_commit(lambda: enqueue_dispatch([message_id], run_after))
        return "requeued"

    return retrying(requeue)


def note_downstream_id(message_id: int, downstream_id: str) -> None:
    """Store the id a connector has just been given for a message still marked submitted, before its
    answer is applied: a worker that dies in between leaves recovery an id to ask the connector about
    (SMPP query_sm). Best effort: the answer is applied right after either way."""
    if not downstream_id:
        return
    try:
        retrying(
            lambda: Message.objects.filter(pk=message_id, status=Status.SUBMITTED, downstream_id="").update(
                downstream_id=downstream_id[:100]
            )
        )
    except Exception:
        log.warning("could not note downstream id %s of message %s", downstream_id, message_id, exc_info=True)


def handle_dlr(downstream_id: str, status: str, error_code: str | None = None, error_text: str = "") -> Message | None:
    """Apply a delivery report. A report for an id no message carries (yet) is kept in PendingDlr and
    applied when a message is accepted with that id; a status other than delivered, failed or expired is
    refused (Invalid) and changes nothing; a repeated report is a no-op."""
    new = DLR_STATUSES.get(str(status).lower())
    if new is None:
        log.warning("DLR for %r with unknown status %r refused", downstream_id, status)
        raise Invalid.field("status", "A delivery report is delivered, failed or expired.")
    if not downstream_id:
        raise Invalid.field("downstream_id", "A delivery report names the message.")
    downstream_id = str(downstream_id)[:100]
    return retrying(lambda: _handle_dlr(downstream_id, new, error_code, error_text))


def _handle_dlr(downstream_id: str, new: str, error_code: str | None, error_text: str) -> Message | None:
    with transaction.atomic():
        message = _locked(downstream_id=downstream_id, direction=Direction.OUT)
        # Still submitted: the id was noted (note_downstream_id) but the acceptance is not applied yet.
        if message is None or message.status == Status.SUBMITTED:
            log.info("DLR %s for unknown message %r kept until it is accepted", new, downstream_id)
            PendingDlr.objects.bulk_create(
                [
                    PendingDlr(
                        downstream_id=downstream_id,
                        status=new,
                        error_code=(error_code or "")[:32],
                        error_text=(error_text or "")[:300],
                        received_at=timezone.now(),
                    )
                ],
                ignore_conflicts=True,  # the same report again
            )
            return None
        _apply_dlr(message, new, error_code, error_text)
        return message


def _apply_dlr(message: Message, new: str, error_code: str | None, error_text: str) -> None:
    """The one path a report takes, at once or from PendingDlr; `message` is locked."""
    if message.status != Status.ACCEPTED:
        if message.status != new:
            log.warning("DLR %s for message %s in status %s ignored", new, message.pk, message.status)
        return
    detail: dict[str, Any] = {}
    if new != Status.DELIVERED:
        message.error_code = (error_code or new)[:32]
        message.error_text = (error_text or "")[:300]
        detail = {"error_code": message.error_code, "error_text": message.error_text}
        assert message.wallet is not None
        journal = refund(
            message.wallet,
            message.credits,
            actor=None,
            reason=REFUND_REASON,
            idempotency_key=f"sys:refund:{message.reference}",
        )
        detail["refunded"] = message.credits
        detail["journal"] = str(journal.pk)
    transition(message, new, **detail)


def _apply_pending_dlrs(message: Message, early: list[PendingDlr] | None = None) -> int:
    """Apply (and drop) the reports that overtook this message's acceptance (`early`: already fetched
    under lock); `message` is locked."""
    if not message.downstream_id or message.status == Status.SUBMITTED:
        return 0
    if early is None:
        early = _early_reports(message.downstream_id)
    for report in early:
        _apply_dlr(message, report.status, report.error_code or None, report.error_text)
    if early:
        PendingDlr.objects.filter(pk__in=[report.pk for report in early]).delete()
    return len(early)


def resolve_pending_dlrs(now: dt.datetime | None = None) -> tuple[int, int]:
    """Sweep: apply kept reports whose message has been accepted since (a report stored while the
    acceptance was committing), and drop those older than PENDING_DLR_DAYS. Returns (applied, pruned)."""
    now = now or timezone.now()
    applied = 0
    ids = (
        PendingDlr.objects.filter(
            downstream_id__in=Message.objects.filter(direction=Direction.OUT)
            .exclude(downstream_id="")
            .values("downstream_id")
        )
        .values_list("downstream_id", flat=True)
        .distinct()
    )
    for downstream_id in list(ids[: sweep_limit()]):
        try:
            applied += retrying(lambda: _apply_pending_of(downstream_id))  # noqa: B023 - called at once
        except Exception:  # one bad report must not keep the others waiting
            log.exception("early report for %r not applied", downstream_id)
    pruned, _ = retrying(
        lambda: PendingDlr.objects.filter(received_at__lt=now - dt.timedelta(days=PENDING_DLR_DAYS)).delete()
    )
    return applied, pruned


def _apply_pending_of(downstream_id: str) -> int:
    message = _locked(downstream_id=downstream_id, direction=Direction.OUT)
    return _apply_pending_dlrs(message) if message is not None else 0


def pending(
    now: dt.datetime | None = None, *, stale_after: dt.timedelta = dt.timedelta(seconds=30), limit: int | None = None
) -> list[int]:
    """Messages a worker should have picked up: scheduled and due, or queued for a while (a lost task,
    or a backend that cannot defer retries) and, when the send rate held them back, whose turn has
    come; the oldest `limit` (default: sweep_limit()). Stuck submissions are `stuck`'s."""
    now = now or timezone.now()
    limit = limit or sweep_limit()
    due = Message.objects.filter(direction=Direction.OUT, status=Status.SCHEDULED, scheduled_for__lte=now)
    stuck = Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        direction=Direction.OUT,
        status=Status.QUEUED,
        updated_at__lte=now - stale_after,
    )
    ids = set(due.order_by("pk").values_list("pk", flat=True)[:limit])
    ids |= set(stuck.order_by("pk").values_list("pk", flat=True)[:limit])
    return sorted(ids)[:limit]


def stuck(now: dt.datetime | None = None, *, limit: int | None = None) -> list[int]:
    """Messages marked submitted longer than the submit timeout ago: their worker died (or hangs)
    between marking them and storing the connector's answer; the oldest `limit`."""
    now = now or timezone.now()
    rows = (
        Message.objects.filter(direction=Direction.OUT, status=Status.SUBMITTED, updated_at__lte=now - submit_timeout())
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[: limit or sweep_limit()]
    )
    return sorted(rows)


def resubmit_policy(connector_name: str) -> str:
    """The policy of the configured connector of that name; for the built-in simulator and the
    settings fallback (no stored configuration) KONTOR_RESUBMIT_POLICY, default resubmit (they dedupe
    on the client reference)."""
    stored = ConnectorConfig.objects.filter(name=connector_name).values_list("resubmit_policy", flat=True).first()
    return str(stored or getattr(settings, "KONTOR_RESUBMIT_POLICY", ResubmitPolicy.RESUBMIT))


def _connector_of(message: Message) -> Connector:
    try:
        return get_connector(message.connector) if message.connector else connector_for(message.account)
    except KeyError:  # a connector since removed from the configuration
        return connector_for(message.account)


def _ask(connector: Connector, message: Message) -> SubmitResult | Absent | None:
    lookup = getattr(connector, "lookup", None)
    if lookup is None:
        return None
    try:
        answer = cast(Lookup, connector).lookup(message)
    except Exception:  # a lookup that fails is a lookup that cannot tell
        log.exception("connector %s could not look up message %s", connector.name, message.pk)
        return None
    return answer if isinstance(answer, SubmitResult | Absent) else None


def recover(message_id: int, *, connector: Connector | None = None, now: dt.datetime | None = None) -> str:
    """Settle, release or resubmit one stuck submission (see `stuck`); returns what happened."""
    now = now or timezone.now()

    def claim() -> str | tuple[Message, Connector]:
        message = _locked(pk=message_id, direction=Direction.OUT)
        if message is None:
            return "missing"
        if message.status != Status.SUBMITTED or message.updated_at > now - submit_timeout():
            return "not stuck"
        chosen = connector or _connector_of(message)
        # Claimed for another timeout: a concurrent sweep leaves it alone while we ask the connector.
        message.save(update_fields=["updated_at"])
        return message, chosen

    claimed = retrying(claim)
    if isinstance(claimed, str):
        return claimed
    message, connector = claimed
    known = _ask(connector, message)
    if isinstance(known, SubmitResult):
        return "recovered " + _apply_result(message_id, known, connector, recovered="lookup")
    policy = ResubmitPolicy.RESUBMIT if known is ABSENT else resubmit_policy(connector.name)
    resubmitting = retrying(lambda: _resubmit_or_fail(message_id, connector, policy, absent=known is ABSENT))
    if isinstance(resubmitting, str):
        return resubmitting
    return "resubmitted " + _submit(resubmitting, connector)


def _resubmit_or_fail(message_id: int, connector: Connector, policy: str, *, absent: bool) -> str | Message:
    """The stuck message marked submitted again (to be submitted), or why not."""
    message = _locked(pk=message_id)
    if message is None or message.status != Status.SUBMITTED:
        return "changed meanwhile"
    if policy != ResubmitPolicy.RESUBMIT:
        _fail_and_release(
            message,
            "submit-unknown",
            "The submission was cut off and the connector cannot tell whether it has the message; "
            "failed and the credits returned (the connector's resubmission policy).",
            recovered="policy",
        )
        return "failed by policy"
    resubmits = message.events.filter(status=Status.SUBMITTED, detail__resubmit=True).count()
    if resubmits >= max_resubmits():
        _fail_and_release(
            message,
            "submit-timeout",
            f"No answer from the connector after {resubmits + 1} submissions.",
            recovered="gave up",
        )
        return "gave up"
    message.attempts += 1
    # An id noted for an attempt the connector does not have would match nobody's receipts: dropped.
    message.downstream_id = ""
    transition(
        message,
        Status.SUBMITTED,
        connector=connector.name,
        attempt=message.attempts,
        resubmit=True,
        lookup="absent" if absent else "cannot tell",
    )
    return message


# --- tasks and their enqueue helpers -------------------------------------------------------------
# At least once (a task whose worker died is run again when its lease expires, see `kontor worker`):
# every handler above is idempotent. When the database stays busy through every retry of a
# transaction, the task is enqueued again a little later instead of failing for good.

DISPATCH_CHUNK = 100


@task()
def dispatch_message(message_id: int) -> str:
    with origin("job"):
        try:
            return dispatch(message_id)
        except Busy:
            again_later(dispatch_message, message_id)
            return "busy"


@task()
def dispatch_messages(message_ids: list[int]) -> int:
    with origin("job"):
        try:
            dispatch_many(message_ids)
        except Busy:
            # Those already dispatched are done; dispatching them again is a no-op.
            again_later(dispatch_messages, message_ids)
    return len(message_ids)


def enqueue_dispatch(message_ids: list[int], run_after: dt.datetime | None = None) -> None:
    """Hand messages to the workers. A scheduled message waits for its time where the task backend can
    defer; elsewhere `kontor dispatch_pending` picks it up when it is due."""
    single: Any = dispatch_message
    many: Any = dispatch_messages
    if run_after is not None:
        if not dispatch_message.get_backend().supports_defer:
            return
        single, many = single.using(run_after=run_after), many.using(run_after=run_after)
    if len(message_ids) == 1:
        single.enqueue(message_ids[0])
        return
    for start in range(0, len(message_ids), DISPATCH_CHUNK):
        many.enqueue(message_ids[start : start + DISPATCH_CHUNK])


@task()
def simulator_dlr(downstream_id: str, status: str, error_code: str = "", error_text: str = "") -> None:
    with origin("job"):
        try:
            handle_dlr(downstream_id, status, error_code or None, error_text)
        except Busy:
            again_later(simulator_dlr, downstream_id, status, error_code, error_text)


def report_later(downstream_id: str, status: str, error_code: str, error_text: str, *, delay: float) -> None:
    """A delivery report applied by a worker `delay` seconds from now (the simulator's), or as soon as a
    worker runs it where the task backend cannot defer."""
    job: Any = simulator_dlr
    if job.get_backend().supports_defer and delay > 0:
        job = job.using(run_after=timezone.now() + dt.timedelta(seconds=delay))
    job.enqueue(downstream_id, status, error_code, error_text)
