"""The fixed two-customer world every test can use, and test-only plumbing."""

from __future__ import annotations

import pytest

from kontor.core import rls
from kontor.core.triggers import flush_wrapper
from tests.world import World, build_world

_ORIGINALS: dict[type, object] = {}


def _sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
    # Transactional tests end with a flush; the append-only triggers would refuse it.
    original = _ORIGINALS[type(self)]
    body = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    before, after = flush_wrapper(self.connection.vendor, list(tables))
    if before and self.connection.vendor == "postgresql" and rls.app_role_in_use():
        # Lifting the triggers needs the tables' owner; the application role only may TRUNCATE.
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
    if rls.app_role_in_use():
        with django_db_blocker.unblock():
            rls.use_app_role(False)  # dropping the test database needs its owner


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
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
