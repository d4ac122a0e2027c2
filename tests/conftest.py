"""The fixed two-customer world every test can use, and test-only plumbing."""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from kontor.core import rls
from kontor.core.triggers import flush_wrapper
from tests.world import World, build_numbers, build_world

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

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            # The tests commit thousands of times (the reliability tests above all) and never crash the
            # server, so waiting for each commit's WAL flush buys nothing here: visibility, locking and
            # atomicity are the same, only a server crash could lose the last commits. ~20% off the
            # commit-heavy tests on a busy machine. Every later connection (threads, forked workers,
            # the servers the tests start) gets it from the database.
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit TO off")
            cursor.execute("SET synchronous_commit TO off")
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


# The data built once and shared, bottom up: each layer is built on copies of the ones below it. A
# test gets the layers named by its fixtures, as long as they form a prefix of this list.
LAYERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "world": lambda below: build_world(),
    "nums": lambda below: build_numbers(below["world"]),
}


def _wanted_layers(item: pytest.Item) -> tuple[str, ...]:
    if _transactional(item):
        return ()  # its data must be committed, so it builds its own
    names = set(getattr(item, "fixturenames", ()))
    wanted: list[str] = []
    for layer in LAYERS:
        if layer not in names:
            break
        wanted.append(layer)
    return tuple(wanted)


class _Shared:
    """The world built once and reused, the way Django's TestCase.setUpTestData does it: built inside
    a transaction that stays open while the tests asking for the world run, each of them in its own
    savepoint inside it (pytest-django's per-test atomic nests), so whatever a test writes is rolled
    back and the next one finds the world as built. Each test gets its own deep copy of the Python
    instances, so a test changing one in memory cannot leak either. Further layers (the numbers) sit
    in savepoints of their own above it, rolled back when a test wants fewer.

    The transaction is rolled back before any other database test, so those still start from the
    migrated database alone, and before any transactional one, which must commit for real (and
    flushes at its end: nothing of this is committed, so the flush cannot take it away). A world test
    after those builds it again."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, Any, Any]] = []  # (layer, its atomic block, what it built)
        self.memo: dict[int, Any] = {}  # the current test's deep copies, shared by its layers
        self.blocker: Any = None  # pytest-django's django_db_blocker, which lets this reach the database

    def holds(self) -> bool:
        """True while the layers' blocks are the outermost ones on the connection."""
        from django.db import connection

        blocks = [atomic for _, atomic, _ in self.stack]
        return bool(blocks) and connection.atomic_blocks[: len(blocks)] == blocks

    def enter(self, wanted: tuple[str, ...], blocker: Any) -> None:
        """Make the connection hold exactly the layers `wanted`; called before the test's own block."""
        from django.db import transaction

        self.blocker = blocker
        if self.stack and not self.holds():
            self.close()
        kept = 0
        while kept < min(len(wanted), len(self.stack)) and self.stack[kept][0] == wanted[kept]:
            kept += 1
        self._pop(to=kept)
        for layer in wanted[kept:]:
            below = copy.deepcopy({name: value for name, _, value in self.stack})
            atomic = transaction.atomic()
            # As TestCase marks its own: durable blocks and retry loops (core/retry.py) look through it.
            atomic._from_testcase = True
            atomic.__enter__()
            self.stack.append((layer, atomic, None))
            try:
                self.stack[-1] = (layer, atomic, LAYERS[layer](below))
            except BaseException:
                self._pop(to=len(self.stack) - 1)
                raise
        self.memo = {}

    def copy_of(self, layer: str) -> Any:
        """This test's copy of what `layer` built, or None when it is not held."""
        if not self.holds():
            return None
        for name, _, value in self.stack:
            if name == layer:
                return copy.deepcopy(value, self.memo)
        return None

    def _pop(self, *, to: int) -> None:
        from django.db import transaction

        with self.blocker.unblock():
            while len(self.stack) > to:
                _, atomic, _ = self.stack.pop()
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)

    def close(self) -> None:
        if not self.stack:
            return
        if not self.holds():
            self.stack = []  # the connection was closed or reset under it: nothing left to roll back
            return
        self._pop(to=0)


_SHARED = _Shared()


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
        # The world's tests first, then those that also want the numbers, so each is built once per
        # process.
        items.sort(key=lambda item: (not _wanted_layers(item), len(_wanted_layers(item))))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture of a test that does not use the world: a session fixture such as live_server
    # must not start while the world's transaction is open (on SQLite's shared in-memory database, its
    # thread would find the tables locked).
    if not _wanted_layers(item):
        _SHARED.close()


@pytest.fixture
def _shared_world(request, django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    wanted = _wanted_layers(request.node)
    if wanted:
        with django_db_blocker.unblock():
            _SHARED.enter(wanted, django_db_blocker)
    else:
        _SHARED.close()


@pytest.fixture
def _django_db_helper(_shared_world, _django_db_helper):  # type: ignore[no-untyped-def]
    # pytest-django's own fixture behind `db`, `transactional_db` and the django_db marker, which opens
    # (or, when transactional, does not open) the test's transaction: the world's transaction has to
    # be opened, or closed, before it.
    return _django_db_helper


@pytest.fixture
def shared_layer(db) -> Callable[[str], Any]:  # type: ignore[no-untyped-def]
    """`shared_layer(name)`: this test's copy of a shared layer, None if the test must build its own
    (a transactional test, or one that asked for the fixture only at run time)."""
    return _SHARED.copy_of


@pytest.fixture
def world(shared_layer) -> World:  # type: ignore[no-untyped-def]
    shared = shared_layer("world")
    return shared if shared is not None else build_world()


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
