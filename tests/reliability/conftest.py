"""Reliability tests: the concurrent ones need a server database that several processes share."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

NEEDS_POSTGRES = (
    "needs PostgreSQL: concurrent processes must share one committed database (the SQLite test database "
    "is private to this process); run with DATABASE_URL=postgres://..."
)


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres_only") and not is_postgres():
        pytest.skip(NEEDS_POSTGRES)


@pytest.fixture
def procs() -> Iterator[Callable[..., Any]]:
    """Start forked processes; the parent closes its connections first so no child inherits a live
    session. Leftovers are killed at the end."""
    ctx = multiprocessing.get_context("fork")
    started: list[Any] = []

    def start(target: Callable[..., None], *args: Any, **kwargs: Any) -> Any:
        connections.close_all()
        proc = ctx.Process(target=target, args=args, kwargs=kwargs, daemon=True)
        proc.start()
        started.append(proc)
        return proc

    start.ctx = ctx  # type: ignore[attr-defined]
    yield start
    for proc in started:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
