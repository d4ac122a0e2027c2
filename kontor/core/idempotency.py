"""`Idempotency-Key` for POSTs that move credits or money: the same key and body return the first
response again; the same key with another body is refused (422 `idempotency_key_reused`).

Work that only touches our database (transfers, batches, sends, campaigns) claims the key, does the
work and stores its answer in ONE transaction (`run_idempotent`). A concurrent duplicate blocks on the
key's unique index until the first commits, then replays its answer (or, if the first rolled back,
does the work itself); a process killed anywhere before the commit leaves neither the effect nor the
claim behind, and one killed after it leaves both, so a retry replays and never re-executes. No
"in flight" record is ever visible for such work.

Only an outside side effect that no transaction can roll back (a card charge: `purchase` in
ledger/services.py, and `run_idempotent(..., external=True)` around it) keeps the older protocol: an
in-flight record committed before the charge, a 409 `idempotency_key_in_flight` for a duplicate while
it runs, and a takeover after STALE_AFTER if its process died (safe because the journal carries the key
under a unique constraint)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from kontor.core.errors import Conflict, DomainError, ErrorCode, Invalid
from kontor.core.models import IdempotencyRecord
from kontor.core.problems import PROBLEM_JSON
from kontor.core.retry import retrying

STALE_AFTER = timedelta(minutes=5)  # longer than any payment provider's timeout
KEEP_FOR = timedelta(hours=24)


# --- keys of confirmation pages -------------------------------------------------------------------
# A confirmation page (a purchase, a transfer, a send) carries a key made when it is shown, so submitting
# it twice does the work once.

_PAGE_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def new_idempotency_key() -> str:
    """A key for one confirmation page: submitting that page twice does the work once."""
    return "web-" + secrets.token_hex(16)


def clean_key(value: Any) -> str | None:
    """The key a page sent back, or None when it is missing or not one of ours."""
    text = str(value or "").strip()
    return text if _PAGE_KEY.match(text) else None


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
        content_type = PROBLEM_JSON if self.status >= 400 else "application/json"
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


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise Invalid.field("Idempotency-Key", "An Idempotency-Key must be 1 to 100 characters.")
    return key


def _mismatch() -> Invalid:
    return Invalid(
        "This Idempotency-Key was already used with a different request.", code=ErrorCode.IDEMPOTENCY_MISMATCH
    )


def _in_flight() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        code=ErrorCode.IDEMPOTENCY_IN_FLIGHT,
    )


def claim(customer_id: int, key: str, fingerprint: str) -> IdempotencyRecord | Stored:
    """For an outside side effect (a card charge): own the key with an in-flight record committed at
    once, or get the answer stored for it. Call outside any transaction and `finish` in the one that
    writes the effect."""
    key = _check_key(key)
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(customer_id=customer_id, key=key, request_hash=fingerprint)
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(customer_id=customer_id, key=key)
        if record.request_hash != fingerprint:
            raise _mismatch()
        if record.state == IdempotencyRecord.State.DONE:
            return Stored(record.response_status or 200, record.response_body)
        if timezone.now() - record.updated_at < STALE_AFTER:
            raise _in_flight()
        record.save(update_fields=["updated_at"])  # take over a record abandoned by a crashed worker
        return record


def claim_in_transaction(customer_id: int, key: str, fingerprint: str) -> IdempotencyRecord | Stored:
    """Inside the transaction that does the work: own the key until this transaction ends, or get the
    answer a committed request stored for it. The INSERT makes a concurrent duplicate wait on the unique
    index until this transaction commits (it then replays) or rolls back (it then does the work)."""
    key = _check_key(key)
    for _ in range(3):  # the row may vanish between the INSERT that met it and the read (prune, abandon)
        try:
            with transaction.atomic():  # a savepoint: meeting the key must leave the transaction usable
                return IdempotencyRecord.objects.create(customer_id=customer_id, key=key, request_hash=fingerprint)
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(customer_id=customer_id, key=key).first()
        if record is None:
            continue
        if record.request_hash != fingerprint:
            raise _mismatch()
        if record.state == IdempotencyRecord.State.DONE:
            return Stored(record.response_status or 200, record.response_body)
        # In flight: a card purchase under this key is running (or a record from before answers were
        # stored with their effect, abandoned by a crash: taken over as `claim` does).
        if timezone.now() - record.updated_at < STALE_AFTER:
            raise _in_flight()
        IdempotencyRecord.objects.filter(pk=record.pk).update(updated_at=timezone.now())
        return record
    raise _in_flight()


def finish(record: IdempotencyRecord, status: int, body: str) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE, response_status=status, response_body=body, updated_at=timezone.now()
    )


def abandon(record: IdempotencyRecord) -> None:
    """Nothing was done under the key (the work rolled back), so a retry may do it afresh."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def stores(exc: DomainError) -> bool:
    """Refusals that a retry would meet again are kept as the key's answer; conflicts (in flight,
    insufficient credits right now) and a busy database may clear, so they are not."""
    return exc.status != 409 and exc.status < 500


def _refusal(exc: DomainError) -> Stored:
    return Stored(exc.status, json.dumps(exc.problem(), default=str))


def _first(stored: Stored) -> HttpResponse:
    """The answer as the first request gets it (a replay adds Idempotent-Replayed)."""
    response = stored.response()
    del response["Idempotent-Replayed"]
    return response


class _Undo(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def run_idempotent(
    *,
    customer_id: int,
    key: str | None,
    method: str,
    path: str,
    body: bytes,
    work: Callable[[], HttpResponse],
    external: bool = False,
) -> HttpResponse:
    """Answer a write at most once per key, retrying the whole transaction on a deadlock or
    serialization failure (kontor.core.retry; exhausted: 503 `busy`).

    Without a key, `work` runs as it is (it opens its own transactions; single sends keep the group
    commit). With one, the claim, `work` and the stored answer are one transaction, so `work` must only
    write to this database; `external=True` (a card charge) keeps the in-flight protocol instead."""
    checked = check_client_key(key)
    if external:
        # Never rerun a card charge: the work retries its own database transaction after the charge.
        return (
            work()
            if checked is None
            else _run_external(customer_id, checked, request_fingerprint(method, path, body), work)
        )
    if checked is None:
        return retrying(work, atomic=False)
    fingerprint = request_fingerprint(method, path, body)
    try:
        return retrying(lambda: _run_in_transaction(customer_id, checked, fingerprint, work))
    except _Undo as undo:
        return undo.response


def _run_in_transaction(customer_id: int, key: str, fingerprint: str, work: Callable[[], HttpResponse]) -> HttpResponse:
    claimed = claim_in_transaction(customer_id, key, fingerprint)
    if isinstance(claimed, Stored):
        return claimed.response()
    try:
        with transaction.atomic():  # a savepoint: a refusal undoes the work but keeps the claim for its answer
            response = work()
    except DomainError as exc:
        if not stores(exc):
            raise  # the claim rolls back with everything else: a retry may try again
        stored = _refusal(exc)
        finish(claimed, stored.status, stored.body)
        return _first(stored)
    if response.status_code >= 500:
        raise _Undo(response)  # roll back the work and the claim, answer as the work did
    finish(claimed, response.status_code, response.content.decode())
    return response


def _run_external(customer_id: int, key: str, fingerprint: str, work: Callable[[], HttpResponse]) -> HttpResponse:
    claimed = claim(customer_id, key, fingerprint)
    if isinstance(claimed, Stored):
        return claimed.response()
    try:
        response = work()
    except DomainError as exc:
        if not stores(exc):
            abandon(claimed)
            raise
        stored = _refusal(exc)
        finish(claimed, stored.status, stored.body)
        return _first(stored)
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
