"""Delivery: hand a queued message to its connector, then settle or release its reservation; apply
delivery reports (DLRs), refunding messages that fail after acceptance.

Credits, step by step (each one balanced ledger journal with reference `message:<id>`):
    created   wallet → hold      (reserve, services.send_message)
    accepted  hold → provider    (settle)
    refused   hold → wallet      (release, when the connector refuses it at submit)
    failed    provider → wallet  (refund, when a DLR says failed after acceptance)
    expired   provider → wallet  (refund as well: the recipient never got it, so the customer does not pay)

The connector is called outside any database transaction: the message is marked `submitted` first, so a
second worker cannot submit it again, and put back to `queued` if the connector is down."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from kontor.core.errors import Invalid
from kontor.ledger.services import refund, release, settle
from kontor.messaging.connectors import Connector, SubmitResult, connector_for
from kontor.messaging.models import Direction, Message, MessageEvent, Status

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5
RETRY_MAX_SECONDS = 600
DLR_STATUSES = {"delivered": Status.DELIVERED, "failed": Status.FAILED, "expired": Status.EXPIRED}
REFUND_REASON = "Message failed after acceptance"


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
    """Submit one message; returns what happened (for logs and tests)."""
    now = timezone.now()
    with transaction.atomic():
        message = _locked(pk=message_id, direction=Direction.OUT)
        if message is None:
            return "missing"
        if message.status == Status.SCHEDULED and message.scheduled_for and message.scheduled_for > now:
            return "not due"
        if message.status not in (Status.QUEUED, Status.SCHEDULED):
            return "already " + message.status
        connector = connector or connector_for(message.account)
        message.attempts += 1
        message.connector = connector.name
        transition(message, Status.SUBMITTED, at=now, connector=connector.name, attempt=message.attempts)
    try:
        result = connector.submit(message)
        if not isinstance(result, SubmitResult):
            raise TypeError(f"connector answered {type(result).__name__}, not a SubmitResult")
    except Exception as exc:  # down, or garbage: the message waits in the queue, it is not lost
        if not isinstance(exc, ConnectionError | OSError | TimeoutError):
            log.exception("connector %s failed on message %s", connector.name, message_id)
        return _requeue(message_id, exc)
    with transaction.atomic():
        message = _locked(pk=message_id)
        if message is None or message.status != Status.SUBMITTED:
            return "changed meanwhile"
        if result.accepted:
            settle(message.customer, message.credits, reference=message.reference)
            message.downstream_id = (result.downstream_id or "")[:100]
            transition(message, Status.ACCEPTED, downstream_id=message.downstream_id)
            follow_up = getattr(connector, "follow_up", None)
            if follow_up is not None:
                accepted = message
                transaction.on_commit(lambda: follow_up(accepted))
            return "accepted"
        assert message.wallet is not None
        release(message.wallet, message.credits, reference=message.reference)
        message.error_code = (result.error_code or "rejected")[:32]
        message.error_text = (result.error_text or "Refused by the connector.")[:300]
        transition(message, Status.FAILED, error_code=message.error_code, error_text=message.error_text, released=True)
        return "failed"


def _requeue(message_id: int, exc: BaseException) -> str:
    from kontor.messaging.services import enqueue_dispatch

    with transaction.atomic():
        message = _locked(pk=message_id)
        if message is None or message.status != Status.SUBMITTED:
            return "changed meanwhile"
        transition(message, Status.QUEUED, error=f"{type(exc).__name__}: {exc}"[:300], attempt=message.attempts)
        run_after = timezone.now() + retry_delay(message.attempts)
        transaction.on_commit(lambda: enqueue_dispatch([message_id], run_after))
    return "requeued"


def handle_dlr(downstream_id: str, status: str, error_code: str | None = None, error_text: str = "") -> Message | None:
    """Apply a delivery report. An unknown id is logged and ignored; a status other than delivered,
    failed or expired is refused (Invalid) and changes nothing; a repeated report is a no-op."""
    new = DLR_STATUSES.get(str(status).lower())
    if new is None:
        log.warning("DLR for %r with unknown status %r refused", downstream_id, status)
        raise Invalid.field("status", "A delivery report is delivered, failed or expired.")
    if not downstream_id:
        raise Invalid.field("downstream_id", "A delivery report names the message.")
    with transaction.atomic():
        message = _locked(downstream_id=downstream_id, direction=Direction.OUT)
        if message is None:
            log.warning("DLR for unknown message %r (%s) ignored", downstream_id, status)
            return None
        if message.status != Status.ACCEPTED:
            if message.status != new:
                log.warning("DLR %s for message %s in status %s ignored", new, message.pk, message.status)
            return message
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
        return message


def pending(now: dt.datetime | None = None, *, stale_after: dt.timedelta = dt.timedelta(seconds=30)) -> list[int]:
    """Messages a worker should have picked up: scheduled and due, or queued for a while (a lost task,
    or a backend that cannot defer retries)."""
    now = now or timezone.now()
    due = Message.objects.filter(direction=Direction.OUT, status=Status.SCHEDULED, scheduled_for__lte=now)
    stuck = Message.objects.filter(direction=Direction.OUT, status=Status.QUEUED, updated_at__lte=now - stale_after)
    return sorted(set(due.values_list("pk", flat=True)) | set(stuck.values_list("pk", flat=True)))
