"""Inbound (MO) messages: whatever a connector hands over is routed by number and keyword
(kontor.numbers.routing) to one account's inbox, or logged as a rejection the provider can see.

No input raises: a connector's garbage is a rejection row, not an error, because a connector cannot
act on an error and must not redeliver forever. A redelivery (same connector and downstream id) is
answered with what the first delivery did and writes nothing; a unique constraint on (connector,
downstream id) keeps two concurrent deliveries of it from both being stored.

Exactly once where the connector gives no id (SMPP deliver_sm has none): the id is a fingerprint of
what it carries (sender, number, text, concatenation reference) and the time window it arrived in
(`fingerprint_ids`, KONTOR_INBOUND_DEDUPE_SECONDS, default 600): an SMSC that redelivers a deliver_sm
(our deliver_sm_resp was lost, or we died before sending it) within the window finds it stored. The
price: the same text sent twice by the same handset to the same number within the window is kept once.

The parts of a long (concatenated) MO are kept in the database (InboundPartial), not in memory, until
the last one arrives: then, in one transaction, they are assembled, routed and deleted, so a restart
loses none and a part delivered twice is stored once. Parts of a message that never completes are
dropped after KONTOR_INBOUND_PART_TTL_SECONDS (default 3600) by the dispatch_pending sweep."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from kontor.contacts.services import opt_out
from kontor.core import phone
from kontor.core.errors import DomainError
from kontor.core.retry import retrying
from kontor.messaging.delivery.webhooks import notify_inbound
from kontor.messaging.models import Direction, InboundPartial, InboundRejection, Message, MessageEvent, Status
from kontor.messaging.rules import encoding
from kontor.numbers.routing import route_inbound
from kontor.tenancy.models import Account

log = logging.getLogger(__name__)

MAX_TEXT = 5000


@dataclass(frozen=True)
class InboundResult:
    """What became of one inbound message: `message` when routed, else `rejection`. `duplicate`: it
    had been received before (nothing new was written); `opted_out`: it was a STOP for `account`."""

    routed: bool
    reason: str
    account: Account | None = None
    message: Message | None = None
    rejection: InboundRejection | None = None
    opted_out: bool = False
    duplicate: bool = False

    @property
    def account_id(self) -> int | None:
        return self.account.pk if self.account is not None else None


def sender_e164(text: str) -> str | None:
    """The sender as E.164. Connectors often drop the "+" of an international number, so bare digits
    are read as international; anything that is not a possible phone number is None."""
    return phone.e164(text, check=phone.Check.POSSIBLE, bare_digits_international=True)


def _clip(value: object, size: int) -> str:
    return str(value or "").replace("\x00", "")[:size]


def _result_of(message: Message, *, duplicate: bool) -> InboundResult:
    return InboundResult(
        routed=True,
        reason=str(message.events.values_list("detail__reason", flat=True).first() or "received"),
        account=message.account,
        message=message,
        duplicate=duplicate,
    )


def _earlier(connector: str, downstream_id: str, also: Sequence[str] = ()) -> InboundResult | None:
    ids = [i for i in (downstream_id, *also) if i]
    if not ids:
        return None
    message = (
        Message.objects.select_related("account")
        .filter(direction=Direction.IN, connector=connector, downstream_id__in=ids)
        .first()
    )
    if message is not None:
        return _result_of(message, duplicate=True)
    rejection = InboundRejection.objects.filter(connector=connector, downstream_id__in=ids).first()
    if rejection is not None:
        return InboundResult(routed=False, reason=rejection.reason, rejection=rejection, duplicate=True)
    return None


def _reject(
    reason: str, *, from_number: str, to: str, text: str, connector: str, downstream_id: str, at: dt.datetime
) -> InboundResult:
    try:
        with transaction.atomic():
            rejection = InboundRejection.objects.create(
                to_number=_clip(to, 40),
                from_number=_clip(from_number, 40),
                reason=reason,
                text=_clip(text, 160),
                connector=connector,
                downstream_id=downstream_id,
                at=at,
            )
    except IntegrityError:
        # The same delivery arrived twice at once; the other one stored the rejection.
        again = _earlier(connector, downstream_id)
        if again is None:
            raise
        return again
    log.warning(
        "inbound from %r to %r via %s rejected: %s", rejection.from_number, rejection.to_number, connector, reason
    )
    return InboundResult(routed=False, reason=reason, rejection=rejection)


def receive_inbound(
    *,
    from_number: str,
    to: str,
    text: str,
    connector: str,
    downstream_id: str = "",
    received_at: dt.datetime | None = None,
    seen_as: Sequence[str] = (),
) -> InboundResult:
    """Receive one MO message sent by `from_number` to our number `to`.

    Routed: a `received` inbound Message in the account it reached (and a MessageEvent with the
    route); a STOP also opts the sender out of that account only. Otherwise an InboundRejection
    (unknown_number, not_two_way, no_owner, bad_sender, bad_text) and no message. `seen_as`: other ids
    under which an earlier delivery of the same message would have been stored (fingerprint_ids)."""
    connector = _clip(connector, 40) or "unknown"
    downstream_id = _clip(downstream_id, 100).strip()
    at = received_at or timezone.now()
    if timezone.is_naive(at):
        at = at.replace(tzinfo=dt.UTC)
    text = text if isinstance(text, str) else ""
    earlier = _earlier(connector, downstream_id, seen_as)
    if earlier is not None:
        return earlier
    common = {"to": to, "text": text, "connector": connector, "downstream_id": downstream_id, "at": at}
    sender = sender_e164(from_number)
    if sender is None:
        return _reject(InboundRejection.Reason.BAD_SENDER, from_number=from_number, **common)  # type: ignore[arg-type]
    if len(text) > MAX_TEXT or "\x00" in text:
        return _reject(InboundRejection.Reason.BAD_TEXT, from_number=sender, **common)  # type: ignore[arg-type]
    route = route_inbound(to, text)
    if route.account is None or route.number is None:
        return _reject(route.reason, from_number=sender, **common)  # type: ignore[arg-type]
    account = route.account
    info = encoding.analyse(text)
    detail = {"reason": route.reason, "keyword": route.keyword or "", "stop": route.is_stop, "connector": connector}
    try:
        with transaction.atomic():
            message = Message.objects.create(
                customer_id=account.customer_id,
                account=account,
                direction=Direction.IN,
                from_number=sender,
                to_number=route.number.value,
                text=text,
                encoding=str(info.encoding),
                segments=max(1, info.segments),
                credits=0,
                status=Status.RECEIVED,
                connector=connector,
                downstream_id=downstream_id,
                keyword=route.keyword or "",
            )
            MessageEvent.objects.create(message=message, status=Status.RECEIVED, at=at, detail=detail)
            opted_out = route.is_stop and _opt_out(account, sender, message)
            notify_inbound(message)
    except IntegrityError:
        # The same delivery arrived twice at once; the other one stored it.
        again = _earlier(connector, downstream_id, seen_as)
        if again is None:
            raise
        return again
    return InboundResult(routed=True, reason=route.reason, account=account, message=message, opted_out=bool(opted_out))


def _opt_out(account: Account, sender: str, message: Message) -> bool:
    try:
        opt_out(account, sender, source="stop_keyword", note=f"STOP in inbound message {message.pk}")
    except DomainError as exc:
        # The message is kept either way; the inbox shows the STOP for a person to act on.
        log.warning("STOP from %s for account %s not recorded: %s", sender, account.pk, exc)
        return False
    return True


def dedupe_seconds() -> int:
    return int(getattr(settings, "KONTOR_INBOUND_DEDUPE_SECONDS", 600))


def part_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "KONTOR_INBOUND_PART_TTL_SECONDS", 3600)))


def fingerprint_ids(
    connector: str, from_number: str, to: str, text: str, *, reference: str = "", at: dt.datetime | None = None
) -> tuple[str, str]:
    """(the id to store, the id an earlier delivery in the previous window got) for an inbound message
    that came without an id: a digest of what it carries and the window it arrived in. Checking both
    windows finds a redelivery up to one window later wherever the window's boundary falls."""
    digest = hashlib.sha256("\x1f".join((connector, from_number, to, reference, text)).encode()).hexdigest()[:40]
    window = max(1, dedupe_seconds())
    bucket = int((at or timezone.now()).timestamp()) // window
    return f"fp:{digest}:{bucket}", f"fp:{digest}:{bucket - 1}"


def receive_unnumbered(*, from_number: str, to: str, text: str, connector: str, reference: str = "") -> InboundResult:
    """receive_inbound for a connector that gives no id of its own (SMPP): deduplicated by fingerprint."""
    now = timezone.now()
    current, previous = fingerprint_ids(connector, from_number, to, text, reference=reference, at=now)
    return receive_inbound(
        from_number=from_number,
        to=to,
        text=text,
        connector=connector,
        downstream_id=current,
        received_at=now,
        seen_as=(previous,),
    )


def receive_part(
    *, connector: str, from_number: str, to: str, reference: int, total: int, seq: int, text: str
) -> InboundResult | None:
    """Keep part `seq` of `total` of a long MO in the database; the one that completes the message has it
    assembled, routed (receive_unnumbered) and its parts deleted, in one transaction, and gets its
    InboundResult; the others get None. A part delivered twice is kept once."""
    if not (1 <= seq <= total):
        raise ValueError(f"part {seq} of {total}")
    key = {
        "connector": _clip(connector, 40) or "unknown",
        "from_number": _clip(from_number, 40),
        "to_number": _clip(to, 40),
        "reference": int(reference),
        "total": int(total),
    }

    def store() -> InboundResult | None:
        partial = InboundPartial.objects.select_for_update().filter(**key).first()
        if partial is None:
            try:
                with transaction.atomic():
                    partial = InboundPartial.objects.create(**key, parts={}, started_at=timezone.now())
            except IntegrityError:  # another part of it arrived at the same moment: wait for its row
                partial = InboundPartial.objects.select_for_update().get(**key)
        parts = dict(partial.parts or {})
        parts[str(seq)] = text
        if len(parts) < total:
            partial.parts = parts
            partial.save(update_fields=["parts"])
            return None
        whole = "".join(parts[str(n)] for n in range(1, total + 1))
        partial.delete()
        return receive_unnumbered(
            from_number=from_number, to=to, text=whole, connector=connector, reference=f"{reference}/{total}"
        )

    return retrying(store)


def expire_partials(now: dt.datetime | None = None) -> int:
    """Drop the parts of long MOs that never completed within part_ttl(); how many messages were dropped."""
    cutoff = (now or timezone.now()) - part_ttl()
    stale = list(InboundPartial.objects.filter(started_at__lt=cutoff).values_list("pk", "from_number", "to_number"))
    for _, sender, to in stale:
        log.warning("long inbound message from %s to %s never completed; its parts are dropped", sender, to)
    if stale:
        retrying(lambda: InboundPartial.objects.filter(pk__in=[pk for pk, _, _ in stale]).delete())
    return len(stale)
