"""Rerun a whole transaction when the database says "try again".

PostgreSQL may abort a transaction with a deadlock (SQLSTATE 40P01) or, under REPEATABLE READ and
SERIALIZABLE, a serialization failure (40001); SQLite answers "database is locked" when another
connection holds the write lock past the busy timeout. In all three cases nothing was written and the
same work, run again from the start, usually succeeds. Only the *whole* transaction can be retried:
after such an error PostgreSQL refuses every further statement until the transaction rolls back, so
`retrying` must wrap the outermost `transaction.atomic()` and nothing that already ran outside it may
be repeated by the retry (mail and tasks belong in `transaction.on_commit`, which a rollback drops).

Use it as a function or a decorator:

    from kontor.core.retry import retrying, retried

    result = retrying(lambda: do_transfer(..., actor=user))         # runs in its own transaction

    @retried()                                                        # the body is the transaction
    def sweep_once() -> int: ...

`retrying(fn)` opens the transaction itself (`atomic=False` if `fn` opens its own outermost one).
When it is called inside a transaction that is not its own, it cannot retry (the outer transaction is
already lost); it runs `fn` once and lets the error reach the outermost `retrying`. After the last
attempt it raises `Busy`, a `DomainError` with status 503 and code `busy`, which the API answers as
problem+json with `Retry-After` and a background task may simply let fail to be run again later.
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from kontor.core.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
RETRY_AFTER_SECONDS = 1


class Busy(DomainError):
    """The database kept refusing the transaction (deadlocks, serialization failures, a locked SQLite
    file) for every attempt. Nothing was written; the client may retry after `retry_after` seconds."""

    status = 503
    code = ErrorCode.BUSY
    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, message: str = "The service is busy; nothing was changed. Retry in a moment.") -> None:
        super().__init__(message)


def is_retryable(exc: BaseException) -> bool:
    """A deadlock, a serialization failure or a locked SQLite database, anywhere in the exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(current, DatabaseError | sqlite3.Error) and "database is locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _owns_transaction(using: str) -> bool:
    """True when no transaction is open on `using` apart from a test case's wrapping one, so a retry
    starts the real work again from scratch."""
    conn = connections[using]
    if not conn.in_atomic_block:
        return True
    return all(getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)


def backoff(attempt: int, *, base: float = 0.01, cap: float = 0.5) -> float:
    """Full jitter: a random pause up to base·2^attempt, so the transactions that collided spread out."""
    return random.uniform(0, min(cap, base * (2**attempt)))  # jitter, not security


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    atomic: bool = True,
    using: str = DEFAULT_DB_ALIAS,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Run `fn` in one transaction (its own when `atomic`), rerunning all of it on a retryable database
    error up to `attempts` times with jittered backoff; then raise `Busy`. Any other error propagates
    at once. Inside someone else's transaction it runs `fn` once: the outermost caller retries."""
    if not _owns_transaction(using):
        if atomic:
            with transaction.atomic(using=using):
                return fn()
        return fn()
    for attempt in range(attempts):
        try:
            if atomic:
                with transaction.atomic(using=using):
                    return fn()
            return fn()
        except Exception as exc:
            if not is_retryable(exc):
                raise
            if attempt + 1 >= attempts:
                log.warning("transaction still refused after %d attempts: %s", attempts, exc)
                raise Busy() from exc
            log.info("retrying transaction (attempt %d of %d): %s", attempt + 2, attempts, exc)
            sleep(backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def retried(
    *, attempts: int = 5, atomic: bool = True, using: str = DEFAULT_DB_ALIAS
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of `retrying`: every call of the function is one retried transaction."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return retrying(lambda: fn(*args, **kwargs), attempts=attempts, atomic=atomic, using=using)

        return wrapper

    return decorate
