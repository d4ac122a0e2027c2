"""A per-process memo with a time to live, for what every request on a hot path would otherwise read
again: an API key's scope, the rate card, an account's sender number and wallet.

KONTOR_HOT_CACHE_SECONDS says how long a read is reused (default 2; 0 turns the memo off, as in
tests, where each test changes these between requests). It is the bound on how stale such a read
can be on another process: a revoked API key, a disabled user, a permission, role or membership taken
away, a changed rate or a new MO number takes effect on every server process within that time (the
process that made the change forgets at once, when it commits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction

T = TypeVar("T")
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_entries: dict[Hashable, tuple[float, Any]] = {}


def ttl() -> float:
    return float(getattr(settings, "KONTOR_HOT_CACHE_SECONDS", 0))


def memo(key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or what it gave for `key` less than ttl() seconds ago."""
    seconds = ttl()
    if seconds <= 0:
        return load()
    now = time.monotonic()
    found = _entries.get(key)
    if found is not None and found[0] > now:
        return found[1]  # type: ignore[no-any-return]
    value = load()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # crude, but bounded: a full memo simply starts over
        _entries[key] = (now + seconds, value)
    return value


def forget(prefix: str) -> None:
    """Drop every entry whose key is a tuple starting with `prefix` (after a change in this process)."""
    with _lock:
        for key in [k for k in _entries if isinstance(k, tuple) and k and k[0] == prefix]:
            del _entries[key]


def forget_on_commit(prefix: str) -> None:
    """forget(prefix) when the current transaction commits (at once outside one). Earlier would be too
    soon: a request of this process could memoise the old rows again before the change is visible."""
    transaction.on_commit(lambda: forget(prefix), robust=True)


def forget_key(key: Hashable) -> None:
    with _lock:
        _entries.pop(key, None)


def clear() -> None:
    with _lock:
        _entries.clear()
