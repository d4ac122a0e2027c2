"""The fixed two-customer world every test can use, and test-only plumbing."""

from __future__ import annotations

import pytest

from kontor.core.triggers import flush_wrapper
from tests.world import World, build_world

_ORIGINALS: dict[type, object] = {}


def _sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
    # Transactional tests end with a flush; the append-only triggers would refuse it.
    original = _ORIGINALS[type(self)]
    body = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    before, after = flush_wrapper(self.connection.vendor, list(tables))
    return [*before, *body, *after]


def _patch_flush() -> None:
    from django.db import connections

    for conn in connections.all():
        ops_type = type(conn.ops)
        if ops_type not in _ORIGINALS:
            _ORIGINALS[ops_type] = ops_type.sql_flush
            ops_type.sql_flush = _sql_flush  # type: ignore[method-assign]


_patch_flush()


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    return build_world()


@pytest.fixture(autouse=True)
def _mail_to_memory(settings):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
