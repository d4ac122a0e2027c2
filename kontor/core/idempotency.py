"""`Idempotency-Key` for POSTs that move credits or money: the same key and body return the first
response again; the same key with another body is refused (422); a request still in flight with that
key is refused (409). A record left in flight by a crashed worker is taken over after a grace period:
the operation itself is safe to repeat because its journal carries the key under a unique constraint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from kontor.core.errors import Conflict, ErrorCode, Invalid
from kontor.core.models import IdempotencyRecord

STALE_AFTER = timedelta(seconds=30)
KEEP_FOR = timedelta(hours=24)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def _claim(customer_id: int, key: str, fingerprint: str) -> IdempotencyRecord | HttpResponse:
    """The record this request now owns, or the stored response to replay."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(customer_id=customer_id, key=key, request_hash=fingerprint)
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(customer_id=customer_id, key=key)
        if record.request_hash != fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used with a different request body.",
                code=ErrorCode.IDEMPOTENCY_MISMATCH,
            )
        if record.state == IdempotencyRecord.State.DONE:
            response = HttpResponse(
                record.response_body, status=record.response_status or 200, content_type="application/json"
            )
            if (record.response_status or 200) >= 400:
                response["Content-Type"] = "application/problem+json"
            response["Idempotent-Replayed"] = "true"
            return response
        if timezone.now() - record.updated_at < STALE_AFTER:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code=ErrorCode.IDEMPOTENCY_IN_FLIGHT,
            )
        record.save(update_fields=["updated_at"])  # take over a record abandoned by a crashed worker
        return record


def run_idempotent(
    *, customer_id: int, key: str | None, method: str, path: str, body: bytes, work: Callable[[], HttpResponse]
) -> HttpResponse:
    if not key:
        return work()
    key = key.strip()
    if not key or len(key) > 100:
        raise Invalid.field("Idempotency-Key", "An Idempotency-Key must be 1 to 100 characters.")
    claimed = _claim(customer_id, key, request_fingerprint(method, path, body))
    if isinstance(claimed, HttpResponse):
        return claimed
    try:
        response = work()
    except BaseException:
        # Nothing was committed by the work (it is one transaction), so a retry may run it afresh.
        IdempotencyRecord.objects.filter(pk=claimed.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()
        raise
    if response.status_code < 500:
        IdempotencyRecord.objects.filter(pk=claimed.pk).update(
            state=IdempotencyRecord.State.DONE,
            response_status=response.status_code,
            response_body=response.content.decode(),
            updated_at=timezone.now(),
        )
    else:
        IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
    return response


def prune(now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
