"""Who and where a change comes from, for the audit log, whatever entered it (web, API, CLI, job)."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    source: str  # web, api, cli, job, system
    request_id: str
    ip: str | None = None


_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("kontor_origin", default=None)


def current_origin() -> Origin:
    origin = _origin.get()
    if origin is None:
        return Origin(source="system", request_id=uuid.uuid4().hex)
    return origin


@contextmanager
def origin(source: str, *, request_id: str | None = None, ip: str | None = None) -> Iterator[Origin]:
    value = Origin(source=source, request_id=request_id or uuid.uuid4().hex, ip=ip)
    token = _origin.set(value)
    try:
        yield value
    finally:
        _origin.reset(token)


def set_source(source: str) -> None:
    """Re-label the current origin, e.g. a request that turns out to be an API call."""
    current = current_origin()
    _origin.set(Origin(source=source, request_id=current.request_id, ip=current.ip))
