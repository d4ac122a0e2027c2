"""The fixed two-customer world every test can use, and test-only plumbing."""

from __future__ import annotations

import copy
import os
import random
from typing import Any

import pytest

from kontor.core import rls
from kontor.core.triggers import flush_wrapper
from tests.world import World, build_world

_ORIGINALS: dict[type, object] = {}


def _sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
    # Transactional tests end with a flush; the append-only triggers would refuse it.
    original = _ORIGINALS[type(self)]
    postgresql = self.connection.vendor == "postgresql"
    if postgresql and tables and not reset_sequences and not allow_cascade:
        # DELETE, not Django's TRUNCATE: a TRUNCATE of every table makes new files for each of them
        # and their indexes, which took ~2 s per transactional test here, where the tables hold a few
        # rows and a DELETE of them all takes ~0.1 s. The foreign keys are deferred to the commit, so
        # the order does not matter; the bypass lets the DELETE see every customer's rows under
        # row-level security even where the owner is not a superuser.
        body = ["SELECT set_config('kontor.bypass', 'on', true)"]
        body += [f"DELETE FROM {self.quote_name(table)}" for table in sorted(tables)]
    else:
        body = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    before, after = flush_wrapper(self.connection.vendor, list(tables))
    if before and postgresql and rls.app_role_in_use():
        # Lifting the triggers needs the tables' owner.
        before, after = ["RESET ROLE", *before], [*after, f"SET ROLE {rls.APP_ROLE}"]
    return [*before, *body, *after]


def _patch_flush() -> None:
    from django.db import connections

    for conn in connections.all():
        ops_type = type(conn.ops)
        if ops_type not in _ORIGINALS:
            _ORIGINALS[ops_type] = ops_type.sql_flush
            ops_type.sql_flush = _sql_flush  # type: ignore[method-assign]


_patch_flush()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    # PostgreSQL with KONTOR_RLS: the test database was migrated as the owner (post_migrate put the
    # policies on); from here on the tests connect as the application role, like the web server, and
    # start from a bypass (set by rls.configure_process) that requests narrow to their customer.
    from django.conf import settings
    from django.db import connection

    if getattr(settings, "KONTOR_RLS", False) and connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            rls.setup()
            rls.use_app_role(True)
    yield
    _SHARED.close()
    if rls.app_role_in_use():
        with django_db_blocker.unblock():
            rls.use_app_role(False)  # dropping the test database needs its owner


def _transactional(item: pytest.Item) -> bool:
    """Whether pytest-django runs `item` with real commits (and a flush at its end), as it decides."""
    from pytest_django.fixtures import validate_django_db

    names = getattr(item, "fixturenames", ())
    if {"transactional_db", "live_server", "django_db_reset_sequences"} & set(names):
        return True
    marker = item.get_closest_marker("django_db")
    if marker is None:
        return False
    transaction, reset_sequences, *_ = validate_django_db(marker)
    return bool(transaction or reset_sequences)


def _wants_shared_world(item: pytest.Item) -> bool:
    return "world" in getattr(item, "fixturenames", ()) and not _transactional(item)


class _SharedWorld:
    """The world built once and reused, the way Django's TestCase.setUpTestData does it: built inside
    a transaction that stays open while the tests asking for the world run, each of them in its own
    savepoint inside it (pytest-django's per-test atomic nests), so whatever a test writes is rolled
    back and the next one finds the world as built. Each test gets its own deep copy of the Python
    instances, so a test changing one in memory cannot leak either.

    The transaction is rolled back before any other database test, so those still start from the
    migrated database alone, and before any transactional one, which must commit for real (and
    flushes at its end: nothing of this world is committed, so the flush cannot take it away). A
    world test after those builds it again."""

    def __init__(self) -> None:
        self.atomic: Any = None
        self.world: World | None = None
        self.blocker: Any = None  # pytest-django's django_db_blocker, which lets this reach the database
        self.builds = 0

    def holds(self) -> bool:
        """True while the world's transaction is the outermost one on the connection."""
        from django.db import connection

        return self.atomic is not None and connection.atomic_blocks[:1] == [self.atomic]

    def open(self, blocker: Any) -> None:
        if self.holds():
            return
        self.close()
        from django.db import transaction

        self.blocker = blocker

        atomic = transaction.atomic()
        # As TestCase marks its own: durable blocks and retry loops (core/retry.py) look through it.
        atomic._from_testcase = True
        atomic.__enter__()
        self.atomic = atomic
        try:
            self.world = build_world()
        except BaseException:
            self.close()
            raise
        self.builds += 1

    def close(self) -> None:
        if self.atomic is None:
            return
        from django.db import connection, transaction

        atomic, self.atomic, self.world = self.atomic, None, None
        if connection.atomic_blocks[:1] != [atomic]:
            return  # the connection was closed or reset under it: nothing left to roll back
        with self.blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


_SHARED = _SharedWorld()


def _test_order() -> tuple[str, int]:
    """KONTOR_TEST_ORDER=reverse or random[:seed] runs the tests in another order, to show that none
    depends on what ran before it (the world is then built again wherever a world test follows
    another); unset, the world's tests run first."""
    value = os.environ.get("KONTOR_TEST_ORDER", "")
    kind, _, seed = value.partition(":")
    if kind not in {"", "reverse", "random"}:
        raise pytest.UsageError(f"KONTOR_TEST_ORDER={value}: expected reverse, random or random:<seed>")
    return kind, int(seed) if seed else random.SystemRandom().randrange(1_000_000)


_ORDER = _test_order()


def pytest_report_header() -> str | None:
    kind, seed = _ORDER
    return f"KONTOR_TEST_ORDER={kind}:{seed}" if kind == "random" else (f"KONTOR_TEST_ORDER={kind}" if kind else None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-django sorts after this, stably, into plain, transactional and database-free tests; within
    # those, the order made here holds.
    kind, seed = _ORDER
    if kind == "reverse":
        items.reverse()
    elif kind == "random":
        random.Random(seed).shuffle(items)
    else:
        # The world's tests first, so it is built once per process.
        items.sort(key=lambda item: not _wants_shared_world(item))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture of a test that does not use the world: a session fixture such as live_server
    # must not start while the world's transaction is open (on SQLite's shared in-memory database, its
    # thread would find the tables locked).
    if not _wants_shared_world(item):
        _SHARED.close()


@pytest.fixture
def _shared_world(request, django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    if _wants_shared_world(request.node):
        with django_db_blocker.unblock():
            _SHARED.open(django_db_blocker)
    else:
        _SHARED.close()


@pytest.fixture
def _django_db_helper(_shared_world, _django_db_helper):  # type: ignore[no-untyped-def]
    # pytest-django's own fixture behind `db`, `transactional_db` and the django_db marker, which opens
    # (or, when transactional, does not open) the test's transaction: the world's transaction has to
    # be opened, or closed, before it.
    return _django_db_helper


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    if _SHARED.holds() and _SHARED.world is not None:
        return copy.deepcopy(_SHARED.world)
    # A transactional test (real commits), or one that asked for the world only at run time.
    return build_world()


@pytest.fixture
def second_master(world):  # type: ignore[no-untyped-def]
    """Another master user of Acme, for the rules that guard one master from another."""
    from kontor.access.services import create_user

    return create_user(
        world.acme.customer,
        actor=world.acme.master,
        first_name="Max",
        last_name="Master",
        email="max@acme.test",
        is_master=True,
        send_welcome=False,
    )


@pytest.fixture(autouse=True)
def _mail_to_memory(settings):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
