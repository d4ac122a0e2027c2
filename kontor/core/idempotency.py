"""`Idempotency-Key` for POSTs that move credits or money: the same key and body return the first
response again; the same key with another body is refused (422); a request still in flight with that
key is refused (409). A record left in flight by a crashed worker is taken over after a grace period:
the operation itself is safe to repeat because its journal carries the key under a unique constraint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from kontor.core.errors import Conflict, DomainError, ErrorCode, Invalid
from kontor.core.models import IdempotencyRecord

STALE_AFTER = timedelta(minutes=5)  # longer than any payment provider's timeout
KEEP_FOR = timedelta(hours=24)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


@dataclass(frozen=True)
class Stored:
    """The answer a finished request with this key got."""

    status: int
    body: str

    def response(self) -> HttpResponse:
        content_type = "application/problem+json" if self.status >= 400 else "application/json"
        response = HttpResponse(self.body, status=self.status, content_type=content_type)
        response["Idempotent-Replayed"] = "true"
        return response


RESERVED_PREFIX = "sys:"  # keys Kontor uses itself (e.g. DLR refunds); clients cannot send them


def check_client_key(key: str | None) -> str | None:
    """A client's Idempotency-Key, checked: 1–100 characters, not in Kontor's own namespace."""
    if key is None or not key.strip():
        return None
    key = key.strip()
    if len(key) > 100:
        raise Invalid.field("Idempotency-Key", "An Idempotency-Key must be 1 to 100 characters.")
    if key.startswith(RESERVED_PREFIX):
        raise Invalid.field("Idempotency-Key", f"Keys starting with “{RESERVED_PREFIX}” are reserved.")
    return key


def claim(customer_id: int, key: str, fingerprint: str) -> IdempotencyRecord | Stored:
    """Own the key for this request (an in-flight record), or get the answer stored for it."""
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise Invalid.field("Idempotency-Key", "An Idempotency-Key must be 1 to 100 characters.")
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(customer_id=customer_id, key=key, request_hash=fingerprint)
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(customer_id=customer_id, key=key)
        if record.request_hash != fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used with a different request.",
                code=ErrorCode.IDEMPOTENCY_MISMATCH,
            )
        if record.state == IdempotencyRecord.State.DONE:
            return Stored(record.response_status or 200, record.response_body)
        if timezone.now() - record.updated_at < STALE_AFTER:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code=ErrorCode.IDEMPOTENCY_IN_FLIGHT,
            )
        record.save(update_fields=["updated_at"])  # take over a record abandoned by a crashed worker
        return record


def finish(record: IdempotencyRecord, status: int, body: str) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE, response_status=status, response_body=body, updated_at=timezone.now()
    )


def abandon(record: IdempotencyRecord) -> None:
    """Nothing was done under the key (the work rolled back), so a retry may do it afresh."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def stores(exc: DomainError) -> bool:
    """Refusals that a retry would meet again are kept as the key's answer; conflicts (in flight,
    insufficient credits right now) may clear, so they are not."""
    return exc.status != 409


def run_idempotent(
    *, customer_id: int, key: str | None, method: str, path: str, body: bytes, work: Callable[[], HttpResponse]
) -> HttpResponse:
    checked = check_client_key(key)
    if checked is None:
        return work()
    claimed = claim(customer_id, checked, request_fingerprint(method, path, body))
    if isinstance(claimed, Stored):
        return claimed.response()
    try:
        response = work()
    except DomainError as exc:
        if not stores(exc):
            abandon(claimed)
            raise
        stored = Stored(exc.status, json.dumps(exc.problem(), default=str))
        finish(claimed, stored.status, stored.body)
        return stored.response()
    except BaseException:
        abandon(claimed)
        raise
    if response.status_code < 500:
        finish(claimed, response.status_code, response.content.decode())
    else:
        abandon(claimed)
    return response


def prune(now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
